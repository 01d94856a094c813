// ParticipantClients against a real gRPC participant server in this
// process: what was sent and what was not, and how each gRPC error maps
// onto the decider's outcomes.
#include "orchestrator/engine/participant_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "tests/support/test_support.h"

namespace saga::engine {
namespace {

using namespace std::chrono_literals;

// Answers by action: "ok" succeeds, "refuse" answers UNAVAILABLE from the
// handler (after the request arrived), "invalid" INVALID_ARGUMENT.
class Participant final : public v1::Participant::Service {
 public:
  std::atomic<int> requests{0};
  std::string last_instance;

  grpc::Status Execute(grpc::ServerContext* context,
                       const v1::StepRequest* request,
                       v1::StepResult* result) override {
    ++requests;
    auto it = context->client_metadata().find(kOrchestratorInstanceKey);
    if (it != context->client_metadata().end()) {
      last_instance = std::string(it->second.data(), it->second.size());
    }
    if (request->action() == "refuse") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down");
    }
    if (request->action() == "invalid") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad input");
    }
    result->set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
    result->set_output_json(R"({"ok":true})");
    return grpc::Status::OK;
  }
};

class ParticipantClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&participant_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
    clients_ = std::make_unique<ParticipantClients>(
        std::map<std::string, std::string>{
            {"up", "127.0.0.1:" + std::to_string(port_)},
            {"down", "127.0.0.1:" + std::to_string(saga::testing::FreePort())}},
        std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>{},
        "orch-7");
  }
  void TearDown() override {
    clients_.reset();
    server_->Shutdown();
  }

  CallResult Call(const std::string& participant, const std::string& action,
                  std::chrono::steady_clock::time_point send_by =
                      std::chrono::steady_clock::time_point::max()) {
    v1::StepRequest request;
    request.set_action(action);
    std::promise<CallResult> result;
    clients_->Call(
        participant, false, request, std::chrono::system_clock::now() + 5s, {},
        [&](CallResult r) { result.set_value(std::move(r)); }, send_by);
    return result.get_future().get();
  }

  Participant participant_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ParticipantClients> clients_;
};

TEST_F(ParticipantClientTest, AnAnswerIsSentAndDefinite) {
  CallResult result = Call("up", "ok");
  EXPECT_TRUE(result.sent);
  EXPECT_EQ(result.outcome, core::CallOutcome::kSucceeded);
  EXPECT_EQ(result.output_json, R"({"ok":true})");
  EXPECT_EQ(participant_.last_instance, "orch-7");
}

TEST_F(ParticipantClientTest, AnUnreachableParticipantIsDefinitelyNotSent) {
  CallResult result = Call("down", "ok");
  EXPECT_FALSE(result.sent);
  EXPECT_EQ(result.outcome, core::CallOutcome::kNotApplied);
  EXPECT_EQ(result.grpc_code, "UNAVAILABLE");
  EXPECT_EQ(result.error.rfind("not sent: participant 'down' at 127.0.0.1:", 0),
            0u)
      << result.error;
}

TEST_F(ParticipantClientTest, UnavailableAfterTheRequestArrivedIsUnknown) {
  CallResult result = Call("up", "refuse");
  EXPECT_TRUE(result.sent);
  EXPECT_EQ(result.outcome, core::CallOutcome::kUnknown);
  EXPECT_EQ(result.grpc_code, "UNAVAILABLE");
  EXPECT_EQ(participant_.requests.load(), 1);
}

TEST_F(ParticipantClientTest, ARefusedRequestIsDefinitelyNotApplied) {
  CallResult result = Call("up", "invalid");
  EXPECT_TRUE(result.sent);
  EXPECT_EQ(result.outcome, core::CallOutcome::kNotApplied);
  EXPECT_EQ(result.grpc_code, "INVALID_ARGUMENT");
}

TEST_F(ParticipantClientTest, NothingIsSentPastTheSendByTime) {
  // A fresh channel is not connected yet; with no time left to connect,
  // the call must not go out.
  CallResult result = Call("up", "ok", std::chrono::steady_clock::now() - 1ms);
  EXPECT_FALSE(result.sent);
  EXPECT_EQ(result.outcome, core::CallOutcome::kNotApplied);
  EXPECT_EQ(participant_.requests.load(), 0);
}

