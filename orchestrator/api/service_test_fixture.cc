#include "orchestrator/api/service_test_fixture.h"

#include <gtest/gtest.h>

#include "tests/support/definitions.h"

namespace saga::api::testing {

using namespace std::chrono_literals;

FakeParticipant::FakeParticipant() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

FakeParticipant::~FakeParticipant() {
  Unblock();
  server_->Shutdown();
}

std::string FakeParticipant::Address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void FakeParticipant::SetOutcome(const std::string& action,
                                 v1::StepOutcome outcome) {
  std::lock_guard lock(mu_);
  outcomes_[action] = outcome;
}

void FakeParticipant::Block(const std::string& action) {
  std::lock_guard lock(mu_);
  blocked_ = action;
}

void FakeParticipant::Unblock() {
  std::lock_guard lock(mu_);
  blocked_.clear();
  changed_.notify_all();
}

std::string FakeParticipant::CompletionToken(const std::string& action) {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(action);
  return it == tokens_.end() ? "" : it->second;
}

bool FakeParticipant::WaitForCall(const std::string& action,
                                  std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout,
                           [&] { return called_.count(action) > 0; });
}

grpc::Status FakeParticipant::Execute(grpc::ServerContext* /*context*/,
                                      const v1::StepRequest* request,
                                      v1::StepResult* result) {
  {
    std::unique_lock lock(mu_);
    called_.insert(request->action());
    tokens_[request->action()] = request->completion_token();
    changed_.notify_all();
    changed_.wait(lock, [&] { return blocked_ != request->action(); });
  }
  *result = Answer(request->action());
  return grpc::Status::OK;
}

grpc::Status FakeParticipant::Compensate(grpc::ServerContext* /*context*/,
                                         const v1::StepRequest* request,
                                         v1::StepResult* result) {
  *result = Answer(request->action());
  return grpc::Status::OK;
}

v1::StepResult FakeParticipant::Answer(const std::string& action) {
  v1::StepResult result;
  {
    std::lock_guard lock(mu_);
    auto it = outcomes_.find(action);
    result.set_outcome(it == outcomes_.end() ? v1::STEP_OUTCOME_SUCCEEDED
                                             : it->second);
  }
  if (result.outcome() != v1::STEP_OUTCOME_SUCCEEDED) {
    result.set_error("scripted " + v1::StepOutcome_Name(result.outcome()));
  } else if (action == "validate_patient") {
    result.set_output_json(
        R"({"patient_id":"p-1","name":"Ann","email":"ann@example.com"})");
  } else if (action == "reserve_doctor") {
    result.set_output_json(
        R"({"reservation_id":"r-1","doctor_id":"d-1","doctor_name":"Dr Who",)"
        R"("doctor_email":"who@example.com","date":"2026-12-01"})");
  } else {
    result.set_output_json("{}");
  }
  return result;
}

absl::StatusOr<store::StreamCursor> MemoryOutboxLog::CursorAfter(
    int64_t position) {
  if (position < 1 ||
      position > static_cast<int64_t>(store_->Outbox().size())) {
    return absl::OutOfRangeError("no outbox position " +
                                 std::to_string(position));
  }
  return store::StreamCursor{static_cast<uint64_t>(position), position};
}

absl::StatusOr<store::StreamPage> MemoryOutboxLog::Read(
    const store::StreamCursor& after, int limit) {
  const std::vector<core::OutboxMessage> messages = store_->Outbox();
  store::StreamPage page;
  page.next = after;
  for (size_t i = after.position; i < messages.size(); ++i) {
    if (static_cast<int>(page.entries.size()) == limit) break;
    store::OutboxEntry entry;
    entry.position = static_cast<int64_t>(i) + 1;
    entry.txid = i + 1;
    entry.message = messages[i];
    page.next = {entry.txid, entry.position};
    page.entries.push_back(std::move(entry));
  }
  page.caught_up = static_cast<int>(page.entries.size()) < limit;
  return page;
}

ServiceHarness::ServiceHarness(ServiceHarnessOptions options)
    : clients_(std::map<std::string, std::string>{
          {"patient", participant_.Address()},
          {"doctor", participant_.Address()},
          {"email", participant_.Address()},
          {"payment", participant_.Address()}}) {
  options.definition_dirs.insert(
      options.definition_dirs.begin(),
      saga::testing::TestDefinitionDir("booking_v1"));
  for (const std::string& dir : options.definition_dirs) {
    absl::Status loaded = definitions_.LoadDirectory(dir);
    EXPECT_TRUE(loaded.ok()) << loaded;
  }
  engine::EngineOptions engine_options;
  engine_options.pauses = &pauses_;
  engine_ = std::make_unique<engine::Engine>(&store_, &definitions_, &clients_,
                                             engine_options);
  engine_->Start();
  events_ =
      std::make_unique<EventStreams>(&outbox_, &commits_, EventStreamOptions{});
  ServiceOptions service_options;
  service_options.events = events_.get();
  service_options.authorizer = Authorizer(std::move(options.tokens));
  // Short, so a test that waits on another instance's saga stays short.
  service_options.await.poll_interval = 20ms;
  service_ = std::make_unique<OrchestratorService>(
      engine_.get(), &store_, &definitions_, service_options);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  EXPECT_NE(port, 0);
  stub_ = v1::SagaOrchestrator::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

ServiceHarness::~ServiceHarness() {
  participant_.Unblock();
  engine_->BeginShutdown();
  events_->BeginShutdown();
  server_->Shutdown();
  service_.reset();
  engine_->Stop();
}

std::unique_ptr<engine::Engine> ServiceHarness::OtherInstance(
    const std::string& id) {
  engine::EngineOptions options;
  options.leases.instance_id = id;
  options.pauses = &pauses_;
  auto other = std::make_unique<engine::Engine>(&store_, &definitions_,
                                                &clients_, options);
  other->Start();
  return other;
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 30s);
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

RpcCall WatchSagaCall(const std::string& saga_id) {
  return [saga_id](v1::SagaOrchestrator::Stub& stub,
                   grpc::ClientContext& context) {
    v1::WatchSagaRequest request;
    request.set_saga_id(saga_id);
    auto reader = stub.WatchSaga(&context, request);
    for (v1::SagaEvent event; reader->Read(&event);) {
    }
    return reader->Finish();
  };
}

RpcCall WatchEventsCall(const v1::WatchEventsRequest& request) {
  return [request](v1::SagaOrchestrator::Stub& stub,
                   grpc::ClientContext& context) {
    auto reader = stub.WatchEvents(&context, request);
    for (v1::OutboxEvent event; reader->Read(&event);) {
    }
    return reader->Finish();
  };
}

}  // namespace saga::api::testing
