// Engine tier: the real engine and a real gRPC participant server in this
// process, over the in-memory store wrapped in a fault-injecting decorator
// (in the manner of LevelDB's fault_injection_test): commits that fail or
// whose outcome is in doubt must never lose or duplicate a transition.
#include "orchestrator/engine/engine.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "observability/trace_context.h"
#include "orchestrator/core/child_saga.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/snapshot.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/store/memory/memory_store.h"
#include "tests/support/definitions.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace saga::engine {
namespace {

using namespace std::chrono_literals;

// Forwards to a MemoryStore; can fail the next appends before writing
// (Unavailable) or after writing (Unknown: the commit is in doubt). Records
// the writer of every append it passes on, and whether it committed.
class FaultInjectingStore final : public testing::ForwardingStore {
 public:
  struct Write {
    std::string saga_id;
    std::string writer;
    bool committed;
  };

  FaultInjectingStore() : ForwardingStore(&inner) {}

  std::atomic<int> fail_appends_before_write{0};
  std::atomic<int> fail_appends_after_write{0};
  std::atomic<int> release_leases_calls{0};
  int fail_claim_number = 0;  // this claim (1 = the first) is Unavailable
  store::MemoryStore inner;

  std::vector<Write> Writes() {
    std::lock_guard lock(writes_mu_);
    return writes_;
  }

  absl::StatusOr<int64_t> ReleaseLeases(const std::string& owner) override {
    ++release_leases_calls;
    return inner.ReleaseLeases(owner);
  }

  absl::StatusOr<std::vector<store::SagaRecord>> Claim(
      const std::string& owner, std::chrono::milliseconds ttl, int limit,
      const std::string& after) override {
    {
      std::lock_guard lock(writes_mu_);
      claim_limits_.push_back(limit);
      if (static_cast<int>(claim_limits_.size()) == fail_claim_number) {
        return absl::UnavailableError("injected: database unreachable");
      }
    }
    return inner.Claim(owner, ttl, limit, after);
  }

  std::vector<int> ClaimLimits() {
    std::lock_guard lock(writes_mu_);
    return claim_limits_;
  }

  absl::Status Append(const store::AppendBatch& batch) override {
    if (TakeOne(fail_appends_before_write)) {
      return absl::UnavailableError("injected: database unreachable");
    }
    absl::Status status = inner.Append(batch);
    {
      std::lock_guard lock(writes_mu_);
      writes_.push_back({batch.saga_id, batch.writer, status.ok()});
    }
    if (status.ok() && TakeOne(fail_appends_after_write)) {
      return absl::UnknownError("injected: commit outcome in doubt");
    }
    return status;
  }

 private:
  static bool TakeOne(std::atomic<int>& counter) {
    int left = counter.load();
    while (left > 0) {
      if (counter.compare_exchange_weak(left, left - 1)) return true;
    }
    return false;
  }

  std::mutex writes_mu_;
  std::vector<Write> writes_;
  std::vector<int> claim_limits_;
};

// A participant serving every action of the booking saga, applying each
// idempotency key once like the real services do.
class FakeParticipant final : public v1::Participant::Service {
 public:
  FakeParticipant() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeParticipant() override {
    Unblock();
    server_->Shutdown();
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Execute of `action` answers `outcome` from now on.
  void SetOutcome(const std::string& action, v1::StepOutcome outcome) {
    std::lock_guard lock(mu_);
    outcomes_[action] = outcome;
  }
  // Execute of `action` waits until Unblock().
  void Block(const std::string& action) {
    std::lock_guard lock(mu_);
    blocked_action_ = action;
  }
  void Unblock() {
    std::lock_guard lock(mu_);
    blocked_action_.clear();
    unblocked_.notify_all();
  }
  int Calls(const std::string& key) {
    std::lock_guard lock(mu_);
    return calls_[key];
  }
  int Effects(const std::string& action) {
    std::lock_guard lock(mu_);
    return effects_[action];
  }
  // Waits until an Execute of `action` has arrived.
  bool WaitForCall(const std::string& action,
                   std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return call_arrived_.wait_for(lock, timeout,
                                  [&] { return started_.count(action) > 0; });
  }

  // The traceparent metadata of every call received, in order.
  std::vector<std::string> TraceParents() {
    std::lock_guard lock(mu_);
    return traceparents_;
  }

  grpc::Status Execute(grpc::ServerContext* context,
                       const v1::StepRequest* request,
                       v1::StepResult* result) override {
    std::unique_lock lock(mu_);
    RecordTrace(*context);
    ++calls_[request->idempotency_key()];
    started_.insert(request->action());
    call_arrived_.notify_all();
    unblocked_.wait(lock, [&] { return blocked_action_ != request->action(); });
    if (auto done = applied_.find(request->idempotency_key());
        done != applied_.end()) {
      *result = done->second;
      return grpc::Status::OK;
    }
    auto outcome = outcomes_.count(request->action())
                       ? outcomes_[request->action()]
                       : v1::STEP_OUTCOME_SUCCEEDED;
    result->set_outcome(outcome);
    if (outcome == v1::STEP_OUTCOME_SUCCEEDED) {
      ++effects_[request->action()];
      result->set_output_json(OutputOf(request->action()));
    } else {
      result->set_error("scripted " + v1::StepOutcome_Name(outcome));
    }
    if (outcome != v1::STEP_OUTCOME_RETRYABLE_FAILURE) {
      applied_[request->idempotency_key()] = *result;
    }
    return grpc::Status::OK;
  }

  grpc::Status Compensate(grpc::ServerContext* context,
                          const v1::StepRequest* request,
                          v1::StepResult* result) override {
    std::lock_guard lock(mu_);
    RecordTrace(*context);
    ++calls_[request->idempotency_key()];
    if (!applied_.count(request->idempotency_key())) {
      auto original = applied_.find(request->original_idempotency_key());
      if (original == applied_.end()) {
        // Tombstone: a late Execute with that key must do nothing.
        v1::StepResult tombstone;
        tombstone.set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
        tombstone.set_output_json("{\"skipped\":true}");
        applied_[request->original_idempotency_key()] = tombstone;
      } else if (original->second.outcome() == v1::STEP_OUTCOME_SUCCEEDED) {
        ++effects_[request->action()];
      }
      v1::StepResult done;
      done.set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
      done.set_output_json("{}");
      applied_[request->idempotency_key()] = done;
    }
    *result = applied_[request->idempotency_key()];
    return grpc::Status::OK;
  }

 private:
  // REQUIRES: mu_ is held.
  void RecordTrace(const grpc::ServerContext& context) {
    auto it = context.client_metadata().find("traceparent");
    traceparents_.push_back(
        it == context.client_metadata().end()
            ? ""
            : std::string(it->second.data(), it->second.size()));
  }

  static std::string OutputOf(const std::string& action) {
    if (action == "validate_patient") {
      return R"({"patient_id":"p-1","name":"Ann","email":"ann@example.com"})";
    }
    if (action == "reserve_doctor") {
      return R"({"reservation_id":"r-1","doctor_id":"d-1","doctor_name":"Dr Who","doctor_email":"who@example.com","date":"2026-12-01"})";
    }
    return R"({"message_ids":[1,2]})";
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable unblocked_;
  std::condition_variable call_arrived_;
  std::string blocked_action_;
  std::map<std::string, v1::StepOutcome> outcomes_;
  std::map<std::string, v1::StepResult> applied_;
  std::map<std::string, int> calls_;
  std::map<std::string, int> effects_;
  std::set<std::string> started_;
  std::vector<std::string> traceparents_;
};

// A port on 127.0.0.1 where nothing listens (bound, then closed).
// The value of the series `name{labels}` in `registry` (a histogram's
// sample count); 0 when the series does not exist.
double Series(prometheus::Registry& registry, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        default:
          return 0;
      }
    }
  }
  return 0;
}

