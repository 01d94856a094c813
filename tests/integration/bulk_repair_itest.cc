// Bulk repairs through sagactl, end to end (the real orchestrator, the
// booking participants, PostgreSQL): 30 sagas end FAILED (their rollback
// gives up), the participant is fixed, then `sagactl retry --status FAILED
// --yes -o json` repairs a business key's sagas and reports each one; a
// second bulk run is interrupted with SIGINT part way (the orchestrator held
// with SIGSTOP while the one call in flight waits, so the interruption
// lands mid-run on any machine), stops after that call and exits 130; the
// same command again does exactly the rest. Every saga is retried once.
// Four sagactl runs after the cluster's start.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

constexpr char kKeyed[] = "keyed_booking";
constexpr int kSagas = 30;

// saga id -> its JSON result line, from a run's output (stdout and stderr:
// only the results are JSON objects); fails the test on a repeated id.
std::map<std::string, nlohmann::json> Results(const std::string& output) {
  std::map<std::string, nlohmann::json> results;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    nlohmann::json result = nlohmann::json::parse(line);
    EXPECT_EQ(result.size(), 4u) << line;
    const std::string id = result["saga_id"];
    EXPECT_TRUE(results.emplace(id, std::move(result)).second) << line;
  }
  return results;
}

std::set<std::string> WithOutcome(
    const std::map<std::string, nlohmann::json>& results,
    const std::string& outcome) {
  std::set<std::string> ids;
  for (const auto& [id, result] : results) {
    if (result["outcome"] == outcome) ids.insert(id);
  }
  return ids;
}

class BulkRepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.definitions_dir = TestDefinitionDir("keyed");
    // Every email fails (so every booking rolls back) and so does every
    // release of a reservation (so the rollback gives up: FAILED).
    options.participant_flags["email"] = {"--fail-rate", "send_notification=1"};
    options.participant_flags["doctor"] = {"--fail-rate",
                                           "release_reservation=1"};
    // Without breakers the failing calls do not park: sagas fail at once.
    options.orchestrator_flags = {"--circuit-breaker=false"};
    cluster_ = std::make_unique<TestCluster>(options);
    ASSERT_TRUE(cluster_->Start());
  }

  std::vector<std::string> SagactlArgv(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        BinaryPath("sagactl"), "--address",
        "127.0.0.1:" + std::to_string(cluster_->orchestrator_port())};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::string NextLog() {
    return cluster_->log_dir() + "/sagactl-" + std::to_string(++runs_) + ".out";
  }

  // Runs sagactl to its end: exit code and output (stdout, then stderr).
  std::pair<int, std::string> Sagactl(const std::vector<std::string>& args) {
    const std::string log = NextLog();
    ChildProcess process(SagactlArgv(args), {"SAGACTL_OPERATOR=ann"}, log);
    const int status = process.Wait();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(log)};
  }

  // How many sagas are in `status` (CountSagas).
  int64_t CountIn(v1::SagaStatus status) {
    v1::CountSagasRequest request;
    request.set_status(status);
    v1::CountSagasResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    const grpc::Status called =
        cluster_->Stub().CountSagas(&context, request, &response);
    EXPECT_TRUE(called.ok()) << called.error_message();
    return response.total();
  }

  std::unique_ptr<TestCluster> cluster_;
  int runs_ = 0;
};