// A restart's first resumed step should not wait for a TCP handshake: the
// clients connect to every participant when they are made, before any call.
TEST(ParticipantClientsTest, ConnectToEachParticipantBeforeTheFirstCall) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length),
      0);
  ParticipantClients clients(
      {{"listener", "127.0.0.1:" + std::to_string(ntohs(address.sin_port))}},
      {}, "orch-7");
  pollfd incoming{listener, POLLIN, 0};
  EXPECT_EQ(::poll(&incoming, 1, /*timeout_ms=*/10000), 1)
      << "no connection without a call";
  ::close(listener);
}

TEST(ToCallResultTest, ARetryableAnswerSettlesTheKey) {
  v1::StepResult answered;
  answered.set_outcome(v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  EXPECT_EQ(ToCallResult(grpc::Status::OK, answered).outcome,
            core::CallOutcome::kRetryableFailure);
}

TEST(ToCallResultTest, OnlyRefusalsBeforeActingAreDefinitelyNotApplied) {
  const v1::StepResult none;
  for (grpc::StatusCode code :
       {grpc::StatusCode::INVALID_ARGUMENT,
        grpc::StatusCode::FAILED_PRECONDITION, grpc::StatusCode::UNIMPLEMENTED,
        grpc::StatusCode::UNAUTHENTICATED,
        grpc::StatusCode::PERMISSION_DENIED}) {
    EXPECT_EQ(ToCallResult(grpc::Status(code, "x"), none).outcome,
              core::CallOutcome::kNotApplied)
        << code;
  }
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
        grpc::StatusCode::CANCELLED, grpc::StatusCode::UNKNOWN,
        grpc::StatusCode::INTERNAL, grpc::StatusCode::RESOURCE_EXHAUSTED,
        grpc::StatusCode::ABORTED, grpc::StatusCode::DATA_LOSS,
        grpc::StatusCode::NOT_FOUND, grpc::StatusCode::ALREADY_EXISTS,
        grpc::StatusCode::OUT_OF_RANGE}) {
    EXPECT_EQ(ToCallResult(grpc::Status(code, "x"), none).outcome,
              core::CallOutcome::kUnknown)
        << code;
  }
  v1::StepResult answered;
  answered.set_outcome(v1::STEP_OUTCOME_BUSINESS_FAILURE);
  answered.set_error("no");
  const CallResult business = ToCallResult(grpc::Status::OK, answered);
  EXPECT_EQ(business.outcome, core::CallOutcome::kBusinessFailure);
  EXPECT_EQ(business.error, "no");
  EXPECT_TRUE(business.sent);
}

TEST(ToProtoTest, CarriesEveryFieldOfTheStepRequest) {
  core::StepRequest request;
  request.participant = "doctor";
  request.compensation = true;
  request.saga_id = "s-1";
  request.step = "reserve_doctor";
  request.action = "release_reservation";
  request.idempotency_key = "s-1/reserve_doctor/compensate";
  request.attempt = 2;
  request.deadline_ms = 1700000000123;
  request.input_json = R"({"patient_id":"p"})";
  request.original_idempotency_key = "s-1/reserve_doctor/execute";
  request.original_output_json = R"({"reservation_id":"r"})";
  const v1::StepRequest proto = ToProto(request);
  EXPECT_EQ(proto.saga_id(), "s-1");
  EXPECT_EQ(proto.step(), "reserve_doctor");
  EXPECT_EQ(proto.action(), "release_reservation");
  EXPECT_EQ(proto.idempotency_key(), "s-1/reserve_doctor/compensate");
  EXPECT_EQ(proto.attempt(), 2);
  EXPECT_EQ(proto.deadline_unix_ms(), 1700000000123);
  EXPECT_EQ(proto.input_json(), R"({"patient_id":"p"})");
  EXPECT_EQ(proto.original_idempotency_key(), "s-1/reserve_doctor/execute");
  EXPECT_EQ(proto.original_output_json(), R"({"reservation_id":"r"})");
}

}  // namespace
}  // namespace saga::engine