constexpr char kInput[] =
    R"({"patient_id":"p-1","preferred_date":"2026-12-01","specialty":"cardiology"})";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Version 1 of the booking saga, whose pivot gives up after 4
    // attempts, keeps the tests of giving up short.
    absl::Status loaded =
        registry_.LoadDirectory(testing::TestDefinitionDir("booking_v1"));
    ASSERT_TRUE(loaded.ok()) << loaded;
    NewEngine();
  }
  void TearDown() override {
    if (engine_) engine_->Stop();
  }

  void NewEngine(std::map<std::string, std::string> addresses = {},
                 EngineOptions options = {}) {
    if (engine_) engine_->Stop();
    for (const char* name : {"patient", "doctor", "email"}) {
      addresses.emplace(name, participant_.Address());
    }
    clients_ = std::make_unique<ParticipantClients>(addresses);
    options.metrics = &metrics_;
    engine_ =
        std::make_unique<Engine>(&store_, &registry_, clients_.get(), options);
  }

  // Another orchestrator instance on the same store and participant.
  std::unique_ptr<Engine> OtherInstance(const std::string& instance_id) {
    EngineOptions options;
    options.leases.instance_id = instance_id;
    return std::make_unique<Engine>(&store_, &registry_, clients_.get(),
                                    options);
  }

  std::string Start(const std::string& key = "",
                    const core::TraceContext& trace = {}) {
    std::promise<absl::StatusOr<store::CreateResult>> created;
    engine_->StartSaga("appointment_booking", kInput, key, trace, "",
                       [&](auto result) { created.set_value(result); });
    auto result = created.get_future().get();
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->saga_id : "";
  }

  AwaitOutcome Await(const std::string& id, const std::string& step = "",
                     std::chrono::milliseconds timeout = 20s,
                     Engine* engine = nullptr) {
    std::promise<absl::StatusOr<AwaitResult>> awaited;
    (engine ? engine : engine_.get())
        ->AwaitSaga(id, step, timeout,
                    [&](auto result) { awaited.set_value(result); });
    auto result = awaited.get_future().get();
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return AwaitOutcome::kNotActive;
    last_await_ = *std::move(result);
    return last_await_.outcome;
  }

  // Records saga `id` as an earlier process with this engine's instance id
  // left it: started, its first call sent, with `snapshot` (if any) at its
  // last event.
  void CreateStartedSaga(const std::string& id,
                         const std::string& snapshot = "") {
    auto definition = registry_.Current("appointment_booking");
    ASSERT_TRUE(definition.ok());
    core::Decision start = core::DecideStart(**definition, kInput, {1000, 0.5});
    core::SagaState state = core::NewSagaState(**definition, id);
    for (auto& event : start.events) {
      event.seq = state.last_seq + 1;
      core::Apply(**definition, state, event);
    }
    store::AppendBatch batch;
    batch.writer = EngineOptions{}.leases.instance_id;
    batch.lease_ttl = 60s;
    batch.saga_id = id;
    batch.events = start.events;
    batch.summary.saga_id = id;
    batch.summary.saga_type = "appointment_booking";
    batch.summary.definition_version = state.definition_version;
    batch.summary.input_json = state.input_json;
    batch.summary.last_seq = state.last_seq;
    batch.snapshot = snapshot;
    ASSERT_TRUE(store_.Create(batch).ok());
  }

  // "saga-0" .. "saga-<count - 1>", each as CreateStartedSaga leaves it.
  void CreateStartedSagas(int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_NO_FATAL_FAILURE(CreateStartedSaga("saga-" + std::to_string(i)));
    }
  }

  // Each of CreateStartedSagas(count) completes within 20 s.
  void ExpectAllCompleted(int count) {
    for (int i = 0; i < count; ++i) {
      const std::string id = "saga-" + std::to_string(i);
      EXPECT_TRUE(saga::testing::PollUntil(
          [&] {
            return Record(id).summary.status == core::SagaStatus::kCompleted;
          },
          20s))
          << id;
    }
  }

  store::SagaRecord Record(const std::string& id) {
    auto record = store_.Load(id);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : store::SagaRecord{};
  }

  static std::vector<std::string> Types(const store::SagaRecord& record) {
    std::vector<std::string> types;
    for (const auto& event : record.events) {
      types.push_back(core::EventTypeName(event.type));
    }
    return types;
  }

  static void ExpectContiguous(const store::SagaRecord& record) {
    for (size_t i = 0; i < record.events.size(); ++i) {
      EXPECT_EQ(record.events[i].seq, static_cast<int64_t>(i + 1));
    }
  }

  double Metric(const std::string& name,
                const std::map<std::string, std::string>& labels) {
    return Series(*metrics_.registry(), name, labels);
  }

  FakeParticipant participant_;
  OrchestratorMetrics metrics_{std::make_shared<prometheus::Registry>(),
                               {"patient", "doctor", "email"}};
  AwaitResult last_await_;  // of the latest Await
  FaultInjectingStore store_;
  DefinitionRegistry registry_{&store_};
  std::unique_ptr<ParticipantClients> clients_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, CompletesBookingWithOneCommitPerTransition) {
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(Types(record), (std::vector<std::string>{
                               "SagaStarted", "StepStarted", "StepSucceeded",
                               "StepStarted", "StepSucceeded", "StepStarted",
                               "StepSucceeded", "SagaCompleted"}));
  ExpectContiguous(record);
  EXPECT_EQ(participant_.Effects("reserve_doctor"), 1);
  EXPECT_EQ(participant_.Effects("send_notification"), 1);
}

