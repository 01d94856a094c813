// Runs whole sagactl commands against an in-process fake orchestrator bound
// to a loopback port chosen by the kernel.
#include "tools/sagactl/cli.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/state.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tools/sagactl/exit_codes.h"

namespace saga::sagactl {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1714564800000;
// GetSaga of this id answers PERMISSION_DENIED, as a real orchestrator does
// for a submitter reaching for another caller's saga.
// The fake's saga ids: the n-th saga started gets FakeSagaId(n), a saga id
// (a lowercase UUID) as sagactl checks them before any call.
std::string FakeSagaId(size_t n) {
  std::string digits = std::to_string(n);
  return "00000000-0000-4000-8000-" + std::string(12 - digits.size(), '0') +
         digits;
}

constexpr char kDeniedSaga[] = "00000000-0000-4000-8000-0000000000de";

std::string BookingSource() {
  std::ifstream in(std::string(SAGA_SOURCE_DIR) +
                   "/tests/testdata/booking_v1/appointment_booking.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A booking saga driven by the real decider: reserve_doctor fails
// retryably once, then notify either succeeds or fails for good (and the
// reservation is released).
struct Recorded {
  v1::Saga saga;
  std::vector<v1::SagaEvent> events;
};

Recorded RecordBooking(const std::string& id, bool notify_fails) {
  absl::StatusOr<core::SagaDefinition> def =
      core::ParseDefinition(BookingSource(), "booking");
  EXPECT_TRUE(def.ok()) << def.status();
  core::SagaState state = core::NewSagaState(*def, id);
  Recorded r;
  int64_t now = kT0;
  auto commit = [&](const core::Decision& d) {
    for (core::Event e : d.events) {
      e.seq = state.last_seq + 1;
      core::Apply(*def, state, e);
      v1::SagaEvent out;
      out.set_seq(e.seq);
      out.set_type(core::EventTypeName(e.type));
      if (e.step >= 0) out.set_step(def->steps[e.step].name);
      out.set_attempt(e.attempt);
      out.set_data_json(core::EncodeEventData(e));
      out.set_recorded_unix_ms(e.at_ms);
      r.events.push_back(out);
    }
  };
  commit(core::DecideStart(
      *def,
      R"({"patient_id":"p-1","preferred_date":"2024-05-17","specialty":"eye"})",
      {now, 0}));
  auto send = [&](core::Signal s) {
    now += 10;
    if (core::CurrentActivity(state).retry_due_ms > now)
      now = core::CurrentActivity(state).retry_due_ms;
    commit(core::Decide(*def, state, s, {now, 0.3}));
  };
  auto answer = [&](core::CallOutcome outcome, const std::string& output) {
    core::Signal s;
    s.kind = core::Signal::Kind::kCallResult;
    s.step = core::CurrentStep(state);
    s.attempt = core::CurrentActivity(state).in_flight_attempt;
    s.compensation = state.status == core::SagaStatus::kCompensating;
    s.outcome = outcome;
    s.output_json = output;
    s.error = outcome == core::CallOutcome::kSucceeded ? "" : "refused";
    send(s);
  };
  answer(core::CallOutcome::kSucceeded, R"({"name":"Ann"})");
  answer(core::CallOutcome::kRetryableFailure, "");
  core::Signal timer;
  timer.kind = core::Signal::Kind::kTimerFired;
  send(timer);
  answer(core::CallOutcome::kSucceeded, R"({"reservation_id":"r-1"})");
  if (notify_fails) {
    answer(core::CallOutcome::kBusinessFailure, "");
  }
  answer(core::CallOutcome::kSucceeded, "{}");

  r.saga.set_saga_id(id);
  r.saga.set_saga_type("appointment_booking");
  r.saga.set_definition_version(1);
  r.saga.set_status(notify_fails ? v1::SAGA_STATUS_COMPENSATED
                                 : v1::SAGA_STATUS_COMPLETED);
  r.saga.set_error(state.reason);
  r.saga.set_input_json(state.input_json);
  r.saga.set_created_unix_ms(kT0);
  return r;
}

// Sagas of type "ok" complete, "doomed" compensate and "slow" keep running.
// Page size is capped at 2 so that paging is exercised with a few sagas.
class FakeOrchestrator final : public v1::SagaOrchestrator::Service {
 public:
  grpc::Status StartSaga(grpc::ServerContext*,
                         const v1::StartSagaRequest* request,
                         v1::StartSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    starts_.push_back(*request);
    const std::string& type = request->saga_type();
    if (type != "ok" && type != "doomed" && type != "slow") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "unknown saga type " + type);
    }
    if (!request->idempotency_key().empty()) {
      auto it = by_key_.find(request->idempotency_key());
      if (it != by_key_.end()) {
        response->set_saga_id(it->second);
        response->set_created(false);
        return grpc::Status::OK;
      }
    }
    v1::Saga saga;
    saga.set_saga_id(FakeSagaId(sagas_.size() + 1));
    saga.set_saga_type(type);
    saga.set_definition_version(1);
    saga.set_input_json(request->input_json());
    saga.set_idempotency_key(request->idempotency_key());
    saga.set_created_unix_ms(kT0);
    saga.set_updated_unix_ms(kT0 + 100);
    v1::Step* step = saga.add_steps();
    step->set_name("reserve_slot");
    step->set_attempts(1);
    if (type == "ok") {
      saga.set_status(v1::SAGA_STATUS_COMPLETED);
      step->set_status(v1::STEP_STATUS_SUCCEEDED);
      step->set_output_json(R"({"slot":"s9"})");
    } else if (type == "doomed") {
      saga.set_status(v1::SAGA_STATUS_COMPENSATED);
      saga.set_error("reserve_slot: slot taken");
      step->set_status(v1::STEP_STATUS_FAILED);
      step->set_error("slot taken");
    } else {
      saga.set_status(v1::SAGA_STATUS_RUNNING);
      saga.set_current_step("reserve_slot");
      step->set_status(v1::STEP_STATUS_RUNNING);
    }
    if (!request->idempotency_key().empty()) {
      by_key_[request->idempotency_key()] = saga.saga_id();
    }
    response->set_saga_id(saga.saga_id());
    response->set_created(true);
    order_.push_back(saga.saga_id());
    sagas_[saga.saga_id()] = std::move(saga);
    return grpc::Status::OK;
  }

  grpc::Status GetSaga(grpc::ServerContext* context,
                       const v1::GetSagaRequest* request,
                       v1::GetSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto authorization = context->client_metadata().find("authorization");
    last_authorization_ = authorization == context->client_metadata().end()
                              ? ""
                              : std::string(authorization->second.data(),
                                            authorization->second.size());
    if (request->saga_id() == kDeniedSaga) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "token 'svc' (submitter) may not call GetSaga");
    }
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    *response->mutable_saga() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListSagas(grpc::ServerContext*,
                         const v1::ListSagasRequest* request,
                         v1::ListSagasResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    list_requests_.push_back(*request);
    size_t start =
        request->page_token().empty() ? 0 : std::stoul(request->page_token());
    size_t page_size = std::min<size_t>(
        request->page_size() == 0 ? 50 : request->page_size(), 2);
    size_t index = start;
    for (; index < order_.size() &&
           static_cast<size_t>(response->sagas_size()) < page_size;
         ++index) {
      const v1::Saga& saga = sagas_[order_[index]];
      if (request->status() != v1::SAGA_STATUS_UNSPECIFIED &&
          saga.status() != request->status()) {
        continue;
      }
      if (!request->saga_type().empty() &&
          saga.saga_type() != request->saga_type()) {
        continue;
      }
      v1::Saga* summary = response->add_sagas();
      *summary = saga;
      summary->clear_steps();
    }
    if (index < order_.size()) {
      response->set_next_page_token(std::to_string(index));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetSagaHistory(grpc::ServerContext*,
                              const v1::GetSagaHistoryRequest* request,
                              v1::GetSagaHistoryResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request->saga_id() == "00000000-0000-4000-8000-00000000db0d") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "database down");
    }
    if (sagas_.count(request->saga_id()) == 0) {
      return NotFound(request->saga_id());
    }
    response->set_saga_id(request->saga_id());
    if (auto it = histories_.find(request->saga_id()); it != histories_.end()) {
      for (const v1::SagaEvent& e : it->second) *response->add_events() = e;
      return grpc::Status::OK;
    }
    v1::SagaEvent* event = response->add_events();
    event->set_seq(1);
    event->set_type("SagaStarted");
    event->set_data_json(sagas_[request->saga_id()].input_json());
    event->set_recorded_unix_ms(kT0);
    return grpc::Status::OK;
  }

  // Answers at once: the fake's sagas never change by themselves.
  grpc::Status AwaitSaga(grpc::ServerContext*,
                         const v1::AwaitSagaRequest* request,
                         v1::AwaitSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    awaits_.push_back(*request);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    *response->mutable_saga() = it->second;
    bool step_done = !request->step().empty() &&
                     it->second.steps(0).name() == request->step() &&
                     it->second.steps(0).status() == v1::STEP_STATUS_SUCCEEDED;
    v1::SagaStatus status = it->second.status();
    response->set_reached(step_done || status == v1::SAGA_STATUS_COMPLETED ||
                          status == v1::SAGA_STATUS_COMPENSATED ||
                          status == v1::SAGA_STATUS_FAILED);
    return grpc::Status::OK;
  }

  grpc::Status CancelSaga(grpc::ServerContext*,
                          const v1::CancelSagaRequest* request,
                          v1::CancelSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    if (it->second.status() != v1::SAGA_STATUS_RUNNING) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "saga " + request->saga_id() + " has ended");
    }
    it->second.set_status(v1::SAGA_STATUS_COMPENSATING);
    it->second.set_error("cancelled: " + request->reason());
    *response->mutable_saga() = it->second;
    return grpc::Status::OK;
  }

  // Records the signal in the saga (consumed by no step) and answers with
  // it.
  grpc::Status SignalSaga(grpc::ServerContext*,
                          const v1::SignalSagaRequest* request,
                          v1::SignalSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    signals_.push_back(*request);
    v1::ReceivedSignal* signal = it->second.add_signals();
    signal->set_name(request->name());
    signal->set_idempotency_key(request->idempotency_key());
    signal->set_payload_json(request->payload_json());
    signal->set_received_unix_ms(1714564800000);
    *response->mutable_saga() = it->second;
    return grpc::Status::OK;
  }

  // Operator repairs answer with the saga, marked so tests can tell which
  // repair ran.
  grpc::Status RetrySaga(grpc::ServerContext*,
                         const v1::RetrySagaRequest* request,
                         v1::RetrySagaResponse* response) override {
    return Repair("retry", request->saga_id(), "", request->operator_(),
                  response->mutable_saga());
  }
  grpc::Status SkipStep(grpc::ServerContext*,
                        const v1::SkipStepRequest* request,
                        v1::SkipStepResponse* response) override {
    return Repair("skip-step", request->saga_id(), request->step(),
                  request->operator_(), response->mutable_saga());
  }
  grpc::Status MarkCompensated(grpc::ServerContext*,
                               const v1::MarkCompensatedRequest* request,
                               v1::MarkCompensatedResponse* response) override {
    return Repair("mark-compensated", request->saga_id(), "",
                  request->operator_(), response->mutable_saga());
  }

  // Records the request; answers with the id the next start would get.
  grpc::Status RerunSaga(grpc::ServerContext*,
                         const v1::RerunSagaRequest* request,
                         v1::RerunSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sagas_.count(request->saga_id()) == 0) {
      return NotFound(request->saga_id());
    }
    reruns_.push_back(*request);
    response->set_saga_id(FakeSagaId(sagas_.size() + 1));
    response->set_created(true);
    return grpc::Status::OK;
  }

  // Sends the saga's history, then ends the stream as if the saga ended.
  grpc::Status WatchSaga(grpc::ServerContext*,
                         const v1::WatchSagaRequest* request,
                         grpc::ServerWriter<v1::SagaEvent>* writer) override {
    std::vector<v1::SagaEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sagas_.count(request->saga_id()) == 0) {
        return NotFound(request->saga_id());
      }
      events = histories_[request->saga_id()];
    }
    for (const v1::SagaEvent& event : events) {
      if (event.seq() > request->from_seq()) writer->Write(event);
    }
    return grpc::Status::OK;
  }

  // Two messages at positions 7 and 3 (stream order is not position
  // order); records the last request.
  grpc::Status WatchEvents(
      grpc::ServerContext*, const v1::WatchEventsRequest* request,
      grpc::ServerWriter<v1::OutboxEvent>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_events_request_ = *request;
    }
    if (request->from_position() == 99) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                          "outbox position 99 does not exist");
    }
    v1::OutboxEvent started;
    started.set_position(7);
    started.set_message_id("good:1");
    started.set_saga_id("good");
    started.set_saga_type("appointment_booking");
    started.set_type("saga.started");
    started.set_header_json(R"({"saga_id":"good","seq":1})");
    started.set_payload_json(R"({"input":{"patient_id":"p-1"}})");
    started.set_recorded_unix_ms(kT0);
    v1::OutboxEvent succeeded = started;
    succeeded.set_position(3);
    succeeded.set_message_id("good:3");
    succeeded.set_type("saga.step.succeeded");
    succeeded.set_header_json(R"({"saga_id":"good","seq":3,"step":"notify"})");
    succeeded.set_payload_json(R"({"output":{}})");
    succeeded.set_recorded_unix_ms(kT0 + 1500);
    writer->Write(started);
    writer->Write(succeeded);
    return grpc::Status::OK;
  }

  v1::WatchEventsRequest LastEventsRequest() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_events_request_;
  }

  grpc::Status ListDefinitions(grpc::ServerContext*,
                               const v1::ListDefinitionsRequest*,
                               v1::ListDefinitionsResponse* response) override {
    *response->add_definitions() = BookingInfo();
    return grpc::Status::OK;
  }

  grpc::Status GetDefinition(grpc::ServerContext*,
                             const v1::GetDefinitionRequest* request,
                             v1::GetDefinitionResponse* response) override {
    if (request->saga_type() != "appointment_booking" ||
        request->version() > 1) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no definition " + request->saga_type());
    }
    *response->mutable_info() = BookingInfo();
    response->set_source_yaml(BookingSource());
    return grpc::Status::OK;
  }

  // Adds a saga with a full history (see RecordBooking).
  void Install(const Recorded& recorded) {
    std::lock_guard<std::mutex> lock(mu_);
    sagas_[recorded.saga.saga_id()] = recorded.saga;
    histories_[recorded.saga.saga_id()] = recorded.events;
    order_.push_back(recorded.saga.saga_id());
  }

  std::vector<std::string> repairs() {
    std::lock_guard<std::mutex> lock(mu_);
    return repairs_;
  }

  std::vector<v1::StartSagaRequest> starts() {
    std::lock_guard<std::mutex> lock(mu_);
    return starts_;
  }
  std::vector<v1::ListSagasRequest> list_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_requests_;
  }
  std::vector<v1::AwaitSagaRequest> awaits() {
    std::lock_guard<std::mutex> lock(mu_);
    return awaits_;
  }
  std::vector<v1::RerunSagaRequest> reruns() {
    std::lock_guard<std::mutex> lock(mu_);
    return reruns_;
  }
  // Every call the fake answered (starts, lists, awaits, reruns, repairs).
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return starts_.size() + list_requests_.size() + awaits_.size() +
           reruns_.size() + repairs_.size();
  }
  std::vector<v1::SignalSagaRequest> signals() {
    std::lock_guard<std::mutex> lock(mu_);
    return signals_;
  }
  // The `authorization` metadata of the last GetSaga ("" when absent).
  std::string last_authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_authorization_;
  }

 private:
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "saga " + id + " not found");
  }

  static v1::DefinitionInfo BookingInfo() {
    v1::DefinitionInfo info;
    info.set_saga_type("appointment_booking");
    info.set_version(1);
    info.set_current(true);
    for (const char* step : {"validate_patient", "reserve_doctor", "notify"}) {
      info.add_steps(step);
    }
    info.set_description("Book a doctor's appointment for a patient.");
    return info;
  }

  grpc::Status Repair(const std::string& what, const std::string& id,
                      const std::string& step, const v1::Operator& by,
                      v1::Saga* saga) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sagas_.find(id);
    if (it == sagas_.end()) return NotFound(id);
    if (by.reason().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "operator.reason is required");
    }
    repairs_.push_back(what + " " + id + (step.empty() ? "" : " " + step) +
                       " by " + by.name() + ": " + by.reason());
    *saga = it->second;
    saga->set_error(what + " by " + by.name());
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::map<std::string, std::vector<v1::SagaEvent>> histories_;
  std::vector<std::string> repairs_;
  std::map<std::string, v1::Saga> sagas_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> by_key_;
  std::vector<v1::StartSagaRequest> starts_;
  std::vector<v1::ListSagasRequest> list_requests_;
  std::vector<v1::AwaitSagaRequest> awaits_;
  std::vector<v1::RerunSagaRequest> reruns_;
  std::vector<v1::SignalSagaRequest> signals_;
  v1::WatchEventsRequest last_events_request_;
  std::string last_authorization_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Runs `sagactl --address <fake> args...`.
  Result Run(std::vector<std::string> args, const std::string& stdin_text = "",
             bool with_address = true) {
    std::vector<std::string> full = {"sagactl"};
    if (with_address) {
      full.push_back("--address");
      full.push_back(address_);
    }
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const std::string& arg : full) argv.push_back(arg.c_str());
    std::istringstream in(stdin_text);
    std::ostringstream out;
    std::ostringstream err;
    int code = RunCli(static_cast<int>(argv.size()), argv.data(), in, out, err);
    return {code, out.str(), err.str()};
  }

  FakeOrchestrator fake_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(CliTest, HelpDocumentsExitCodesAndExitsZero) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(r.out.find("SAGACTL_ADDRESS"), std::string::npos);
  for (const char* command :
       {"start", "show", "list", "history", "await", "cancel", "signal",
        "retry", "skip-step", "mark-compensated", "watch", "export", "replay",
        "definitions"}) {
    EXPECT_NE(r.out.find(std::string("  ") + command + " "), std::string::npos)
        << command;
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"show"},
      {"-o", "yaml", "list"},
      {"list", "--status", "done"},
      {"list", "--limit", "0"},
      {"list", "--all", "--limit", "3"},
      {"await", "00000000-0000-4000-8000-000000000001", "--timeout", "10"},
      {"cancel", "00000000-0000-4000-8000-000000000001"},
      {"start", "ok"},
      {"start", "ok", "--input", "{not json"},
      {"start", "ok", "--input", "[1, 2]"},
      {"start", "ok", "--input", "@/nonexistent/input.json"},
      {"list", "--since", "yesterday"},
      {"retry", "00000000-0000-4000-8000-000000000001"},
      {"skip-step", "00000000-0000-4000-8000-000000000001", "--reason", "x"},
      {"mark-compensated", "00000000-0000-4000-8000-000000000001"},
      {"watch"},
      {"export"},
      {"replay"},
      {"replay", "/nonexistent/history.json"},
      {"definitions", "validate"},
      {"definitions", "validate", "/nonexistent/x.yaml"},
      {"definitions", "check", "/nonexistent/x.yaml"},
      // A directory used to abort sagactl with an uncaught exception.
      {"definitions", "validate", ::testing::TempDir()},
      {"signal", "00000000-0000-4000-8000-000000000001"},
      {"signal", "00000000-0000-4000-8000-000000000001", "approval",
       "--payload", "[1]"},
      {"pause", "doctor"},
      {"pause", "--reason", "outage"},
      {"resume"},
      {"start", "ok", "--input", "{}", "--start-at", "tomorrow"},
  };
  for (const auto& args : cases) {
    Result r = Run(args);
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    EXPECT_EQ(r.code, kExitUsage) << joined << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("sagactl: ", 0), 0u) << joined << "\n" << r.err;
  }
  EXPECT_TRUE(fake_.starts().empty());
}