TEST_F(BulkRepairTest, RetriesEveryFailedSagaOnceAcrossAnInterruptedRun) {
  std::vector<std::string> ids;
  for (int i = 0; i < kSagas; ++i) {
    ids.push_back(cluster_->StartSaga(kKeyed, AcceptedBookingInput(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  ASSERT_TRUE(
      PollUntil([&] { return CountIn(v1::SAGA_STATUS_FAILED) == kSagas; },
                std::chrono::seconds(20)))
      << CountIn(v1::SAGA_STATUS_FAILED) << " of " << kSagas << " FAILED";
  // The doctor service is fixed: a retried rollback now ends COMPENSATED.
  ASSERT_TRUE(cluster_->RestartParticipant("doctor", {}));

  // A script without --yes is refused before any call.
  const auto [refused_code, refused] =
      Sagactl({"retry", "--status", "FAILED", "--reason", "x"});
  EXPECT_EQ(refused_code, 2) << refused;
  EXPECT_NE(refused.find("pass --yes"), std::string::npos) << refused;

  // One patient's sagas first.
  const std::string key = cluster_->GetSaga(ids[0]).business_key();
  ASSERT_FALSE(key.empty());
  std::set<std::string> keyed;
  for (const std::string& id : ids) {
    if (cluster_->GetSaga(id).business_key() == key) keyed.insert(id);
  }
  const auto [first_code, first] =
      Sagactl({"retry", "--status", "FAILED", "--business-key", key, "--reason",
               "doctor service fixed", "--yes", "-o", "json"});
  ASSERT_EQ(first_code, 0) << first;
  const auto first_results = Results(first);
  EXPECT_EQ(WithOutcome(first_results, "done"), keyed) << first;
  for (const auto& [id, result] : first_results) {
    EXPECT_EQ(result["code"], "OK") << result;
    EXPECT_EQ(result["error"], "") << result;
  }

  // The rest, one call at a time, interrupted once a few are done: the
  // orchestrator is held (SIGSTOP) so the call in flight waits while
  // sagactl gets SIGINT.
  const std::vector<std::string> rest_args = {
      "retry", "--status", "FAILED", "--reason",   "doctor service fixed",
      "--yes", "-o",       "json",   "--parallel", "1"};
  const int64_t failed_before = CountIn(v1::SAGA_STATUS_FAILED);
  ASSERT_EQ(failed_before, kSagas - static_cast<int64_t>(keyed.size()));
  const std::string log = NextLog();
  ChildProcess second(SagactlArgv(rest_args), {"SAGACTL_OPERATOR=ann"}, log);
  ASSERT_TRUE(PollUntil(
      [&] { return CountIn(v1::SAGA_STATUS_FAILED) <= failed_before - 3; },
      std::chrono::seconds(10)));
  cluster_->SignalOrchestrator(SIGSTOP);
  second.Signal(SIGINT);
  // sagactl has taken the signal before its call is answered.
  const bool stopping = PollUntil(
      [&] {
        return ReadFile(log).find("starting no more") != std::string::npos;
      },
      std::chrono::seconds(10));
  cluster_->SignalOrchestrator(SIGCONT);
  ASSERT_TRUE(stopping) << ReadFile(log);
  const int second_status = second.Wait();
  const std::string second_output = ReadFile(log);
  ASSERT_TRUE(WIFEXITED(second_status)) << second_output;
  EXPECT_EQ(WEXITSTATUS(second_status), 130) << second_output;
  const auto second_results = Results(second_output);
  EXPECT_EQ(second_results.size(), static_cast<size_t>(failed_before));
  const std::set<std::string> done = WithOutcome(second_results, "done");
  const std::set<std::string> left =
      WithOutcome(second_results, "not_attempted");
  EXPECT_GE(done.size(), 3u) << second_output;
  EXPECT_FALSE(left.empty()) << second_output;
  EXPECT_EQ(done.size() + left.size(), second_results.size())
      << second_output;  // nothing failed
  EXPECT_NE(second_output.find("interrupted"), std::string::npos)
      << second_output;

  // The same command again: exactly the sagas not attempted.
  const auto [third_code, third] = Sagactl(rest_args);
  ASSERT_EQ(third_code, 0) << third;
  EXPECT_EQ(WithOutcome(Results(third), "done"), left) << third;
  EXPECT_EQ(Results(third).size(), left.size()) << third;

  // Every saga was retried exactly once and ends COMPENSATED.
  for (const std::string& id : ids) {
    const v1::Saga saga = cluster_->AwaitTerminal(id, std::chrono::seconds(10));
    EXPECT_EQ(saga.status(), v1::SAGA_STATUS_COMPENSATED) << DescribeSaga(saga);
    int retries = 0;
    for (const v1::SagaEvent& event : cluster_->History(id)) {
      if (event.type() == "OperatorAction") ++retries;
    }
    EXPECT_EQ(retries, 1) << id;
  }
}

}  // namespace
}  // namespace saga::testing