// AwaitSaga answers with the engine's own view of the saga, which must be
// exactly what the store holds, so the API need not read it back.
TEST_F(EngineTest, AwaitSagaAnswersWithTheCommittedSaga) {
  // The pivot waits until the second await is registered: a saga that has
  // already ended is no longer driven, and its await answers kNotActive.
  participant_.Block("send_notification");
  engine_->Start();
  const std::string id = Start("key-await");
  ASSERT_EQ(Await(id, "reserve_doctor"), AwaitOutcome::kReached);
  ASSERT_TRUE(last_await_.saga.has_value());
  EXPECT_EQ(last_await_.saga->state.steps[1].status,
            core::StepStatus::kSucceeded);
  // Registered on the engine thread before the pivot's answer gets there.
  std::promise<absl::StatusOr<AwaitResult>> awaited;
  engine_->AwaitSaga(id, "", 20s,
                     [&](auto result) { awaited.set_value(result); });
  participant_.Unblock();
  auto result = awaited.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status();
  last_await_ = *std::move(result);
  ASSERT_EQ(last_await_.outcome, AwaitOutcome::kReached);
  ASSERT_TRUE(last_await_.saga.has_value());
  const SagaView& view = *last_await_.saga;
  const store::SagaRecord record = Record(id);
  const core::SagaState folded =
      core::Fold(*view.definition, id, record.events);
  EXPECT_EQ(view.state.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(view.state.last_seq, folded.last_seq);
  for (size_t i = 0; i < folded.steps.size(); ++i) {
    EXPECT_EQ(view.state.steps[i].status, folded.steps[i].status) << i;
    EXPECT_EQ(view.state.steps[i].output_json, folded.steps[i].output_json)
        << i;
  }
  const store::SagaSummary& want = record.summary;
  EXPECT_EQ(view.summary.saga_id, want.saga_id);
  EXPECT_EQ(view.summary.saga_type, want.saga_type);
  EXPECT_EQ(view.summary.status, want.status);
  EXPECT_EQ(view.summary.current_step, want.current_step);
  EXPECT_EQ(view.summary.current_attempt, want.current_attempt);
  EXPECT_EQ(view.summary.idempotency_key, "key-await");
  EXPECT_EQ(view.summary.input_json, want.input_json);
  EXPECT_EQ(view.summary.last_seq, want.last_seq);
  EXPECT_EQ(view.summary.created_ms, want.created_ms);
  EXPECT_EQ(view.summary.updated_ms, want.updated_ms);

  // Once it has ended here, a wait finds nothing to watch.
  EXPECT_EQ(Await(id), AwaitOutcome::kNotActive);
  EXPECT_FALSE(last_await_.saga.has_value());
}

TEST_F(EngineTest, FailedCommitsAreRetriedFromTheRecordedState) {
  store_.fail_appends_before_write = 3;
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  ExpectContiguous(record);
  // The lost results were asked for again with the same keys; each effect
  // still happened once.
  EXPECT_GE(participant_.Calls(id + "/validate_patient/execute"), 2);
  EXPECT_EQ(participant_.Effects("reserve_doctor"), 1);
  EXPECT_EQ(participant_.Effects("send_notification"), 1);
}

TEST_F(EngineTest, InDoubtCommitIsReloadedNotRepeated) {
  store_.fail_appends_after_write = 2;
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  ExpectContiguous(record);
  int succeeded = 0;
  for (const auto& event : record.events) {
    succeeded += event.type == core::EventType::kStepSucceeded;
  }
  EXPECT_EQ(succeeded, 3);
}

TEST_F(EngineTest, CancelWhileCallInFlightCompensatesIt) {
  participant_.Block("reserve_doctor");
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id, "validate_patient"), AwaitOutcome::kReached);
  ASSERT_TRUE(participant_.WaitForCall("reserve_doctor", 10s));
  std::promise<absl::Status> cancelled;
  engine_->CancelSaga(id, "patient called", [&](absl::Status status) {
    cancelled.set_value(status);
  });
  ASSERT_TRUE(cancelled.get_future().get().ok());
  // The release is not blocked: the saga may end, and leave the engine,
  // before the await begins (then it is no longer active here).
  ASSERT_NE(Await(id), AwaitOutcome::kTimedOut);
  participant_.Unblock();
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompensated);
  EXPECT_NE(record.summary.error.find("patient called"), std::string::npos);
  EXPECT_EQ(participant_.Calls(id + "/reserve_doctor/compensate"), 1);
}

