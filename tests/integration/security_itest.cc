// Transport security, bearer tokens and configuration on a real deployment
// (TestCluster: PostgreSQL, the orchestrator and the three participants as
// processes; certificates made with openssl by TestCertificates):
//   - a TLS run: a booking completes over TLS everywhere, plaintext clients
//     and clients that do not trust the CA are refused, sagactl talks TLS;
//   - a mutual-TLS run: servers refuse clients without a trusted
//     certificate, the orchestrator with its client certificate gets
//     through;
//   - bearer tokens: every RPC with no token, a bad token, a submitter's
//     and an operator's, allowed or refused as the role table says, with
//     nothing written on refusal and nothing secret in the log;
//   - configuration: unknown keys, precedence, --print-config masking.
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/participant.grpc.pb.h"
#include "security/tokens.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;
using grpc::StatusCode;

constexpr char kBooking[] = "appointment_booking";
// Its test copy (tests/integration/sagas): short backoffs.
constexpr char kTestBooking[] = "appointment_booking_fast";
constexpr auto kSagaTimeout = 60s;
constexpr auto kCallTimeout = 10s;

std::string Address(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string WriteFile(const std::string& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca,
                                              const std::string& cert = "",
                                              const std::string& key = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(ca);
  if (!cert.empty()) {
    options.pem_cert_chain = ReadFile(cert);
    options.pem_private_key = ReadFile(key);
  }
  return grpc::SslCredentials(options);
}

// GetSaga on the orchestrator at `port` through a fresh channel.
grpc::Status GetSagaOver(int port,
                         std::shared_ptr<grpc::ChannelCredentials> credentials,
                         const std::string& saga_id) {
  auto stub = v1::SagaOrchestrator::NewStub(
      grpc::CreateChannel(Address(port), credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  v1::GetSagaRequest request;
  request.set_saga_id(saga_id);
  v1::GetSagaResponse response;
  return stub->GetSaga(&context, request, &response);
}

// A read-only Execute (validate_patient) on the participant at `port`
// through a fresh channel.
grpc::Status ValidatePatientOver(
    int port, std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& key) {
  auto stub =
      v1::Participant::NewStub(grpc::CreateChannel(Address(port), credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  v1::StepRequest request;
  request.set_saga_id("tls-probe");
  request.set_step("validate_patient");
  request.set_action("validate_patient");
  request.set_idempotency_key(key);
  request.set_attempt(1);
  request.set_input_json(R"({"patient_id":"p-1001"})");
  v1::StepResult result;
  return stub->Execute(&context, request, &result);
}

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a built binary to completion.
Outcome RunBinary(const std::string& binary,
                  const std::vector<std::string>& args,
                  const std::vector<std::string>& env, const std::string& dir) {
  static int runs = 0;
  const std::string log =
      dir + "/" + binary + "-" + std::to_string(++runs) + ".out";
  std::vector<std::string> argv = {BinaryPath(binary)};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess process(argv, env, log);
  const int status = process.Wait();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(log)};
}

bool LogContains(const TestCluster& cluster, const std::string& service,
                 const std::string& text) {
  return ReadFile(cluster.log_dir() + "/" + service + ".log").find(text) !=
         std::string::npos;
}

std::string CompletedBooking(TestCluster& cluster, const std::string& date) {
  const std::string id =
      cluster.StartSaga(kBooking, BookingInput("p-1001", date, "cardiology"));
  const v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
  EXPECT_EQ(saga.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(saga);
  cluster.ExpectParticipantsAgree(saga);
  return id;
}

TEST(TransportSecurityTest, BookingCompletesOverTlsAndPlaintextIsRefused) {
  TestCertificates certs;
  ASSERT_TRUE(certs.Created());
  ClusterOptions options;
  options.transport = Transport::kTls;
  options.certificates = &certs;
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::string id = CompletedBooking(cluster, "2026-12-01");
  const int port = cluster.orchestrator_port();
  EXPECT_TRUE(GetSagaOver(port, Tls(certs.ca()), id).ok());

  // Plaintext clients get no answer from a TLS server, and a client that
  // does not trust the server's CA does not talk to it.
  EXPECT_EQ(
      GetSagaOver(port, grpc::InsecureChannelCredentials(), id).error_code(),
      StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetSagaOver(port, Tls(certs.rogue_ca()), id).error_code(),
            StatusCode::UNAVAILABLE);
  for (const auto& name : kParticipants) {
    const int participant = cluster.participant_port(name);
    EXPECT_EQ(ValidatePatientOver(participant,
                                  grpc::InsecureChannelCredentials(), "k-1")
                  .error_code(),
              StatusCode::UNAVAILABLE)
        << name;
    EXPECT_TRUE(LogContains(cluster, name, "gRPC server: TLS")) << name;
    EXPECT_TRUE(
        LogContains(cluster, "orchestrator", "participant " + name + ": TLS"))
        << name;
  }
  EXPECT_TRUE(LogContains(cluster, "orchestrator", "gRPC server: TLS"));
  EXPECT_TRUE(LogContains(cluster, "orchestrator", "AUTHENTICATION IS OFF"));

  // sagactl over TLS; without the CA it cannot reach the server (exit 4).
  Outcome shown = RunBinary("sagactl",
                            {"--address", Address(port), "--tls-ca", certs.ca(),
                             "-o", "json", "show", id},
                            {}, cluster.log_dir());
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("COMPLETED"), std::string::npos) << shown.output;
  Outcome plaintext =
      RunBinary("sagactl", {"--address", Address(port), "show", id}, {},
                cluster.log_dir());
  EXPECT_EQ(plaintext.exit_code, 4) << plaintext.output;
}

TEST(TransportSecurityTest, MutualTlsRefusesClientsWithoutTrustedCertificate) {
  TestCertificates certs;
  ASSERT_TRUE(certs.Created());
  ClusterOptions options;
  options.transport = Transport::kMutualTls;
  options.certificates = &certs;
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  // The orchestrator presents its client certificate to every participant.
  const std::string id = CompletedBooking(cluster, "2026-12-02");

  const int patient = cluster.participant_port("patient");
  EXPECT_EQ(
      ValidatePatientOver(patient, Tls(certs.ca()), "k-none").error_code(),
      StatusCode::UNAVAILABLE);
  EXPECT_EQ(ValidatePatientOver(
                patient, Tls(certs.ca(), certs.rogue_cert(), certs.rogue_key()),
                "k-rogue")
                .error_code(),
            StatusCode::UNAVAILABLE);
  const grpc::Status trusted = ValidatePatientOver(
      patient, Tls(certs.ca(), certs.client_cert(), certs.client_key()),
      "k-trusted");
  EXPECT_TRUE(trusted.ok()) << trusted.error_message();
  for (const auto& name : kParticipants) {
    EXPECT_TRUE(LogContains(cluster, name,
                            "gRPC server: mutual TLS (client certificate "
                            "required)"))
        << name;
    EXPECT_TRUE(LogContains(
        cluster, "orchestrator",
        "participant " + name + ": mutual TLS (client certificate)"))
        << name;
  }

  // The orchestrator's own server requires client certificates too.
  const int port = cluster.orchestrator_port();
  EXPECT_EQ(GetSagaOver(port, Tls(certs.ca()), id).error_code(),
            StatusCode::UNAVAILABLE);
  Outcome with_cert = RunBinary(
      "sagactl",
      {"--address", Address(port), "--tls-ca", certs.ca(), "--tls-cert",
       certs.client_cert(), "--tls-key", certs.client_key(), "show", id},
      {}, cluster.log_dir());
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.output;
  Outcome without_cert =
      RunBinary("sagactl", {"--address", Address(port), "show", id},
                {"SAGACTL_TLS_CA=" + certs.ca()}, cluster.log_dir());
  EXPECT_EQ(without_cert.exit_code, 4) << without_cert.output;
}

// A well-formed saga id that no saga has.
constexpr char kNoSuchSaga[] = "00000000-0000-4000-8000-000000000000";

// Tokens: two submitters (inline in a config file) and an operator (in a
// tokens file).
constexpr char kAliceToken[] = "alice-token-6f1d2c";
constexpr char kBobToken[] = "bob-token-93ab0e";
constexpr char kOperatorToken[] = "ops-token-5c77e1";
constexpr char kBadToken[] = "not-a-token-d41d8c";

struct Call {
  std::string rpc;
  // Makes the call with `context` on the saga `saga_id`.
  std::function<grpc::Status(v1::SagaOrchestrator::Stub&, grpc::ClientContext&,
                             const std::string&)>
      make;
};

v1::Operator By(const std::string& name) {
  v1::Operator by;
  by.set_name(name);
  by.set_reason("authorization test");
  return by;
}

// One call of every RPC of saga.v1.SagaOrchestrator.
std::vector<Call> EveryRpc() {
  using Stub = v1::SagaOrchestrator::Stub;
  using Context = grpc::ClientContext;
  return {
      {"StartSaga",
       [](Stub& stub, Context& context, const std::string&) {
         static int n = 0;
         v1::StartSagaRequest request;
         request.set_saga_type(kTestBooking);
         request.set_input_json(
             BookingInput("p-1002", "2027-03-" + std::to_string(10 + n++ % 18),
                          "cardiology"));
         v1::StartSagaResponse response;
         return stub.StartSaga(&context, request, &response);
       }},
      {"GetSaga",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::GetSagaRequest request;
         request.set_saga_id(id);
         v1::GetSagaResponse response;
         return stub.GetSaga(&context, request, &response);
       }},
      {"AwaitSaga",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::AwaitSagaRequest request;
         request.set_saga_id(id);
         request.set_timeout_ms(1000);
         v1::AwaitSagaResponse response;
         return stub.AwaitSaga(&context, request, &response);
       }},
      {"ListSagas",
       [](Stub& stub, Context& context, const std::string&) {
         v1::ListSagasRequest request;
         v1::ListSagasResponse response;
         return stub.ListSagas(&context, request, &response);
       }},
      {"GetSagaHistory",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::GetSagaHistoryRequest request;
         request.set_saga_id(id);
         v1::GetSagaHistoryResponse response;
         return stub.GetSagaHistory(&context, request, &response);
       }},
      {"WatchSaga",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::WatchSagaRequest request;
         request.set_saga_id(id);
         auto reader = stub.WatchSaga(&context, request);
         v1::SagaEvent event;
         while (reader->Read(&event)) {
         }
         return reader->Finish();
       }},
      {"WatchEvents",
       [](Stub& stub, Context& context, const std::string&) {
         v1::WatchEventsRequest request;
         auto reader = stub.WatchEvents(&context, request);
         // The stream follows new commits: one event shows it was served.
         v1::OutboxEvent event;
         if (reader->Read(&event)) context.TryCancel();
         return reader->Finish();
       }},
      {"CancelSaga",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::CancelSagaRequest request;
         request.set_saga_id(id);
         v1::CancelSagaResponse response;
         return stub.CancelSaga(&context, request, &response);
       }},
      {"RetrySaga",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::RetrySagaRequest request;
         request.set_saga_id(id);
         *request.mutable_operator_() = By("tester");
         v1::RetrySagaResponse response;
         return stub.RetrySaga(&context, request, &response);
       }},
      {"SkipStep",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::SkipStepRequest request;
         request.set_saga_id(id);
         request.set_step("notify");
         *request.mutable_operator_() = By("tester");
         v1::SkipStepResponse response;
         return stub.SkipStep(&context, request, &response);
       }},
      {"MarkCompensated",
       [](Stub& stub, Context& context, const std::string& id) {
         v1::MarkCompensatedRequest request;
         request.set_saga_id(id);
         *request.mutable_operator_() = By("tester");
         v1::MarkCompensatedResponse response;
         return stub.MarkCompensated(&context, request, &response);
       }},
      {"ListDefinitions",
       [](Stub& stub, Context& context, const std::string&) {
         v1::ListDefinitionsResponse response;
         return stub.ListDefinitions(&context, v1::ListDefinitionsRequest(),
                                     &response);
       }},
      {"GetDefinition",
       [](Stub& stub, Context& context, const std::string&) {
         v1::GetDefinitionRequest request;
         request.set_saga_type(kTestBooking);
         v1::GetDefinitionResponse response;
         return stub.GetDefinition(&context, request, &response);
       }},
  };
}

