// Asynchronous completion end to end: saga-orchestrator and saga-payment
// (which answers ACCEPTED and reports the charge later with CompleteStep)
// on PostgreSQL. The provider holds its charges until the test lets them
// settle, so the step is known to be waiting when the orchestrator dies.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/participant.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ClusterOptions CheckoutCluster() {
  ClusterOptions options;
  options.participants = {PaymentParticipant()};
  // Charges do not settle until the test restarts the provider.
  options.participant_flags = {{"payment", {"--settle-after-ms", "600000"}}};
  options.definitions_dir = TestDefinitionDir("checkout");
  return options;
}

// The saga once its charge step waits for its completion.
v1::Saga AwaitAccepted(TestCluster& cluster, const std::string& saga_id) {
  v1::Saga saga;
  if (!PollUntil(
          [&] {
            saga = cluster.GetSaga(saga_id);
            return saga.steps_size() > 0 &&
                   saga.steps(0).completion_due_unix_ms() > 0;
          },
          seconds(10))) {
    ADD_FAILURE() << "the charge was never accepted: " << DescribeSaga(saga);
  }
  return saga;
}

// The completion token the provider holds for the saga's charge.
std::string TokenOf(TestCluster& cluster, const std::string& saga_id) {
  pqxx::connection connection(cluster.database("payment").dsn());
  pqxx::nontransaction tx(connection);
  pqxx::result rows = tx.exec_params(
      "SELECT completion_token FROM charges WHERE saga_id = $1", saga_id);
  return rows.size() == 1 ? rows[0][0].as<std::string>() : "";
}

grpc::StatusCode Complete(TestCluster& cluster, const std::string& saga_id,
                          const std::string& token) {
  v1::CompleteStepRequest request;
  request.set_saga_id(saga_id);
  request.set_step("charge");
  request.set_completion_token(token);
  request.mutable_result()->set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
  request.mutable_result()->set_output_json(R"({"charge_id":"forged"})");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(10));
  v1::CompleteStepResponse response;
  return cluster.Stub().CompleteStep(&context, request, &response).error_code();
}

TEST(AsyncCompletionItest,
     CompletesThroughCompleteStepAcrossAnOrchestratorCrash) {
  TestCluster cluster(CheckoutCluster());
  ASSERT_TRUE(cluster.Start());
  const std::string id = cluster.StartSaga(
      "checkout", R"({"customer_id":"c-1","amount_cents":2500})");
  ASSERT_FALSE(id.empty());

  const v1::Saga waiting = AwaitAccepted(cluster, id);
  ASSERT_EQ(waiting.steps(0).status(), v1::STEP_STATUS_RUNNING);
  // The wait is bounded by the step's timeout (1h), not its call's (2s).
  EXPECT_GT(waiting.steps(0).completion_due_unix_ms(),
            waiting.steps(0).started_unix_ms() + 3599 * 1000);
  const std::vector<std::string> accepted = cluster.HistoryTypes(id);
  ASSERT_FALSE(accepted.empty());
  EXPECT_EQ(accepted.back(), "StepAccepted");
  const std::string token = TokenOf(cluster, id);
  ASSERT_EQ(token.size(), 32u);

  // A wrong token completes nothing.
  EXPECT_EQ(Complete(cluster, id, std::string(32, '0')),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(cluster.HistoryTypes(id), accepted);

  // The orchestrator dies while the step waits; meanwhile the provider
  // settles the charge and keeps reporting it until the orchestrator is
  // back, which resumes the wait (no new attempt) and takes the result.
  cluster.KillOrchestrator(SIGKILL);
  ASSERT_TRUE(
      cluster.RestartParticipant("payment", {"--settle-after-ms", "0"}));
  ASSERT_TRUE(cluster.StartOrchestrator());
  const v1::Saga done = cluster.AwaitTerminal(id, seconds(10));
  ASSERT_EQ(done.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(done);
  EXPECT_EQ(done.steps(0).attempts(), 1);
  EXPECT_NE(done.steps(0).output_json().find("\"settled\""), std::string::npos)
      << done.steps(0).output_json();
  EXPECT_EQ(done.steps(0).completion_due_unix_ms(), 0);
  // The provider marks the charge reported once the orchestrator's answer
  // reaches it, which may come after the saga ended.
  EXPECT_TRUE(PollUntil(
      [&] {
        return cluster.QueryInt(
                   "payment",
                   "SELECT count(*) FROM charges WHERE saga_id = $1 "
                   "AND status = 'settled' AND reported",
                   id) == 1;
      },
      seconds(10)));

  // The spent token is refused and changes nothing.
  const std::vector<std::string> completed = cluster.HistoryTypes(id);
  EXPECT_EQ(completed.back(), "SagaCompleted");
  EXPECT_EQ(Complete(cluster, id, token),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(cluster.HistoryTypes(id), completed);

  // The token is never shown: not in the history, not in the log.
  for (const v1::SagaEvent& event : cluster.History(id)) {
    EXPECT_EQ(event.data_json().find(token), std::string::npos)
        << event.type() << " " << event.data_json();
  }
  EXPECT_EQ(cluster.OrchestratorLog().find(token), std::string::npos);
}

// The participant's side of the protocol: a repeated Execute with the key
// answers ACCEPTED again and leaves the charge holding the latest token,
// the one its result is reported with.
TEST(AsyncCompletionItest, ARepeatedChargeTakesTheNewToken) {
  TestCluster cluster(CheckoutCluster());
  ASSERT_TRUE(cluster.Start());
  auto participant = v1::Participant::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(cluster.participant_port("payment")),
      grpc::InsecureChannelCredentials()));
  auto charge = [&](const std::string& token) {
    v1::StepRequest request;
    request.set_saga_id("s-1");
    request.set_step("charge");
    request.set_action("charge");
    request.set_idempotency_key("s-1/charge/execute");
    request.set_attempt(token == "token-a" ? 1 : 2);
    request.set_input_json(R"({"customer_id":"c-1","amount_cents":700})");
    request.set_completion_token(token);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::StepResult result;
    const grpc::Status status =
        participant->Execute(&context, request, &result);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return result.outcome();
  };
  EXPECT_EQ(charge("token-a"), v1::STEP_OUTCOME_ACCEPTED);
  EXPECT_EQ(charge("token-b"), v1::STEP_OUTCOME_ACCEPTED);
  EXPECT_EQ(cluster.QueryInt("payment",
                             "SELECT count(*) FROM charges WHERE saga_id = $1 "
                             "AND completion_token = 'token-b' AND status = "
                             "'pending'",
                             "s-1"),
            1);
  EXPECT_EQ(
      cluster.QueryInt(
          "payment", "SELECT count(*) FROM charges WHERE saga_id = $1", "s-1"),
      1);
  EXPECT_EQ(cluster.QueryInt("payment",
                             "SELECT count(*) FROM idempotency_keys "
                             "WHERE saga_id = $1 AND outcome = 'accepted'",
                             "s-1"),
            1);
}

}  // namespace
}  // namespace saga::testing