TEST_F(EngineTest, CancelAfterThePivotIsRefused) {
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  std::promise<absl::Status> cancelled;
  engine_->CancelSaga(id, "too late", [&](absl::Status status) {
    cancelled.set_value(status);
  });
  // Ended sagas are no longer driven by the engine.
  EXPECT_EQ(cancelled.get_future().get().code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, EmailNeverSentReleasesTheReservation) {
  participant_.SetOutcome("send_notification",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompensated);
  EXPECT_EQ(participant_.Effects("release_reservation"), 1);
}

TEST_F(EngineTest, RecoverResumesACallThatWasInFlight) {
  // A saga whose first call was recorded as started by an orchestrator
  // that then died: the new engine must settle it and finish the saga.
  ASSERT_NO_FATAL_FAILURE(CreateStartedSaga("saga-recovered"));

  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(*recovered, 1u);
  engine_->Start();
  ASSERT_EQ(Await("saga-recovered"), AwaitOutcome::kReached);
  store::SagaRecord record = Record("saga-recovered");
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  ASSERT_GE(record.events.size(), 3u);
  EXPECT_EQ(record.events[2].type, core::EventType::kStepFailed);
  EXPECT_TRUE(record.events[2].outcome_unknown);
}

// An instance id this process made cannot hold leases yet, so recovery
// skips the pass that gives back those an earlier process left; under a
// stable id it gives them back and resumes their sagas at once.
TEST_F(EngineTest, RecoveryLooksForLeftLeasesOnlyUnderAStableInstanceId) {
  // Leased to the default id, "orchestrator", by a process that died.
  ASSERT_NO_FATAL_FAILURE(CreateStartedSaga("saga-left"));
  EngineOptions fresh;
  fresh.leases.instance_id = "orchestrator-4242-0123456789abcdef";
  fresh.leases.fresh_instance_id = true;
  NewEngine({}, fresh);
  auto none = engine_->Recover();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);  // the dead process's lease has not expired
  EXPECT_EQ(store_.release_leases_calls.load(), 0);

  NewEngine();  // "orchestrator" again, as a restart with a stable id
  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(*recovered, 1u);
  EXPECT_EQ(store_.release_leases_calls.load(), 1);
  engine_->Start();
  ASSERT_EQ(Await("saga-left"), AwaitOutcome::kReached);
  EXPECT_EQ(Record("saga-left").summary.status, core::SagaStatus::kCompleted);
}

// Recovery's first claim is small, so its sagas are folded, committed and
// called without waiting for a whole claim_batch; then the batches grow.
TEST_F(EngineTest, RecoveryClaimsAFewSagasFirstThenGrowingBatches) {
  ASSERT_NO_FATAL_FAILURE(CreateStartedSagas(40));
  // Leased to the fixture engine's id by a process that died.
  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(*recovered, 40u);
  EXPECT_EQ(store_.ClaimLimits(), (std::vector<int>{16, 64}));
  engine_->Start();
  ExpectAllCompleted(40);
}

// Sagas after the first batch wait for the end of the pass; a pass that
// fails part way still resumes those it had claimed, and the lease keeper
// claims the rest.
TEST_F(EngineTest, APassThatFailsPartWayStillResumesTheSagasItClaimed) {
  ASSERT_NO_FATAL_FAILURE(CreateStartedSagas(100));
  store_.fail_claim_number = 3;  // after 16 and 64 sagas
  auto recovered = engine_->Recover();
  EXPECT_TRUE(absl::IsUnavailable(recovered.status())) << recovered.status();
  engine_->Start();
  ExpectAllCompleted(100);
}