// Re-serialising the object would have kept only the last value and sent
// a saga that the operator did not write.
TEST_F(CliTest, StartRefusesAnInputWithAKeyTwice) {
  Result r = Run({"start", "ok", "--input",
                  R"({"patient_id":"p-1003","patient_id":"p-1001"})"});
  EXPECT_EQ(r.code, kExitUsage) << r.err;
  EXPECT_EQ(r.err, "sagactl: --input has the key 'patient_id' twice\n");
  r = Run({"start", "ok", "--input", "@-"}, R"({"a":{"b":1,"b":2}})");
  EXPECT_EQ(r.code, kExitUsage) << r.err;
  EXPECT_EQ(r.err, "sagactl: standard input has the key 'b' twice in a\n");
  EXPECT_TRUE(fake_.starts().empty());
}

TEST_F(CliTest, StartPrintsTheIdOrJson) {
  Result table = Run({"start", "ok", "--input", R"({"patient_id": "p1"})"});
  EXPECT_EQ(table.code, kExitOk) << table.err;
  EXPECT_EQ(table.out, "00000000-0000-4000-8000-000000000001\n");
  ASSERT_EQ(fake_.starts().size(), 1u);
  EXPECT_EQ(fake_.starts()[0].input_json(), R"({"patient_id":"p1"})");

  Result json_out = Run({"-o", "json", "start", "ok", "--input", "{}",
                         "--idempotency-key", "k1"});
  EXPECT_EQ(json_out.code, kExitOk) << json_out.err;
  EXPECT_EQ(json::parse(json_out.out),
            json({{"saga_id", "00000000-0000-4000-8000-000000000002"},
                  {"created", true}}));

  Result again = Run({"start", "ok", "--input", "{}", "--idempotency-key", "k1",
                      "-o", "json"});
  EXPECT_EQ(again.code, kExitOk);
  EXPECT_EQ(json::parse(again.out)["created"], false);
  EXPECT_NE(again.err.find("already existed"), std::string::npos);
}