// A cluster with tokens, on the test definitions (short backoffs, so a
// saga can be made to fail quickly).
class AuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/saga-auth-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    const std::string config =
        WriteFile(dir_, "orchestrator.yaml",
                  "auth:\n"
                  "  tokens:\n"
                  "    - {name: alice, role: submitter, sha256: " +
                      security::Sha256Hex(kAliceToken) +
                      "}\n"
                      "    - {name: bob, role: submitter, sha256: " +
                      security::Sha256Hex(kBobToken) + "}\n");
    const std::string tokens =
        WriteFile(dir_, "tokens.yaml",
                  "tokens:\n  - name: ops\n    role: operator\n    sha256: " +
                      security::Sha256Hex(kOperatorToken) + "\n");
    ClusterOptions options;
    options.definitions_dir = SourcePath("tests/integration/sagas");
    options.orchestrator_flags = {"--config", config, "--tokens-file", tokens};
    options.token = kOperatorToken;
    cluster_ = std::make_unique<TestCluster>(options);
    ASSERT_TRUE(cluster_->Start());
  }

  void TearDown() override {
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `call` with `authorization` metadata (none when empty).
  grpc::Status Make(const Call& call, const std::string& authorization,
                    const std::string& saga_id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    return call.make(cluster_->Stub(), context, saga_id);
  }

  // StartSaga of a booking as `token`.
  grpc::Status Start(const std::string& token, const std::string& date,
                     const std::string& key, v1::StartSagaResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    context.AddMetadata("authorization", "Bearer " + token);
    v1::StartSagaRequest request;
    request.set_saga_type(kTestBooking);
    request.set_input_json(BookingInput("p-1001", date, "cardiology"));
    request.set_idempotency_key(key);
    return cluster_->Stub().StartSaga(&context, request, response);
  }

  // Starts a booking as `token` and waits (as the operator) for its end.
  v1::Saga Booking(const std::string& token, const std::string& date,
                   const std::string& key = "") {
    v1::StartSagaResponse response;
    grpc::Status status = Start(token, date, key, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return cluster_->AwaitTerminal(response.saga_id(), kSagaTimeout);
  }

  int64_t Sagas() {
    return cluster_->QueryInt("orchestrator", "SELECT count(*) FROM sagas");
  }
  int64_t Events(const std::string& saga_id) {
    return cluster_->QueryInt(
        "orchestrator", "SELECT count(*) FROM saga_events WHERE saga_id = $1",
        saga_id);
  }

  std::string dir_;
  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(AuthorizationTest, EachRoleIsAllowedOrRefusedPerRpc) {
  const v1::Saga alices = Booking(kAliceToken, "2026-12-03");
  const v1::Saga bobs = Booking(kBobToken, "2026-12-04");
  ASSERT_EQ(alices.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(alices);
  ASSERT_EQ(bobs.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(bobs);
  EXPECT_EQ(alices.started_by(), "alice");
  EXPECT_EQ(bobs.started_by(), "bob");

  const std::string alice = "Bearer " + std::string(kAliceToken);
  const std::string op = "Bearer " + std::string(kOperatorToken);
  const std::set<std::string> submitter_rpcs = {"StartSaga", "GetSaga",
                                                "AwaitSaga"};
  const int64_t sagas_before = Sagas();
  const int64_t alices_events = Events(alices.saga_id());
  const int64_t bobs_events = Events(bobs.saga_id());

  for (const Call& call : EveryRpc()) {
    SCOPED_TRACE(call.rpc);
    // No token, an unknown token, another scheme: UNAUTHENTICATED.
    for (const std::string& header :
         {std::string(), "Bearer " + std::string(kBadToken),
          "Basic " + std::string(kAliceToken)}) {
      EXPECT_EQ(Make(call, header, alices.saga_id()).error_code(),
                StatusCode::UNAUTHENTICATED)
          << "authorization '" << header << "'";
    }
    // A submitter: the three submitter RPCs, and only on its own sagas.
    const grpc::Status own = Make(call, alice, alices.saga_id());
    if (!submitter_rpcs.count(call.rpc)) {
      EXPECT_EQ(own.error_code(), StatusCode::PERMISSION_DENIED)
          << own.error_message();
    } else {
      EXPECT_TRUE(own.ok()) << own.error_message();
    }
    if (call.rpc != "StartSaga") {
      // Another caller's saga: for the submitter RPCs exactly what a saga
      // that does not exist gets; for the others the same refusal as on
      // the caller's own saga. Either way nothing tells it exists.
      const grpc::Status other = Make(call, alice, bobs.saga_id());
      const grpc::Status none = Make(call, alice, kNoSuchSaga);
      if (submitter_rpcs.count(call.rpc)) {
        EXPECT_EQ(other.error_code(), StatusCode::NOT_FOUND)
            << other.error_message();
        EXPECT_EQ(other.error_message(),
                  "saga " + bobs.saga_id() + " not found");
        EXPECT_EQ(none.error_code(), StatusCode::NOT_FOUND);
        EXPECT_EQ(none.error_message(),
                  "saga " + std::string(kNoSuchSaga) + " not found");
      } else {
        EXPECT_EQ(other.error_code(), own.error_code());
        EXPECT_EQ(other.error_message(), own.error_message());
        EXPECT_EQ(none.error_message(), own.error_message());
      }
    }
    // The operator: everything (a repair of a COMPLETED saga is then
    // refused by the saga's state, not by authorization).
    const grpc::Status as_operator = Make(call, op, bobs.saga_id());
    EXPECT_NE(as_operator.error_code(), StatusCode::UNAUTHENTICATED);
    EXPECT_NE(as_operator.error_code(), StatusCode::PERMISSION_DENIED)
        << as_operator.error_message();
    if (call.rpc.starts_with("Get") || call.rpc.starts_with("List") ||
        call.rpc == "WatchSaga" || call.rpc == "AwaitSaga" ||
        call.rpc == "StartSaga") {
      EXPECT_TRUE(as_operator.ok()) << as_operator.error_message();
    }
  }

  // Refusals wrote nothing: the only new sagas are from the submitter's and
  // the operator's StartSaga, and the ended sagas' histories are unchanged.
  EXPECT_EQ(Sagas(), sagas_before + 2);
  EXPECT_EQ(Events(alices.saga_id()), alices_events);
  EXPECT_EQ(Events(bobs.saga_id()), bobs_events);

  // Both kinds of refusal are logged, and no token ever is.
  const std::string log = cluster_->OrchestratorLog();
  EXPECT_NE(log.find("authentication on: 3 bearer tokens"), std::string::npos);
  EXPECT_NE(log.find("call refused"), std::string::npos);
  EXPECT_NE(log.find("UNAUTHENTICATED"), std::string::npos);
  EXPECT_NE(log.find("PERMISSION_DENIED"), std::string::npos);
  EXPECT_NE(log.find("may not call CancelSaga"), std::string::npos);
  EXPECT_NE(log.find("bearer tokens travel in plaintext"), std::string::npos);
  for (const char* token :
       {kAliceToken, kBobToken, kOperatorToken, kBadToken}) {
    EXPECT_EQ(log.find(token), std::string::npos) << token;
  }
}

TEST_F(AuthorizationTest, IdempotencyKeysBelongToTheirCaller) {
  const v1::Saga first = Booking(kAliceToken, "2026-12-05", "order-1");
  // The same key and input from alice again: the same saga.
  v1::StartSagaResponse again;
  ASSERT_TRUE(Start(kAliceToken, "2026-12-05", "order-1", &again).ok());
  EXPECT_EQ(again.saga_id(), first.saga_id());
  EXPECT_FALSE(again.created());
  // From bob: the key is taken, and bob does not learn the saga id.
  const int64_t sagas = Sagas();
  v1::StartSagaResponse refused;
  grpc::Status status = Start(kBobToken, "2026-12-05", "order-1", &refused);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(),
            "idempotency key 'order-1' is already used by another caller");
  EXPECT_TRUE(refused.saga_id().empty());
  EXPECT_EQ(Sagas(), sagas);
}

// Regression: bob reusing alice's key with a different input got the
// store's "idempotency key 'order-2' was used for saga <alice's saga id>
// with a different input": the owner check ran only on the replay path.
// Now the answer is the same whatever the input, and names no saga.
TEST_F(AuthorizationTest, ARefusedKeyNeverRevealsAnotherCallersSaga) {
  const v1::Saga alices = Booking(kAliceToken, "2026-12-08", "order-2");
  ASSERT_EQ(alices.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(alices);
  const int64_t sagas = Sagas();
  v1::StartSagaResponse response;
  const grpc::Status same =
      Start(kBobToken, "2026-12-08", "order-2", &response);
  const grpc::Status different =
      Start(kBobToken, "2026-12-09", "order-2", &response);
  EXPECT_EQ(different.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(different.error_message(),
            "idempotency key 'order-2' is already used by another caller");
  EXPECT_EQ(same.error_code(), different.error_code());
  EXPECT_EQ(same.error_message(), different.error_message());
  EXPECT_TRUE(response.saga_id().empty());

  // Alice, whose saga it is, and the operator are told which saga holds
  // the key.
  const std::string holder = "idempotency key 'order-2' was used for saga " +
                             alices.saga_id() + " with a different input";
  const grpc::Status own =
      Start(kAliceToken, "2026-12-09", "order-2", &response);
  EXPECT_EQ(own.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(own.error_message(), holder);
  const grpc::Status ops =
      Start(kOperatorToken, "2026-12-09", "order-2", &response);
  EXPECT_EQ(ops.error_message(), holder);
  EXPECT_EQ(Sagas(), sagas);

  // The refusal is logged with its real reason, for operators.
  EXPECT_NE(cluster_->OrchestratorLog().find("token 'bob' asked about saga " +
                                             alices.saga_id() +
                                             ", started by another caller"),
            std::string::npos);
}

TEST_F(AuthorizationTest, RepairsRecordTheOperatorTokensName) {
  // The compensation of reserve_doctor never succeeds: the saga FAILS.
  ASSERT_TRUE(cluster_->RestartParticipant(
      "email", {"--fail-rate", "send_notification=1"}));
  ASSERT_TRUE(cluster_->RestartParticipant(
      "doctor", {"--fail-rate", "release_reservation=1"}));
  const v1::Saga failed = Booking(kAliceToken, "2026-12-06");
  ASSERT_EQ(failed.status(), v1::SAGA_STATUS_FAILED) << DescribeSaga(failed);

  const std::vector<Call> calls = EveryRpc();
  const auto found = std::find_if(
      calls.begin(), calls.end(),
      [](const Call& call) { return call.rpc == "MarkCompensated"; });
  ASSERT_NE(found, calls.end());
  const Call mark = *found;
  const int64_t events = Events(failed.saga_id());
  EXPECT_EQ(Make(mark, "Bearer " + std::string(kAliceToken), failed.saga_id())
                .error_code(),
            StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Events(failed.saga_id()), events);

  // The operator token "ops", used by someone who calls themself "tester".
  const grpc::Status marked =
      Make(mark, "Bearer " + std::string(kOperatorToken), failed.saga_id());
  ASSERT_TRUE(marked.ok()) << marked.error_message();
  EXPECT_EQ(cluster_->GetSaga(failed.saga_id()).status(),
            v1::SAGA_STATUS_COMPENSATED);
  bool recorded = false;
  for (const auto& event : cluster_->History(failed.saga_id())) {
    if (event.type() != "OperatorAction") continue;
    recorded = true;
    EXPECT_NE(event.data_json().find("\"operator\":\"ops (tester)\""),
              std::string::npos)
        << event.data_json();
  }
  EXPECT_TRUE(recorded);
}

TEST_F(AuthorizationTest, SagactlSendsItsTokenAndExitsSevenWhenRefused) {
  const v1::Saga saga = Booking(kAliceToken, "2026-12-07");
  const std::string address = Address(cluster_->orchestrator_port());
  Outcome listed =
      RunBinary("sagactl", {"--address", address, "-o", "json", "list"},
                {"SAGACTL_TOKEN=" + std::string(kOperatorToken)}, dir_);
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find(saga.saga_id()), std::string::npos)
      << listed.output;

  const std::string token_file =
      WriteFile(dir_, "alice.token", std::string(kAliceToken) + "\n");
  Outcome shown = RunBinary("sagactl",
                            {"--address", address, "--token-file", token_file,
                             "show", saga.saga_id()},
                            {}, dir_);
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("Started by:       alice"), std::string::npos)
      << shown.output;
  Outcome denied = RunBinary(
      "sagactl", {"--address", address, "--token", kAliceToken, "list"}, {},
      dir_);
  EXPECT_EQ(denied.exit_code, 7) << denied.output;
  EXPECT_NE(denied.output.find("PERMISSION_DENIED"), std::string::npos);
  Outcome anonymous = RunBinary(
      "sagactl", {"--address", address, "show", saga.saga_id()}, {}, dir_);
  EXPECT_EQ(anonymous.exit_code, 7) << anonymous.output;
  EXPECT_NE(anonymous.output.find("UNAUTHENTICATED"), std::string::npos);
}

class OrchestratorConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/saga-config-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(OrchestratorConfigTest, UnknownKeysStopTheStartNamingKeyAndFile) {
  const std::string config =
      WriteFile(dir_, "orchestrator.yaml",
                "database:\n  dsn: host=127.0.0.1\n  pasword_file: /x\n");
  Outcome started =
      RunBinary("saga-orchestrator", {"--config", config}, {}, dir_);
  EXPECT_EQ(started.exit_code, 2) << started.output;
  EXPECT_NE(started.output.find(config + ":3: unknown key "
                                         "'database.pasword_file'"),
            std::string::npos)
      << started.output;
}

TEST_F(OrchestratorConfigTest, PrintConfigMergesAndMasksSecrets) {
  const std::string token_hash = security::Sha256Hex("a-token");
  const std::string file_hash = security::Sha256Hex("file-token");
  const std::string tokens = WriteFile(
      dir_, "tokens.yaml",
      "tokens:\n  - {name: ops, role: operator, sha256: " + file_hash + "}\n");
  const std::string config =
      WriteFile(dir_, "orchestrator.yaml",
                "listen: file:1\n"
                "metrics_listen: file:2\n"
                "database:\n"
                "  dsn: postgresql://saga:file-secret@db/saga\n"
                "  connections: 5\n"
                "participants: {doctor: file-doctor:3}\n"
                "auth:\n"
                "  tokens: [{name: svc, role: submitter, sha256: " +
                    token_hash +
                    "}]\n"
                    "  tokens_file: " +
                    tokens +
                    "\n"
                    "logging: {level: warn}\n");
  Outcome printed =
      RunBinary("saga-orchestrator",
                {"--config", config, "--listen", "flag:1", "--print-config"},
                {"SAGA_LISTEN=env:1", "SAGA_METRICS_LISTEN=env:2",
                 "SAGA_DB_PASSWORD=env-secret", "SAGA_LOG_LEVEL=error"},
                dir_);
  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  const std::string& out = printed.output;
  EXPECT_NE(out.find("listen: flag:1"), std::string::npos) << out;
  EXPECT_NE(out.find("metrics_listen: env:2"), std::string::npos) << out;
  EXPECT_NE(out.find("level: error"), std::string::npos) << out;
  EXPECT_NE(out.find("connections: 5"), std::string::npos) << out;
  EXPECT_NE(out.find("address: file-doctor:3"), std::string::npos) << out;
  EXPECT_NE(out.find("dsn: postgresql://saga:*****@db/saga"), std::string::npos)
      << out;
  EXPECT_NE(out.find("tokens_file: " + tokens), std::string::npos) << out;
  for (const std::string& secret :
       {std::string("file-secret"), std::string("env-secret"), token_hash,
        file_hash}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << "\n" << out;
  }
}

}  // namespace
}  // namespace saga::testing