// A saga at rest on a backoff has a snapshot of exactly its folded state,
// and another instance resumes it from there.
TEST_F(EngineTest, ASagaAtRestIsResumedElsewhereFromItsSnapshot) {
  EngineOptions options;
  options.drain_timeout = 50ms;  // a held call cannot land
  NewEngine({}, options);
  participant_.SetOutcome("send_notification",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  const std::string id = Start();
  // A failed call's result commits with its RetryScheduled: at rest. Later
  // attempts are held, so the saga rests or has one call in flight when
  // the engine stops; either way the claim below must add up.
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] { return Types(Record(id)).back() == "RetryScheduled"; }, 10s));
  participant_.Block("send_notification");
  engine_->Stop();
  engine_.reset();

  // What a claim reads: the snapshot, and no event after it.
  auto definition = registry_.Version("appointment_booking", 1);
  ASSERT_TRUE(definition.ok());
  auto probe = store_.Claim("probe", 60s, 10, "");
  ASSERT_TRUE(probe.ok()) << probe.status();
  ASSERT_EQ(probe->size(), 1u);
  const store::SagaRecord& claimed = probe->front();
  ASSERT_FALSE(claimed.snapshot.empty());
  const store::SagaRecord whole = Record(id);
  EXPECT_EQ(claimed.snapshot_seq + static_cast<int64_t>(claimed.events.size()),
            whole.summary.last_seq);
  absl::StatusOr<core::SagaState> resumed =
      core::DecodeSnapshot(**definition, id, claimed.snapshot);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  for (const core::Event& event : claimed.events) {
    core::Apply(**definition, *resumed, event);
  }
  EXPECT_EQ(*resumed, core::Fold(**definition, id, whole.events));
  ASSERT_TRUE(store_.ReleaseLease(id, "probe").ok());

  participant_.SetOutcome("send_notification", v1::STEP_OUTCOME_SUCCEEDED);
  participant_.Unblock();
  std::unique_ptr<Engine> other = OtherInstance("other");
  auto recovered = other->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(*recovered, 1u);
  other->Start();
  ASSERT_EQ(Await(id, "", 20s, other.get()), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  ExpectContiguous(record);
  EXPECT_EQ(participant_.Effects("reserve_doctor"), 1);
  other->Stop();
}

// A snapshot this build cannot read (a later format, say) is passed over:
// the saga resumes from its whole history.
TEST_F(EngineTest, ASnapshotThisBuildCannotReadFallsBackToTheHistory) {
  ASSERT_NO_FATAL_FAILURE(
      CreateStartedSaga("saga-snapped", R"({"format": 999})"));

  auto recovered = engine_->Recover();
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(*recovered, 1u);
  engine_->Start();
  // Adopted through a claim of its own, so it may not be driven yet.
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] {
        return Record("saga-snapped").summary.status ==
               core::SagaStatus::kCompleted;
      },
      20s));
  store::SagaRecord record = Record("saga-snapped");
  ExpectContiguous(record);
}

TEST_F(EngineTest, StartIsIdempotentByKey) {
  engine_->Start();
  const std::string first = Start("order-42");
  const std::string second = Start("order-42");
  EXPECT_EQ(first, second);
  std::promise<absl::StatusOr<store::CreateResult>> refused;
  engine_->StartSaga(
      "appointment_booking",
      R"({"patient_id":"p-2","preferred_date":"2026-12-01","specialty":"cardiology"})",
      "order-42", {}, "", [&](auto result) { refused.set_value(result); });
  EXPECT_EQ(refused.get_future().get().status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(EngineTest, AwaitTimesOutWhileTheSagaWaits) {
  participant_.Block("validate_patient");
  engine_->Start();
  const std::string id = Start();
  EXPECT_EQ(Await(id, "", 50ms), AwaitOutcome::kTimedOut);
  participant_.Unblock();
  EXPECT_EQ(Await(id, "reserve_doctor"), AwaitOutcome::kReached);
}

TEST_F(EngineTest, RejectsUnknownTypeAndBadInputWithoutWriting) {
  engine_->Start();
  std::promise<absl::StatusOr<store::CreateResult>> unknown;
  engine_->StartSaga("no_such_saga", kInput, "", {}, "",
                     [&](auto result) { unknown.set_value(result); });
  EXPECT_EQ(unknown.get_future().get().status().code(),
            absl::StatusCode::kNotFound);
  std::promise<absl::StatusOr<store::CreateResult>> bad;
  engine_->StartSaga("appointment_booking", "{not json", "", {}, "",
                     [&](auto result) { bad.set_value(result); });
  EXPECT_EQ(bad.get_future().get().status().code(),
            absl::StatusCode::kInvalidArgument);
  auto page = store_.List({});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->sagas.empty());
}

// A graceful stop gives the leases up, so another instance resumes the
// saga at once rather than after the lease TTL (ten minutes here).
TEST_F(EngineTest, StopReleasesLeasesSoAnotherInstanceResumesAtOnce) {
  EngineOptions options;
  options.drain_timeout = 50ms;  // the blocked call cannot land
  NewEngine({}, options);
  participant_.Block("reserve_doctor");
  engine_->Start();
  const std::string id = Start();
  ASSERT_TRUE(participant_.WaitForCall("reserve_doctor", 10s));
  engine_->BeginShutdown();
  std::promise<absl::StatusOr<store::CreateResult>> refused;
  engine_->StartSaga("appointment_booking", kInput, "", {}, "",
                     [&](auto result) { refused.set_value(result); });
  EXPECT_EQ(refused.get_future().get().status().code(),
            absl::StatusCode::kUnavailable);
  engine_->Stop();
  EXPECT_EQ(Record(id).summary.lease_owner, "");

  std::unique_ptr<Engine> other = OtherInstance("other");
  auto claimed = other->Recover();
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(*claimed, 1u);
  other->Start();
  participant_.Unblock();
  ASSERT_EQ(Await(id, "", 20s, other.get()), AwaitOutcome::kReached);
  store::SagaRecord record = Record(id);
  EXPECT_EQ(record.summary.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(record.summary.lease_owner, "other");
  EXPECT_EQ(participant_.Effects("reserve_doctor"), 1);
  other->Stop();
}

// An instance paused past its lease (a zombie) while a call was in flight:
// another instance takes the saga over; when the zombie's call returns, its
// append is refused and it stops driving the saga. Every committed write
// after the takeover is the new holder's.
TEST_F(EngineTest, InstanceThatLostItsLeaseIsFencedAndLetsGo) {
  EngineOptions options;
  options.leases.claim_interval = 1h;  // it must not take the saga back
  NewEngine({}, options);
  participant_.Block("reserve_doctor");
  engine_->Start();
  const std::string id = Start();
  ASSERT_TRUE(participant_.WaitForCall("reserve_doctor", 10s));

  // What expiry does while the zombie sleeps, without the wait.
  ASSERT_TRUE(store_.inner.ReleaseLeases(options.leases.instance_id).ok());
  std::unique_ptr<Engine> other = OtherInstance("other");
  auto claimed = other->Recover();
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(*claimed, 1u);
  other->Start();
  participant_.Unblock();

  ASSERT_EQ(Await(id, "", 20s, other.get()), AwaitOutcome::kReached);
  EXPECT_EQ(Record(id).summary.status, core::SagaStatus::kCompleted);
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] { return engine_->ActiveSagas() == 0; }, 10s));
  bool taken_over = false;
  bool zombie_refused = false;
  for (const auto& write : store_.Writes()) {
    if (write.saga_id != id) continue;
    if (write.writer == "other") {
      EXPECT_TRUE(write.committed);
      taken_over = true;
    } else if (taken_over || !write.committed) {
      EXPECT_FALSE(write.committed) << "the zombie wrote after the takeover";
      zombie_refused = true;
    }
  }
  EXPECT_TRUE(taken_over);
  EXPECT_TRUE(zombie_refused);
  EXPECT_EQ(participant_.Effects("reserve_doctor"), 1);
  other->Stop();
}