TEST_F(CliTest, StartReadsInputFromFileAndStdin) {
  std::string path = ::testing::TempDir() + "sagactl_input.json";
  {
    std::ofstream file(path);
    file << "{\n  \"doctor_id\": \"d1\"\n}\n";
  }
  EXPECT_EQ(Run({"start", "ok", "--input", "@" + path}).code, kExitOk);
  EXPECT_EQ(Run({"start", "ok", "--input", "@-"}, R"({"a": [1]})").code,
            kExitOk);
  std::remove(path.c_str());
  ASSERT_EQ(fake_.starts().size(), 2u);
  EXPECT_EQ(fake_.starts()[0].input_json(), R"({"doctor_id":"d1"})");
  EXPECT_EQ(fake_.starts()[1].input_json(), R"({"a":[1]})");
}

TEST_F(CliTest, StartUnknownTypeExitsThree) {
  Result r = Run({"start", "nope", "--input", "{}"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.err, "sagactl: NOT_FOUND: unknown saga type nope\n");
}

TEST_F(CliTest, StartWaitPrintsTheSagaAsShowDoes) {
  Result r = Run({"start", "ok", "--input", R"({"p": 1})", "--wait"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, Run({"show", "00000000-0000-4000-8000-000000000001"}).out);
  EXPECT_NE(r.out.find("Status:           COMPLETED"), std::string::npos);
  ASSERT_EQ(fake_.awaits().size(), 1u);
  EXPECT_EQ(fake_.awaits()[0].saga_id(),
            "00000000-0000-4000-8000-000000000001");
}

TEST_F(CliTest, StartWaitOnACompensatedSagaExitsFive) {
  Result r = Run({"-o", "json", "start", "doomed", "--input", R"({"p": 1})",
                  "--wait", "--timeout", "30s"});
  EXPECT_EQ(r.code, kExitSagaEndedBadly);
  EXPECT_EQ(r.err,
            "sagactl: saga 00000000-0000-4000-8000-000000000001 ended "
            "COMPENSATED: reserve_slot: slot "
            "taken\n");
  json value = json::parse(r.out);
  EXPECT_EQ(value["saga"]["status"], "SAGA_STATUS_COMPENSATED");
  EXPECT_EQ(value["saga"]["input_json"]["p"], 1);
  EXPECT_EQ(value["events"][0]["data_json"]["p"], 1);
  ASSERT_EQ(fake_.awaits().size(), 1u);
  EXPECT_LE(fake_.awaits()[0].timeout_ms(), 30000);
  EXPECT_GT(fake_.awaits()[0].timeout_ms(), 25000);
}

TEST_F(CliTest, ShowPrintsStepsAndTimeline) {
  ASSERT_EQ(Run({"start", "doomed", "--input", "{}"}).code, kExitOk);
  Result r = Run({"show", "00000000-0000-4000-8000-000000000001"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Status:           COMPENSATED\n"), std::string::npos);
  EXPECT_NE(r.out.find("reserve_slot  FAILED  1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SagaStarted"), std::string::npos);
  // Global flags may follow the command.
  Result json_out =
      Run({"show", "00000000-0000-4000-8000-000000000001", "-o", "json"});
  EXPECT_EQ(json::parse(json_out.out)["saga"]["saga_id"],
            "00000000-0000-4000-8000-000000000001");
}

TEST_F(CliTest, ShowUnknownSagaExitsThree) {
  Result r = Run({"show", "00000000-0000-4000-8000-0000000000ee"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "sagactl: NOT_FOUND: saga 00000000-0000-4000-8000-0000000000ee not "
            "found\n");
}

TEST_F(CliTest, ServerSideUnavailableIsAnOrdinaryError) {
  Result r = Run({"history", "00000000-0000-4000-8000-00000000db0d"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "sagactl: UNAVAILABLE: database down\n");
}

TEST_F(CliTest, HistoryPrintsEvents) {
  ASSERT_EQ(Run({"start", "ok", "--input", R"({"x": true})"}).code, kExitOk);
  Result table = Run({"history", "00000000-0000-4000-8000-000000000001"});
  EXPECT_EQ(table.code, kExitOk);
  EXPECT_EQ(table.out.rfind("TIME ", 0), 0u) << table.out;
  Result json_out =
      Run({"history", "00000000-0000-4000-8000-000000000001", "-o", "json"});
  json value = json::parse(json_out.out);
  EXPECT_EQ(value["saga_id"], "00000000-0000-4000-8000-000000000001");
  EXPECT_EQ(value["events"][0]["data_json"]["x"], true);
}

TEST_F(CliTest, ListLimitsAndFollowsPages) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Run({"start", i == 3 ? "doomed" : "ok", "--input", "{}"}).code,
              kExitOk);
  }
  Result limited = Run({"-o", "json", "list", "--limit", "3"});
  EXPECT_EQ(limited.code, kExitOk) << limited.err;
  json page = json::parse(limited.out);
  EXPECT_EQ(page["sagas"].size(), 3u);
  EXPECT_FALSE(page["next_page_token"].get<std::string>().empty());

  Result table = Run({"list", "--limit", "3"});
  EXPECT_NE(table.err.find("use --all"), std::string::npos);
  EXPECT_EQ(table.out.rfind("ID ", 0), 0u) << table.out;

  size_t requests_before = fake_.list_requests().size();
  Result all = Run({"list", "--all", "-o", "json"});
  EXPECT_EQ(all.code, kExitOk) << all.err;
  json everything = json::parse(all.out);
  ASSERT_EQ(everything["sagas"].size(), 5u);
  EXPECT_EQ(everything["sagas"][4]["saga_id"],
            "00000000-0000-4000-8000-000000000005");
  EXPECT_EQ(everything["next_page_token"], "");
  EXPECT_EQ(fake_.list_requests().size() - requests_before, 3u);
}

TEST_F(CliTest, ListStatusAcceptsShortAndFullNames) {
  Run({"start", "ok", "--input", "{}"});
  Run({"start", "doomed", "--input", "{}"});
  for (const char* status : {"compensated", "SAGA_STATUS_COMPENSATED"}) {
    Result r = Run({"list", "--status", status, "--type", "doomed"});
    EXPECT_EQ(r.code, kExitOk) << r.err;
    EXPECT_EQ(fake_.list_requests().back().status(),
              v1::SAGA_STATUS_COMPENSATED);
    EXPECT_EQ(fake_.list_requests().back().saga_type(), "doomed");
    EXPECT_NE(r.out.find("00000000-0000-4000-8000-000000000002"),
              std::string::npos);
    EXPECT_EQ(r.out.find("00000000-0000-4000-8000-000000000001"),
              std::string::npos);
  }
}

TEST_F(CliTest, AwaitReportsTimeoutStepAndEnding) {
  Run({"start", "slow", "--input", "{}"});
  Run({"start", "ok", "--input", "{}"});
  Run({"start", "doomed", "--input", "{}"});

  Result timed_out =
      Run({"await", "00000000-0000-4000-8000-000000000001", "--timeout", "0"});
  EXPECT_EQ(timed_out.code, kExitError);
  EXPECT_EQ(timed_out.err,
            "sagactl: DEADLINE_EXCEEDED: saga "
            "00000000-0000-4000-8000-000000000001 is still RUNNING after "
            "0ms\n");
  EXPECT_NE(timed_out.out.find("Status:           RUNNING"), std::string::npos);

  Result step =
      Run({"-o", "json", "await", "00000000-0000-4000-8000-000000000002",
           "--step", "reserve_slot"});
  EXPECT_EQ(step.code, kExitOk) << step.err;
  EXPECT_EQ(json::parse(step.out)["reached"], true);
  EXPECT_EQ(fake_.awaits().back().step(), "reserve_slot");
  EXPECT_EQ(fake_.awaits().back().timeout_ms(), 600000);

  EXPECT_EQ(Run({"await", "00000000-0000-4000-8000-000000000003"}).code,
            kExitSagaEndedBadly);
  EXPECT_EQ(Run({"await", "00000000-0000-4000-8000-0000000000ff"}).code,
            kExitNotFound);
}

TEST_F(CliTest, CancelSendsTheReason) {
  Run({"start", "slow", "--input", "{}"});
  Run({"start", "slow", "--input", "{}"});
  Result r = Run({"cancel", "00000000-0000-4000-8000-000000000001", "--reason",
                  "patient called"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("cancelled: patient called"), std::string::npos);
  EXPECT_NE(r.out.find("COMPENSATING"), std::string::npos);
  Result json_out = Run({"cancel", "00000000-0000-4000-8000-000000000002",
                         "--reason", "x", "-o", "json"});
  EXPECT_EQ(json_out.code, kExitOk) << json_out.err;
  json value = json::parse(json_out.out);
  EXPECT_EQ(value["saga"]["status"], "SAGA_STATUS_COMPENSATING");
  EXPECT_EQ(value["saga"]["error"], "cancelled: x");
}

TEST_F(CliTest, SignalSendsTheNameThePayloadAndAStableKey) {
  Run({"start", "slow", "--input", "{}"});
  Result r = Run({"signal", "00000000-0000-4000-8000-000000000001", "approval",
                  "--payload", R"({"approved_by": "dr. who"})"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Signals:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(kept)"), std::string::npos) << r.out;
  Run({"signal", "00000000-0000-4000-8000-000000000001", "approval",
       "--payload", R"({"approved_by":"dr. who"})"});
  Run({"signal", "00000000-0000-4000-8000-000000000001", "approval", "--key",
       "mine"});
  std::vector<v1::SignalSagaRequest> sent = fake_.signals();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].name(), "approval");
  EXPECT_EQ(sent[0].payload_json(), R"({"approved_by":"dr. who"})");
  // The same signal again gets the same key, so a resend is harmless.
  EXPECT_EQ(sent[0].idempotency_key(), sent[1].idempotency_key());
  EXPECT_EQ(sent[0].idempotency_key().rfind("sagactl-approval-", 0), 0u);
  EXPECT_EQ(sent[2].idempotency_key(), "mine");
  EXPECT_EQ(sent[2].payload_json(), "{}");
  EXPECT_EQ(
      Run({"signal", "00000000-0000-4000-8000-0000000000ff", "approval"}).code,
      kExitNotFound);
}

TEST_F(CliTest, StartAtSchedulesFromADurationOrATime) {
  Run({"start", "ok", "--input", "{}", "--start-at", "2026-12-24T09:00:00Z"});
  const int64_t before =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  Run({"start", "ok", "--input", "{}", "--start-at", "10m"});
  std::vector<v1::StartSagaRequest> starts = fake_.starts();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].start_at_unix_ms(), 1798102800000);
  EXPECT_GE(starts[1].start_at_unix_ms(), before + 600000);
  EXPECT_LT(starts[1].start_at_unix_ms(), before + 660000);
}

TEST_F(CliTest, CancelAfterTheEndIsAnOrdinaryError) {
  Run({"start", "ok", "--input", "{}"});
  Result r = Run({"cancel", "00000000-0000-4000-8000-000000000001", "--reason",
                  "too late"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "sagactl: FAILED_PRECONDITION: saga "
            "00000000-0000-4000-8000-000000000001 has ended\n");
}

TEST_F(CliTest, UnreachableServerExitsFour) {
  std::string closed = address_;
  server_->Shutdown();
  server_.reset();
  Result r = Run({"show", "00000000-0000-4000-8000-000000000001"});
  EXPECT_EQ(r.code, kExitUnreachable);
  EXPECT_EQ(
      r.err.rfind("sagactl: cannot reach the orchestrator at " + closed + ": ",
                  0),
      0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(CliTest, AddressComesFromTheEnvironment) {
  ASSERT_EQ(setenv("SAGACTL_ADDRESS", address_.c_str(), 1), 0);
  Result r = Run({"start", "ok", "--input", "{}"}, "", /*with_address=*/false);
  unsetenv("SAGACTL_ADDRESS");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "00000000-0000-4000-8000-000000000001\n");
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  return path;
}

TEST_F(CliTest, ListSinceFiltersByCreationTime) {
  Result r = Run({"list", "--since", "1h"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  ASSERT_FALSE(fake_.list_requests().empty());
  const int64_t after = fake_.list_requests().back().created_after_unix_ms();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_GT(after, now - 3600000 - 60000);
  EXPECT_LE(after, now - 3600000);
  Run({"list"});
  EXPECT_EQ(fake_.list_requests().back().created_after_unix_ms(), 0);
}

TEST_F(CliTest, RepairsSendTheOperatorAndTheReason) {
  Run({"start", "slow", "--input", "{}"});
  ASSERT_EQ(setenv("SAGACTL_OPERATOR", "alice", 1), 0);
  Result retry = Run({"retry", "00000000-0000-4000-8000-000000000001",
                      "--reason", "doctor service is back"});
  Result skip =
      Run({"skip-step", "00000000-0000-4000-8000-000000000001", "reserve_slot",
           "--reason", "released by phone", "-o", "json"});
  Result mark = Run({"mark-compensated", "00000000-0000-4000-8000-000000000001",
                     "--reason", "refunded by hand"});
  unsetenv("SAGACTL_OPERATOR");
  Result anonymous = Run(
      {"retry", "00000000-0000-4000-8000-000000000001", "--reason", "again"});
  EXPECT_EQ(retry.code, kExitOk) << retry.err;
  EXPECT_NE(retry.out.find("retry by alice"), std::string::npos) << retry.out;
  EXPECT_EQ(skip.code, kExitOk) << skip.err;
  EXPECT_EQ(json::parse(skip.out)["saga"]["error"], "skip-step by alice");
  EXPECT_EQ(mark.code, kExitOk) << mark.err;
  EXPECT_EQ(anonymous.code, kExitOk) << anonymous.err;
  std::vector<std::string> repairs = fake_.repairs();
  ASSERT_EQ(repairs.size(), 4u);
  EXPECT_EQ(repairs[0],
            "retry 00000000-0000-4000-8000-000000000001 by alice: doctor "
            "service is back");
  EXPECT_EQ(repairs[1],
            "skip-step 00000000-0000-4000-8000-000000000001 reserve_slot by "
            "alice: released by phone");
  EXPECT_EQ(repairs[2],
            "mark-compensated 00000000-0000-4000-8000-000000000001 by alice: "
            "refunded by hand");
  // Without SAGACTL_OPERATOR: the OS user, never empty.
  EXPECT_EQ(
      repairs[3].rfind("retry 00000000-0000-4000-8000-000000000001 by ", 0),
      0u);
  EXPECT_EQ(repairs[3].find("by :"), std::string::npos) << repairs[3];

  EXPECT_EQ(
      Run({"retry", "00000000-0000-4000-8000-0000000000ff", "--reason", "x"})
          .code,
      kExitNotFound);
}

TEST_F(CliTest, WatchPrintsEventsAndExitsPerTheEnding) {
  fake_.Install(RecordBooking("00000000-0000-4000-8000-00000000600d",
                              /*notify_fails=*/false));
  fake_.Install(RecordBooking("00000000-0000-4000-8000-000000000bad",
                              /*notify_fails=*/true));
  Result good = Run({"watch", "00000000-0000-4000-8000-00000000600d"});
  EXPECT_EQ(good.code, kExitOk) << good.err;
  EXPECT_EQ(good.out.rfind("12:00:00.000  #1    SagaStarted ", 0), 0u)
      << good.out;
  EXPECT_NE(good.out.find("#5    StepFailed                  reserve_doctor "
                          "attempt 1  {\"error\":\"refused\""),
            std::string::npos)
      << good.out;
  EXPECT_NE(good.out.find(
                "Saga 00000000-0000-4000-8000-00000000600d ended COMPLETED.\n"),
            std::string::npos);

  Result bad =
      Run({"watch", "00000000-0000-4000-8000-000000000bad", "-o", "json"});
  EXPECT_EQ(bad.code, kExitSagaEndedBadly);
  std::istringstream lines(bad.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    json event = json::parse(line);
    EXPECT_EQ(event["seq"], std::to_string(++count));  // int64: a string
  }
  EXPECT_GT(count, 10);
  EXPECT_EQ(bad.err.rfind("sagactl: saga 00000000-0000-4000-8000-000000000bad "
                          "ended COMPENSATED: ",
                          0),
            0u)
      << bad.err;
  EXPECT_EQ(Run({"watch", "00000000-0000-4000-8000-0000000000ff"}).code,
            kExitNotFound);
}

TEST_F(CliTest, EventsPrintsTheOutboxStreamAndPassesTheFilters) {
  Result table = Run({"events"});
  EXPECT_EQ(table.code, kExitOk) << table.err;
  EXPECT_EQ(table.out,
            "12:00:00.000  #7  saga.started               good  "
            "{\"input\":{\"patient_id\":\"p-1\"}}\n"
            "12:00:01.500  #3  saga.step.succeeded        good  notify  "
            "{\"output\":{}}\n");
  v1::WatchEventsRequest sent = fake_.LastEventsRequest();
  EXPECT_EQ(sent.from_position(), 0);
  EXPECT_FALSE(sent.follow());

  Result json_lines =
      Run({"events", "--from", "5", "--follow", "--saga-type",
           "appointment_booking", "--type", "saga.started", "-o", "json"});
  EXPECT_EQ(json_lines.code, kExitOk) << json_lines.err;
  sent = fake_.LastEventsRequest();
  EXPECT_EQ(sent.from_position(), 5);
  EXPECT_TRUE(sent.follow());
  EXPECT_EQ(sent.saga_type(), "appointment_booking");
  EXPECT_EQ(sent.type(), "saga.started");
  std::istringstream lines(json_lines.out);
  std::string line;
  std::vector<std::string> positions;
  while (std::getline(lines, line)) {
    json event = json::parse(line);
    positions.push_back(event["position"]);  // int64: a string
    EXPECT_TRUE(event["payload_json"].is_object()) << line;
  }
  EXPECT_EQ(positions, (std::vector<std::string>{"7", "3"}));

  EXPECT_EQ(Run({"events", "--from", "-1"}).code, kExitUsage);
  Result pruned = Run({"events", "--from", "99"});
  EXPECT_NE(pruned.code, kExitOk);
  EXPECT_NE(pruned.err.find("position 99 does not exist"), std::string::npos)
      << pruned.err;
}

TEST_F(CliTest, DefinitionsListsTypesAndVersions) {
  Result r = Run({"definitions"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out.rfind("TYPE                 VERSION  CURRENT  STEPS", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("appointment_booking  1        yes      "
                       "validate_patient > reserve_doctor > notify"),
            std::string::npos)
      << r.out;
  Result j = Run({"definitions", "-o", "json"});
  EXPECT_EQ(json::parse(j.out)["definitions"][0]["steps"].size(), 3u);
}

TEST_F(CliTest, DefinitionsValidateIsOfflineAndUsesTheLoader) {
  std::string good = WriteTemp("good.yaml", BookingSource());
  std::string bad = BookingSource();
  bad.replace(bad.find("max_attempts: 5"), 15, "max_attempts: 0");
  std::string bad_path = WriteTemp("bad.yaml", bad);
  server_->Shutdown();
  server_.reset();

  Result ok = Run({"definitions", "validate", good});
  EXPECT_EQ(ok.code, kExitOk) << ok.err;
  EXPECT_EQ(ok.out, good +
                        ": OK: appointment_booking version 1, 3 steps: "
                        "validate_patient (read_only) > reserve_doctor "
                        "(compensatable) > notify (pivot)\n");
  Result invalid = Run({"definitions", "validate", bad_path});
  EXPECT_EQ(invalid.code, kExitUsage);
  EXPECT_EQ(invalid.err, "sagactl: " + bad_path +
                             ": step 'validate_patient': field "
                             "'retry.max_attempts': must be >= 1\n");
  Result invalid_json =
      Run({"definitions", "validate", bad_path, "-o", "json"});
  EXPECT_EQ(invalid_json.code, kExitUsage);
  EXPECT_EQ(json::parse(invalid_json.out)["ok"], false);
  Result ok_json = Run({"-o", "json", "definitions", "validate", good});
  json value = json::parse(ok_json.out);
  EXPECT_EQ(value["version"], 1);
  EXPECT_EQ(value["steps"][2]["kind"], "pivot");
}

TEST_F(CliTest, ExportWritesAHistoryThatReplaysOffline) {
  fake_.Install(RecordBooking("00000000-0000-4000-8000-00000005600d", false));
  fake_.Install(RecordBooking("00000000-0000-4000-8000-000000005bad", true));
  Result good = Run({"export", "00000000-0000-4000-8000-00000005600d"});
  ASSERT_EQ(good.code, kExitOk) << good.err;
  json doc = json::parse(good.out);
  EXPECT_EQ(doc["format"], "saga-history/v1");
  EXPECT_EQ(doc["saga"]["status"], "COMPLETED");
  EXPECT_EQ(doc["saga"]["input"]["patient_id"], "p-1");
  EXPECT_EQ(doc["definition"]["source_yaml"], BookingSource());
  EXPECT_EQ(doc["events"][4]["step"], "reserve_doctor");
  std::string good_path = WriteTemp("s-good.json", good.out);
  Result bad = Run({"export", "00000000-0000-4000-8000-000000005bad"});
  ASSERT_EQ(bad.code, kExitOk) << bad.err;
  std::string bad_path = WriteTemp("s-bad.json", bad.out);
  EXPECT_EQ(Run({"export", "00000000-0000-4000-8000-0000000000ff"}).code,
            kExitNotFound);

  // Offline from here on.
  server_->Shutdown();
  server_.reset();
  Result replayed = Run({"replay", good_path, bad_path});
  EXPECT_EQ(replayed.code, kExitOk) << replayed.err;
  EXPECT_EQ(replayed.out,
            good_path + ": OK (11 events; ends COMPLETED; next: finished)\n" +
                bad_path +
                ": OK (14 events; ends COMPENSATED; next: finished)\n");
  Result as_json = Run({"replay", good_path, "-o", "json"});
  EXPECT_EQ(as_json.code, kExitOk);
  EXPECT_EQ(json::parse(as_json.out)["histories"][0]["final_status"],
            "COMPLETED");
}

TEST_F(CliTest, ReplayReportsTheFirstDivergenceAndExitsSix) {
  fake_.Install(RecordBooking("00000000-0000-4000-8000-0000000000a1", false));
  Result exported = Run({"export", "00000000-0000-4000-8000-0000000000a1"});
  ASSERT_EQ(exported.code, kExitOk) << exported.err;
  json doc = json::parse(exported.out);
  std::string good_path = WriteTemp("ok.json", exported.out);
  // Someone recorded a business failure as retryable.
  ASSERT_EQ(doc["events"][4]["type"], "StepFailed");
  doc["events"][4]["data"]["retryable"] = false;
  std::string edited = WriteTemp("edited.json", doc.dump(2));
  std::string broken = WriteTemp("broken.json", "{\"format\": 1}");

  Result r = Run({"replay", good_path, edited});
  EXPECT_EQ(r.code, kExitDiverged) << r.err;
  EXPECT_NE(
      r.out.find(edited + ": DIVERGES at event 5 (seq 6): the code decides "
                          "CompensationStarted where RetryScheduled "
                          "reserve_doctor attempt 2 was recorded\n"
                          "  recorded: {\"seq\":6,\"type\":\"RetryScheduled\""),
      std::string::npos)
      << r.out;
  EXPECT_EQ(r.err,
            "sagactl: 1 of 2 histories diverges from what the code now "
            "decides\n");

  Result unreadable = Run({"replay", good_path, broken});
  EXPECT_EQ(unreadable.code, kExitUsage);
  EXPECT_NE(unreadable.out.find(broken + ": ERROR: " + broken +
                                ": field 'format' must be a string"),
            std::string::npos)
      << unreadable.out;

  // A new version with fewer attempts for reserve_doctor strands it.
  std::string v2 = BookingSource();
  v2.replace(v2.find("version: 1"), 10, "version: 2");
  v2.replace(v2.find("max_attempts: 5", v2.find("name: reserve_doctor")), 15,
             "max_attempts: 1");
  std::string v2_path = WriteTemp("v2.yaml", v2);
  Result against = Run({"replay", good_path, "--definition", v2_path});
  EXPECT_EQ(against.code, kExitDiverged);
  EXPECT_NE(against.out.find("DIVERGES at event 5 (seq 6): the code decides "
                             "CompensationStarted where RetryScheduled"),
            std::string::npos)
      << against.out;
  std::string other = v2;
  other.replace(other.find("name: appointment_booking"), 25, "name: other");
  Result wrong_type =
      Run({"replay", good_path, "--definition", WriteTemp("o.yaml", other)});
  EXPECT_EQ(wrong_type.code, kExitUsage);
  EXPECT_NE(wrong_type.out.find("cannot replay against a definition of other"),
            std::string::npos);
}

TEST_F(CliTest, DefinitionsCheckReportsStrandedSagas) {
  Recorded running = RecordBooking("s-run", false);
  running.saga.set_status(v1::SAGA_STATUS_RUNNING);
  running.events.resize(9);  // notify in flight
  fake_.Install(running);
  Recorded early = RecordBooking("s-early", false);
  early.saga.set_status(v1::SAGA_STATUS_RUNNING);
  early.events.resize(4);  // reserve_doctor's first call in flight
  fake_.Install(early);
  fake_.Install(RecordBooking("s-done", false));
  Run({"start", "slow", "--input", "{}"});  // another type

  std::string v2 = BookingSource();
  v2.replace(v2.find("version: 1"), 10, "version: 2");
  v2.replace(v2.find("max_attempts: 5", v2.find("name: reserve_doctor")), 15,
             "max_attempts: 1");
  std::string v2_path = WriteTemp("check-v2.yaml", v2);
  Result r = Run({"definitions", "check", v2_path});
  EXPECT_EQ(r.code, kExitDiverged) << r.err;
  EXPECT_NE(r.out.find("Replaying 2 unfinished appointment_booking sagas "
                       "against version 2:"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("s-run    RUNNING  1        STRANDED at event 5"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("s-early  RUNNING  1        OK"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.err,
            "sagactl: 1 of 2 unfinished sagas would be stranded by "
            "appointment_booking version 2\n");
  for (const v1::ListSagasRequest& request : fake_.list_requests()) {
    EXPECT_EQ(request.saga_type(), "appointment_booking");
  }

  Result compatible =
      Run({"definitions", "check", WriteTemp("v1.yaml", BookingSource())});
  EXPECT_EQ(compatible.code, kExitOk) << compatible.out << compatible.err;
  Result json_out = Run({"-o", "json", "definitions", "check", v2_path});
  json value = json::parse(json_out.out);
  EXPECT_EQ(value["sagas"].size(), 2u);
  EXPECT_EQ(value["sagas"][0]["stranded"], true);
}

TEST_F(CliTest, BulkRetryRepairsEveryMatchAndReportsEachSaga) {
  const std::string a = "00000000-0000-4000-8000-0000000000b1";
  const std::string b = "00000000-0000-4000-8000-0000000000b2";
  const std::string c = "00000000-0000-4000-8000-0000000000b3";
  fake_.Install(RecordBooking(a, true));
  fake_.Install(RecordBooking(b, true));
  fake_.Install(RecordBooking(c, false));

  // An id and a filter exclude each other; skip-step needs --step.
  EXPECT_EQ(Run({"retry", a, "--status", "COMPENSATED", "--reason", "x"}).code,
            kExitUsage);
  EXPECT_EQ(Run({"retry", a, "--dry-run", "--reason", "x"}).code, kExitUsage);
  EXPECT_EQ(
      Run({"skip-step", "--status", "FAILED", "--reason", "x", "--yes"}).code,
      kExitUsage);
  // A repair needs a reason; a dry run, which repairs nothing, does not.
  EXPECT_EQ(Run({"retry", "--status", "COMPENSATED", "--yes"}).code,
            kExitUsage);
  EXPECT_EQ(Run({"retry", a}).code, kExitUsage);
  Result listed = Run({"retry", "--status", "COMPENSATED", "--dry-run"});
  ASSERT_EQ(listed.code, kExitOk) << listed.err;
  EXPECT_NE(listed.out.find(a), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(c), std::string::npos) << listed.out;
  EXPECT_TRUE(fake_.repairs().empty());

  // The fake answers two sagas a page: the ids are collected across pages.
  Result r = Run({"retry", "--status", "COMPENSATED", "--reason", "again",
                  "--yes", "-o", "json", "--parallel", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.err.find("2 sagas match (COMPENSATED 2)"), std::string::npos)
      << r.err;
  std::istringstream lines(r.out);
  std::set<std::string> done;
  for (std::string line; std::getline(lines, line);) {
    const json result = json::parse(line);
    EXPECT_EQ(result["outcome"], "done") << line;
    EXPECT_EQ(result["code"], "OK") << line;
    done.insert(result["saga_id"].get<std::string>());
  }
  EXPECT_EQ(done, (std::set<std::string>{a, b}));
  EXPECT_EQ(fake_.repairs().size(), 2u);
}

TEST_F(CliTest, SendsTheBearerTokenFromFlagFileOrEnvironment) {
  fake_.Install(RecordBooking("00000000-0000-4000-8000-0000000000a1", false));
  const std::string file = WriteTemp("token", "from-file\nignored\n");
  unsetenv("SAGACTL_TOKEN");
  unsetenv("SAGACTL_TOKEN_FILE");

  EXPECT_EQ(Run({"show", "00000000-0000-4000-8000-0000000000a1"}).code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "");
  EXPECT_EQ(Run({"--token", "from-flag", "show",
                 "00000000-0000-4000-8000-0000000000a1"})
                .code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "Bearer from-flag");
  EXPECT_EQ(Run({"show", "00000000-0000-4000-8000-0000000000a1", "--token-file",
                 file})
                .code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "Bearer from-file");

  setenv("SAGACTL_TOKEN", "from-env", 1);
  EXPECT_EQ(Run({"show", "00000000-0000-4000-8000-0000000000a1"}).code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "Bearer from-env");
  // A flag wins over the environment.
  EXPECT_EQ(Run({"--token-file", file, "show",
                 "00000000-0000-4000-8000-0000000000a1"})
                .code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "Bearer from-file");
  unsetenv("SAGACTL_TOKEN");
  setenv("SAGACTL_TOKEN_FILE", file.c_str(), 1);
  EXPECT_EQ(Run({"show", "00000000-0000-4000-8000-0000000000a1"}).code,
            kExitOk);
  EXPECT_EQ(fake_.last_authorization(), "Bearer from-file");
  unsetenv("SAGACTL_TOKEN_FILE");
}

TEST_F(CliTest, BadTokenOrTlsOptionsAreUsageErrors) {
  Result both = Run({"--token", "t", "--token-file", "f", "show",
                     "00000000-0000-4000-8000-0000000000a1"});
  EXPECT_EQ(both.code, kExitUsage);
  EXPECT_EQ(both.err, "sagactl: give --token or --token-file, not both\n");
  Result missing = Run({"--token-file", "/nonexistent/token", "show",
                        "00000000-0000-4000-8000-0000000000a1"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_NE(missing.err.find("/nonexistent/token"), std::string::npos);
  Result empty = Run({"--token-file", WriteTemp("empty", "\n"), "show", "x"});
  EXPECT_EQ(empty.code, kExitUsage);
  Result no_ca = Run({"--tls-ca", "/nonexistent/ca.pem", "show",
                      "00000000-0000-4000-8000-0000000000a1"});
  EXPECT_EQ(no_ca.code, kExitUsage);
  EXPECT_NE(no_ca.err.find("cannot read CA bundle /nonexistent/ca.pem"),
            std::string::npos)
      << no_ca.err;
  Result half = Run(
      {"--tls-cert", "c.pem", "show", "00000000-0000-4000-8000-0000000000a1"});
  EXPECT_EQ(half.code, kExitUsage);
}

TEST_F(CliTest, RefusedCallsExitSeven) {
  Result r = Run({"show", kDeniedSaga});
  EXPECT_EQ(r.code, kExitDenied);
  EXPECT_EQ(r.err,
            "sagactl: PERMISSION_DENIED: token 'svc' (submitter) may not call "
            "GetSaga\n");
}

// `sagactl NOUN VERB` and the short forms of earlier releases run the same
// command: same exit code, same output.
TEST_F(CliTest, NounVerbSpellingsAndShortFormsRunTheSameCommand) {
  ASSERT_EQ(Run({"saga", "start", "ok", "--input", "{}"}).out,
            "00000000-0000-4000-8000-000000000001\n");
  ASSERT_EQ(Run({"start", "doomed", "--input", "{}"}).out,
            "00000000-0000-4000-8000-000000000002\n");
  const std::string good = WriteTemp("good.yaml", BookingSource());
  using Args = std::vector<std::string>;
  const std::vector<std::pair<Args, Args>> same = {
      {{"saga", "show", "00000000-0000-4000-8000-000000000001", "-o", "json"},
       {"show", "00000000-0000-4000-8000-000000000001", "-o", "json"}},
      {{"-o", "json", "saga", "list"}, {"-o", "json", "list"}},
      {{"saga", "history", "00000000-0000-4000-8000-000000000001", "-o",
        "json"},
       {"history", "00000000-0000-4000-8000-000000000001", "-o", "json"}},
      {{"-o", "json", "saga", "await", "00000000-0000-4000-8000-000000000002"},
       {"-o", "json", "await", "00000000-0000-4000-8000-000000000002"}},
      {{"saga", "cancel", "00000000-0000-4000-8000-0000000000ff", "--reason",
        "x"},
       {"cancel", "00000000-0000-4000-8000-0000000000ff", "--reason", "x"}},
      {{"saga", "retry", "00000000-0000-4000-8000-0000000000ff", "--reason",
        "x"},
       {"retry", "00000000-0000-4000-8000-0000000000ff", "--reason", "x"}},
      {{"saga", "skip-step", "00000000-0000-4000-8000-0000000000ff", "s",
        "--reason", "x"},
       {"skip-step", "00000000-0000-4000-8000-0000000000ff", "s", "--reason",
        "x"}},
      {{"saga", "mark-compensated", "00000000-0000-4000-8000-0000000000ff",
        "--reason", "x"},
       {"mark-compensated", "00000000-0000-4000-8000-0000000000ff", "--reason",
        "x"}},
      {{"saga", "watch", "00000000-0000-4000-8000-0000000000ff"},
       {"watch", "00000000-0000-4000-8000-0000000000ff"}},
      {{"saga", "export", "00000000-0000-4000-8000-0000000000ff"},
       {"export", "00000000-0000-4000-8000-0000000000ff"}},
      {{"saga", "replay", "/nonexistent/h.json"},
       {"replay", "/nonexistent/h.json"}},
      {{"definition", "list"}, {"definitions"}},
      {{"definitions", "list"}, {"definitions"}},
      {{"definition", "validate", good}, {"definitions", "validate", good}},
      {{"definition", "check", "/nonexistent/x.yaml"},
       {"definitions", "check", "/nonexistent/x.yaml"}},
      {{"events", "watch", "--from", "5"}, {"events", "--from", "5"}},
  };
  for (const auto& [noun_verb, short_form] : same) {
    Result a = Run(noun_verb);
    Result b = Run(short_form);
    EXPECT_EQ(a.code, b.code) << noun_verb[0] << " " << noun_verb[1];
    EXPECT_EQ(a.out, b.out) << noun_verb[0] << " " << noun_verb[1];
    EXPECT_EQ(a.err, b.err) << noun_verb[0] << " " << noun_verb[1];
  }
  // Codes as the short forms have always had them.
  EXPECT_EQ(Run({"saga", "await", "00000000-0000-4000-8000-000000000002"}).code,
            kExitSagaEndedBadly);
  EXPECT_EQ(Run({"saga", "show", "00000000-0000-4000-8000-0000000000ff"}).code,
            kExitNotFound);
  EXPECT_EQ(Run({"definition", "validate", good}).code, kExitOk);
}

TEST_F(CliTest, ANounWithoutItsVerbIsAUsageError) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"saga"},
                                             {"definition"},
                                             {"saga", "frobnicate"},
                                             {"saga", "show"},
                                             {"definition", "validate"},
                                             {"events", "frobnicate"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("sagactl: ", 0), 0u) << r.err;
  }
}

TEST_F(CliTest, HelpListsTheCommandsByNounAndTheShortForms) {
  Result r = Run({"--help"});
  ASSERT_EQ(r.code, kExitOk);
  for (const char* line :
       {"\n  saga\n    start ", "\n    skip-step ", "\n    replay ",
        "\n  definition\n    list ", "\n    validate ", "\n    check ",
        "\n  events\n    watch ", "\n  show                  saga show\n",
        "\n  definitions           definition list\n",
        "\n  definitions validate  definition validate\n",
        "\n  events                events watch\n"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  // No line of the command list is wider than a terminal.
  const size_t list = r.out.find("Commands (");
  ASSERT_NE(list, std::string::npos);
  std::istringstream lines(
      r.out.substr(list, r.out.find("Exit codes:") - list));
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 80u) << line;
  }
  // A noun's help lists its verbs; a command's help its arguments.
  Result saga_help = Run({"saga", "--help"});
  EXPECT_EQ(saga_help.code, kExitOk);
  EXPECT_NE(saga_help.out.find("mark-compensated"), std::string::npos);
  Result start_help = Run({"saga", "start", "--help"});
  EXPECT_EQ(start_help.code, kExitOk);
  EXPECT_NE(start_help.out.find("--idempotency-key"), std::string::npos);
}

// Regression: `show not-a-uuid` exited 1 (the server's INVALID_ARGUMENT)
// instead of 2: a mistyped id is a usage error, found before any call, for
// every command that takes one.
TEST_F(CliTest, AnIdThatIsNotASagaIdIsAUsageErrorForEveryCommand) {
  const size_t calls_before = fake_.calls();
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"show", "not-a-uuid"},
           {"history", "not-a-uuid"},
           {"await", "not-a-uuid"},
           {"cancel", "not-a-uuid", "--reason", "x"},
           {"signal", "not-a-uuid", "approval"},
           {"retry", "not-a-uuid", "--reason", "x"},
           {"skip-step", "not-a-uuid", "s", "--reason", "x"},
           {"mark-compensated", "not-a-uuid", "--reason", "x"},
           {"rerun", "not-a-uuid", "--reason", "x"},
           {"watch", "not-a-uuid"},
           {"export", "not-a-uuid"},
           {"list", "--parent", "not-a-uuid"},
           {"list", "--rerun-of", "not-a-uuid"},
           {"saga", "show", "NOT-A-UUID"}}) {
    Result r = Run(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("is not a saga id"), std::string::npos) << r.err;
  }
  EXPECT_EQ(fake_.calls(), calls_before);
}

TEST_F(CliTest, AwaitExpectExitsZeroWhenTheSagaEndsAsExpected) {
  ASSERT_EQ(Run({"start", "ok", "--input", "{}"}).code, kExitOk);
  ASSERT_EQ(Run({"start", "doomed", "--input", "{}"}).code, kExitOk);
  const std::string compensated = FakeSagaId(2);
  EXPECT_EQ(Run({"await", compensated}).code, kExitSagaEndedBadly);
  EXPECT_EQ(Run({"await", compensated, "--expect", "compensated"}).code,
            kExitOk);
  Result wrong = Run({"await", FakeSagaId(1), "--expect", "COMPENSATED"});
  EXPECT_EQ(wrong.code, kExitSagaEndedBadly);
  EXPECT_EQ(wrong.err, "sagactl: saga " + FakeSagaId(1) +
                           " ended COMPLETED (expected COMPENSATED)\n");
  EXPECT_EQ(Run({"await", compensated, "--expect", "DONE"}).code, kExitUsage);
}

TEST_F(CliTest, ListSendsTheBusinessKeyAndRerunFilters) {
  Result r = Run({"list", "--business-key", "p-1001", "--rerun-of",
                  FakeSagaId(7), "--wide"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  ASSERT_FALSE(fake_.list_requests().empty());
  EXPECT_EQ(fake_.list_requests().back().business_key(), "p-1001");
  EXPECT_EQ(fake_.list_requests().back().rerun_of(), FakeSagaId(7));
}

TEST_F(CliTest, RerunSendsTheOldInputEditedBySet) {
  ASSERT_EQ(Run({"start", "ok", "--input",
                 R"({"contact":{"email":"a@x"},"patient_id":"p1","slot":1})"})
                .code,
            kExitOk);
  Result r =
      Run({"rerun", FakeSagaId(1), "--reason", "slot freed", "--set", "slot=2",
           "--set", "patient_id=p2", "--set", "contact.email=b@x"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, FakeSagaId(2) + "\n");
  ASSERT_EQ(fake_.reruns().size(), 1u);
  const v1::RerunSagaRequest sent = fake_.reruns()[0];
  EXPECT_EQ(sent.saga_id(), FakeSagaId(1));
  EXPECT_EQ(json::parse(sent.input_json()),
            json::parse(R"({"contact":{"email":"b@x"},"patient_id":"p2",)"
                        R"("slot":2})"));
  EXPECT_EQ(sent.operator_().reason(), "slot freed");

  // Without edits the server reruns the old input as recorded.
  ASSERT_EQ(Run({"rerun", FakeSagaId(1), "--reason", "again"}).code, kExitOk);
  EXPECT_EQ(fake_.reruns().back().input_json(), "");
  EXPECT_EQ(Run({"rerun", FakeSagaId(1), "--reason", "x", "--set", "=1"}).code,
            kExitUsage);
  EXPECT_EQ(Run({"rerun", FakeSagaId(1), "--reason", "x", "--input", "{}",
                 "--set", "a=1"})
                .code,
            kExitUsage);
}

}  // namespace
}  // namespace saga::sagactl