TEST_F(EngineTest, RecordsMetricsOfACompletedSaga) {
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  const std::map<std::string, std::string> type = {
      {"saga_type", "appointment_booking"}};
  EXPECT_EQ(Metric("saga_sagas_started_total", type), 1);
  EXPECT_EQ(
      Metric("saga_sagas_ended_total",
             {{"saga_type", "appointment_booking"}, {"status", "COMPLETED"}}),
      1);
  // The saga is retired just after its waiters are answered.
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] { return Metric("saga_sagas_in_flight", type) == 0; }, 10s));
  for (const char* step : {"validate_patient", "reserve_doctor", "notify"}) {
    SCOPED_TRACE(step);
    EXPECT_EQ(Metric("saga_step_attempts_total",
                     {{"saga_type", "appointment_booking"},
                      {"step", step},
                      {"call", "execute"}}),
              1);
    EXPECT_EQ(Metric("saga_step_duration_seconds",
                     {{"saga_type", "appointment_booking"},
                      {"step", step},
                      {"call", "execute"},
                      {"outcome", "succeeded"}}),
              1);
  }
  EXPECT_EQ(
      Metric("saga_participant_circuit_state", {{"participant", "doctor"}}), 0);
}

TEST_F(EngineTest, RecordsRetriesAndCompensationsInMetrics) {
  participant_.SetOutcome("send_notification",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  const std::map<std::string, std::string> notify = {
      {"saga_type", "appointment_booking"},
      {"step", "notify"},
      {"call", "execute"}};
  // The booking saga gives notify 4 attempts.
  EXPECT_EQ(Metric("saga_step_attempts_total", notify), 4);
  EXPECT_EQ(Metric("saga_step_retries_total", notify), 3);
  EXPECT_EQ(Metric("saga_step_duration_seconds",
                   {{"saga_type", "appointment_booking"},
                    {"step", "notify"},
                    {"call", "execute"},
                    {"outcome", "retryable_failure"}}),
            4);
  EXPECT_EQ(Metric("saga_compensations_total",
                   {{"saga_type", "appointment_booking"}}),
            1);
  EXPECT_EQ(
      Metric("saga_step_attempts_total", {{"saga_type", "appointment_booking"},
                                          {"step", "reserve_doctor"},
                                          {"call", "compensate"}}),
      1);
  EXPECT_EQ(
      Metric("saga_sagas_ended_total",
             {{"saga_type", "appointment_booking"}, {"status", "COMPENSATED"}}),
      1);
}

TEST_F(EngineTest, CountsParticipantCallErrorsByCode) {
  NewEngine(
      {{"patient", "127.0.0.1:" + std::to_string(saga::testing::FreePort())}});
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  // validate_patient has 5 attempts, each refused. A refused connection
  // sent nothing: a definite "not applied", not an unknown outcome.
  EXPECT_EQ(Metric("saga_participant_call_errors_total",
                   {{"participant", "patient"}, {"code", "UNAVAILABLE"}}),
            5);
  EXPECT_EQ(Metric("saga_step_duration_seconds",
                   {{"saga_type", "appointment_booking"},
                    {"step", "validate_patient"},
                    {"call", "execute"},
                    {"outcome", "not_applied"}}),
            5);
  EXPECT_EQ(Metric("saga_step_duration_seconds",
                   {{"saga_type", "appointment_booking"},
                    {"step", "validate_patient"},
                    {"call", "execute"},
                    {"outcome", "unknown"}}),
            0);
}

TEST_F(EngineTest, ContinuesTheCallersTraceWithANewSpanPerCall) {
  const core::TraceContext trace{
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v"};
  engine_->Start();
  const std::string id = Start("", trace);
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  EXPECT_EQ(Record(id).events.front().traceparent, trace.traceparent);
  EXPECT_EQ(Record(id).events.front().tracestate, trace.tracestate);

  const std::vector<std::string> received = participant_.TraceParents();
  ASSERT_EQ(received.size(), 3u);
  std::set<std::string> spans;
  for (const std::string& header : received) {
    auto parsed = observability::ParseTraceParent(header);
    ASSERT_TRUE(parsed.has_value()) << header;
    EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(parsed->flags, "01");
    EXPECT_NE(parsed->span_id, "00f067aa0ba902b7");
    spans.insert(parsed->span_id);
  }
  EXPECT_EQ(spans.size(), 3u);
}

TEST_F(EngineTest, StartsANewTraceForASagaStartedWithoutOne) {
  engine_->Start();
  const std::string id = Start();
  ASSERT_EQ(Await(id), AwaitOutcome::kReached);
  auto recorded =
      observability::ParseTraceParent(Record(id).events.front().traceparent);
  ASSERT_TRUE(recorded.has_value());
  for (const std::string& header : participant_.TraceParents()) {
    auto parsed = observability::ParseTraceParent(header);
    ASSERT_TRUE(parsed.has_value()) << header;
    EXPECT_EQ(parsed->trace_id, recorded->trace_id);
  }
}

// Call admission: the circuit breaker, the in-flight bound and the backlog.

std::string ExecuteKey(const std::string& saga_id, const std::string& step) {
  return saga_id + "/" + step + "/execute";
}

// Options whose circuit opens when two calls of two fail.
EngineOptions BreakerOptions(int64_t open_ms) {
  EngineOptions options;
  options.calls.breaker.min_calls = 2;
  options.calls.breaker.failure_rate_percent = 100;
  options.calls.breaker.open_ms = open_ms;
  return options;
}

TEST_F(EngineTest, OpenCircuitParksCallsWithoutSendingOrUsingAttempts) {
  // Open for a minute: nothing may reach the participant during the test.
  NewEngine({}, BreakerOptions(60000));
  participant_.SetOutcome("validate_patient",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  const std::string first = Start();
  const std::string second = Start();
  // Two failures of two calls open the circuit; each saga's retry then
  // waits behind it.
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] {
        return Metric("saga_participant_calls_queued",
                      {{"participant", "patient"}}) == 2;
      },
      20s));
  EXPECT_EQ(
      Metric("saga_participant_circuit_state", {{"participant", "patient"}}),
      1);
  // Each saga's latest attempt is recorded and parked: not sent, and no
  // result recorded for it.
  for (const auto& id : {first, second}) {
    const store::SagaRecord record = Record(id);
    ASSERT_FALSE(record.events.empty());
    const core::Event& last = record.events.back();
    EXPECT_EQ(core::EventTypeName(last.type), std::string("StepStarted"));
    EXPECT_GE(last.attempt, 2);
    EXPECT_EQ(participant_.Calls(ExecuteKey(id, "validate_patient")),
              last.attempt - 1);
  }
}

TEST_F(EngineTest, ProbeAfterTheCoolDownResumesParkedSagas) {
  NewEngine({}, BreakerOptions(300));
  participant_.SetOutcome("validate_patient",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  const std::string failing = Start();
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] {
        return Metric("saga_participant_circuit_state",
                      {{"participant", "patient"}}) == 1;
      },
      20s));
  participant_.SetOutcome("validate_patient", v1::STEP_OUTCOME_SUCCEEDED);
  std::vector<std::string> parked;
  for (int i = 0; i < 4; ++i) parked.push_back(Start());
  // The trial calls find the participant well: the circuit closes and lets
  // the parked calls through.
  for (const auto& id : parked) {
    // kNotActive: it ended (and was retired) before the await.
    ASSERT_NE(Await(id), AwaitOutcome::kTimedOut);
    EXPECT_EQ(Record(id).summary.status, core::SagaStatus::kCompleted);
    // Parked, never refused: one attempt each.
    EXPECT_EQ(participant_.Calls(ExecuteKey(id, "validate_patient")), 1);
  }
  ASSERT_NE(Await(failing), AwaitOutcome::kTimedOut);
  EXPECT_EQ(Record(failing).summary.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(
      Metric("saga_participant_circuit_state", {{"participant", "patient"}}),
      0);
  EXPECT_EQ(
      Metric("saga_participant_calls_queued", {{"participant", "patient"}}), 0);
}

TEST_F(EngineTest, AParticipantsOwnBreakerSettingsApplyToItAlone) {
  // The default breaker is off; the patient's own opens on two failures.
  EngineOptions options;
  options.calls.breaker.enabled = false;
  options.calls.breakers["patient"] = BreakerOptions(60000).calls.breaker;
  NewEngine({}, options);
  participant_.SetOutcome("validate_patient",
                          v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  engine_->Start();
  Start();
  Start();
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] {
        return Metric("saga_participant_circuit_state",
                      {{"participant", "patient"}}) == 1;
      },
      20s));
  EXPECT_EQ(Metric("saga_participant_circuit_opened_total",
                   {{"participant", "patient"}, {"reason", "failure_rate"}}),
            1);
  EXPECT_EQ(
      Metric("saga_participant_circuit_state", {{"participant", "doctor"}}), 0);
}

TEST_F(EngineTest, BusinessFailuresDoNotOpenTheCircuit) {
  NewEngine({}, BreakerOptions(60000));
  participant_.SetOutcome("validate_patient",
                          v1::STEP_OUTCOME_BUSINESS_FAILURE);
  engine_->Start();
  for (int i = 0; i < 4; ++i) {
    const std::string id = Start();
    ASSERT_NE(Await(id), AwaitOutcome::kTimedOut);
    EXPECT_EQ(Record(id).summary.status, core::SagaStatus::kCompensated);
  }
  EXPECT_EQ(
      Metric("saga_participant_circuit_state", {{"participant", "patient"}}),
      0);
}

TEST_F(EngineTest, CallsPastTheInFlightBoundWaitInTheEngine) {
  EngineOptions options;
  options.calls.max_in_flight = 1;
  NewEngine({}, options);
  participant_.Block("validate_patient");
  engine_->Start();
  const std::string first = Start();
  ASSERT_TRUE(participant_.WaitForCall("validate_patient", 20s));
  const std::string second = Start();
  // Start answers after the first call was submitted: it is queued now.
  EXPECT_EQ(participant_.Calls(ExecuteKey(second, "validate_patient")), 0);
  EXPECT_EQ(
      Metric("saga_participant_calls_queued", {{"participant", "patient"}}), 1);
  participant_.Unblock();
  EXPECT_NE(Await(first), AwaitOutcome::kTimedOut);
  EXPECT_NE(Await(second), AwaitOutcome::kTimedOut);
  EXPECT_EQ(participant_.Calls(ExecuteKey(second, "validate_patient")), 1);
}

// Child sagas in one engine (the in-process path from the child's end to
// its parent): appointment_booking_child's `hold` step starts slot_hold.
TEST_F(EngineTest, AChildCompletesItsStepAndIsRolledBackWithItsParent) {
  ASSERT_TRUE(
      registry_.LoadDirectory(testing::SourcePath("tests/integration/sagas"))
          .ok());
  engine_->Start();
  auto start = [&] {
    std::promise<absl::StatusOr<store::CreateResult>> created;
    engine_->StartSaga("appointment_booking_child", kInput, "", {}, "",
                       [&](auto result) { created.set_value(result); });
    auto result = created.get_future().get();
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->saga_id : "";
  };

  const std::string done = start();
  ASSERT_EQ(Await(done), AwaitOutcome::kReached);
  const std::string child = core::ChildSagaId(done, 0);
  store::SagaRecord parent = Record(done);
  EXPECT_EQ(parent.summary.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(Types(parent),
            (std::vector<std::string>{
                "SagaStarted", "StepStarted", "StepAccepted", "StepSucceeded",
                "StepStarted", "StepSucceeded", "SagaCompleted"}));
  EXPECT_EQ(parent.events[2].child_saga_id, child);
  EXPECT_NE(parent.events[3].output_json.find("\"reserve_doctor\""),
            std::string::npos)
      << parent.events[3].output_json;
  store::SagaRecord completed = Record(child);
  EXPECT_EQ(completed.summary.status, core::SagaStatus::kCompleted);
  EXPECT_EQ(completed.summary.parent_saga_id, done);
  EXPECT_EQ(completed.summary.parent_step, "hold");

  // The pivot fails for good: the parent rolls its COMPLETED child back.
  participant_.SetOutcome("send_notification",
                          v1::STEP_OUTCOME_BUSINESS_FAILURE);
  const std::string undone = start();
  ASSERT_EQ(Await(undone), AwaitOutcome::kReached);
  EXPECT_EQ(Record(undone).summary.status, core::SagaStatus::kCompensated);
  store::SagaRecord rolled_back = Record(core::ChildSagaId(undone, 0));
  EXPECT_EQ(rolled_back.summary.status, core::SagaStatus::kCompensated);
  EXPECT_EQ(Types(rolled_back),
            (std::vector<std::string>{
                "SagaStarted", "StepStarted", "StepSucceeded", "StepStarted",
                "StepSucceeded", "SagaCompleted", "CancelRequested",
                "CompensationStarted", "CompensationStepStarted",
                "CompensationStepSucceeded", "SagaCompensated"}));
  EXPECT_EQ(participant_.Effects("release_reservation"), 1);
}

TEST_F(EngineTest, StartPastTheBacklogBoundIsRefusedAndWritesNothing) {
  EngineOptions options;
  options.max_backlog = 1;
  NewEngine({}, options);
  participant_.Block("validate_patient");
  engine_->Start();
  const std::string first = Start();
  std::promise<absl::StatusOr<store::CreateResult>> refused;
  engine_->StartSaga("appointment_booking", kInput, "key-2", {}, "",
                     [&](auto result) { refused.set_value(result); });
  const auto result = refused.get_future().get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted)
      << result.status();
  EXPECT_NE(result.status().message().find("--max-backlog"),
            absl::string_view::npos);
  auto page = store_.List({});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->sagas.size(), 1u);
  EXPECT_EQ(Metric("saga_starts_refused_total", {}), 1);
  // Once the first saga ends, there is room again.
  participant_.Unblock();
  ASSERT_NE(Await(first), AwaitOutcome::kTimedOut);
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] { return engine_->ActiveSagas() == 0; }, 20s));
  EXPECT_FALSE(Start("key-2").empty());
}

}  // namespace
}  // namespace saga::engine
