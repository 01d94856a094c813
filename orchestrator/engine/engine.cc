#include "orchestrator/engine/engine.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "observability/logging.h"
#include "observability/trace_context.h"
#include "orchestrator/core/input.h"
#include "orchestrator/core/outbox.h"
#include "orchestrator/core/wait_goal.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/lease_keeper.h"
#include "orchestrator/engine/participant_gates.h"
#include "orchestrator/engine/saga_ids.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;
using observability::LogField;
using std::chrono::milliseconds;

namespace {

// Recovery's batches grow to this many sagas per claim statement.
constexpr int kLargestRecoveryBatch = 5000;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string StepName(const core::SagaDefinition& definition, int step) {
  return step >= 0 && step < static_cast<int>(definition.steps.size())
             ? definition.steps[step].name
             : "";
}

store::SagaSummary SummaryOf(const core::SagaDefinition& definition,
                             const core::SagaState& state) {
  store::SagaSummary summary;
  summary.saga_id = state.saga_id;
  summary.saga_type = state.saga_type;
  summary.definition_version = state.definition_version;
  summary.status = state.status;
  // A FAILED saga shows the step that gave up, which is what an operator
  // listing failed sagas looks for.
  const int current = state.status == core::SagaStatus::kFailed
                          ? core::StuckStep(state)
                          : state.current_step;
  summary.current_step = StepName(definition, current);
  if (current >= 0) {
    const core::StepState& step = state.steps[current];
    const bool undoing = state.status == core::SagaStatus::kCompensating ||
                         step.status == core::StepStatus::kCompensationFailed;
    summary.current_attempt =
        undoing ? step.compensation_attempts : step.attempts;
  }
  summary.error = state.reason;
  summary.input_json = state.input_json;
  summary.last_seq = state.last_seq;
  summary.created_ms = state.created_ms;
  summary.updated_ms = state.updated_ms;
  return summary;
}

// Numbers `events` after state's last seq and applies them to a copy.
core::SagaState ApplyNumbered(const core::SagaDefinition& definition,
                              core::SagaState state,
                              std::vector<core::Event>& events) {
  for (auto& event : events) {
    event.seq = state.last_seq + 1;
    core::Apply(definition, state, event);
  }
  return state;
}

// The crash points a committed decision passes (see crash_points.h).
void MaybeCrashAfterCommit(const core::SagaState& next,
                           const std::vector<core::Event>& events) {
  auto has = [&](core::EventType type) {
    return std::any_of(events.begin(), events.end(),
                       [&](const core::Event& e) { return e.type == type; });
  };
  if (core::IsTerminal(next.status)) {
    MaybeCrash(CrashPoint::kAfterTerminalCommit);
  } else if (has(core::EventType::kCompensationStepSucceeded)) {
    MaybeCrash(CrashPoint::kAfterCompensationCommit);
  } else if (has(core::EventType::kStepStarted)) {
    MaybeCrash(CrashPoint::kAfterStepStartedCommit);
  }
}

// The fields every log line about a saga carries (step "" and attempt 0
// for lines about the saga as a whole).
std::vector<LogField> SagaFields(const std::string& saga_id,
                                 const core::SagaDefinition& definition,
                                 std::string_view trace_id, int step,
                                 int attempt) {
  return {{"saga_id", saga_id},
          {"saga_type", definition.name},
          {"step", StepName(definition, step)},
          {"attempt", attempt},
          {"trace_id", trace_id}};
}

// One line per committed event: the saga's transitions, without payloads.
void LogEvents(const core::SagaDefinition& definition,
               const std::string& saga_id, std::string_view trace_id,
               const std::vector<core::Event>& events) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  for (const auto& event : events) {
    std::vector<LogField> fields =
        SagaFields(saga_id, definition, trace_id, event.step, event.attempt);
    fields.emplace_back("event", core::EventTypeName(event.type));
    fields.emplace_back("seq", event.seq);
    if (!event.error.empty()) fields.emplace_back("error", event.error);
    Log(spdlog::level::info, "saga event", fields);
  }
}

// The trace a saga's calls continue: the recorded one, or for a saga
// recorded before traces were kept, one with `fallback_trace_id` (a new id,
// not recorded, so its log lines still correlate).
observability::TraceParent TraceOf(const core::SagaState& state,
                                   const std::string& fallback_trace_id) {
  auto recorded = observability::ParseTraceParent(state.traceparent);
  if (recorded) return *recorded;
  observability::TraceParent trace = observability::NewTrace();
  trace.trace_id = fallback_trace_id;
  return trace;
}

// A new trace id for a saga with no recorded trace, else "": a saga keeps
// no copy of its recorded id (memory per saga), Runtime::trace_id slices it.
std::string FallbackTraceIdOf(const core::SagaState& state) {
  return observability::ParseTraceParent(state.traceparent)
             ? std::string()
             : observability::NewTrace().trace_id;
}

const char* RepairName(core::Signal::Kind kind) {
  switch (kind) {
    case core::Signal::Kind::kOperatorRetry:
      return core::kOperatorRetry;
    case core::Signal::Kind::kOperatorSkipStep:
      return core::kOperatorSkipStep;
    case core::Signal::Kind::kOperatorMarkCompensated:
      return core::kOperatorMarkCompensated;
    default:
      return "unknown";
  }
}

// What a waiter waits for: the end, a step's success (step >= 0) or any
// event after a sequence number (after_seq >= 0).
bool Satisfied(const core::SagaState& state, int step, int64_t after_seq) {
  return core::Reached(state, {step, after_seq});
}

// Backoff for re-reading a saga while the database is unreachable.
milliseconds NextReloadDelay(milliseconds delay) {
  return std::min(milliseconds(5000), std::max(milliseconds(100), delay * 2));
}

}  // namespace

struct Engine::Threads {
  explicit Threads(int db_threads) : db(db_threads) {}

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{
      io.get_executor()};
  std::thread thread;
  asio::thread_pool db;
  std::unique_ptr<LeaseKeeper> leases;
  std::unique_ptr<Committer> committer;
};

struct Engine::Waiter {
  int step = -1;
  int64_t after_seq = -1;
  std::unique_ptr<asio::steady_timer> timer;
  // `runtime` is the saga as it stands, or null when it is not driven here.
  std::function<void(AwaitOutcome, const Runtime* runtime)> done;

  void Fire(AwaitOutcome outcome, const Runtime* runtime) {
    if (!done) return;
    auto finish = std::move(done);
    done = nullptr;
    if (timer) timer->cancel();
    finish(outcome, runtime);
  }
};

struct Engine::Queued {
  core::Signal signal;
  std::function<void(absl::Status)> done;
};

struct Engine::Runtime {
  Runtime(asio::io_context& io,
          std::shared_ptr<const core::SagaDefinition> definition,
          core::SagaState state)
      : definition(std::move(definition)),
        state(std::move(state)),
        fallback_trace_id(FallbackTraceIdOf(this->state)),
        timer(io) {}

  // The saga's trace id: from its recorded traceparent
  // ("00-<trace id>-<span id>-<flags>", checked when the runtime was made;
  // reloads fold the same SagaStarted), else the fallback.
  std::string_view trace_id() const {
    return fallback_trace_id.empty()
               ? std::string_view(state.traceparent).substr(3, 32)
               : std::string_view(fallback_trace_id);
  }

  std::shared_ptr<const core::SagaDefinition> definition;
  core::SagaState state;
  std::string fallback_trace_id;  // "" when the saga has a recorded trace
  std::string idempotency_key;    // empty when none
  // A commit (or a reload after a failed one) is under way: signals wait in
  // `queued` so every decision sees the state the previous one produced.
  bool busy = false;
  // Usually empty; a vector allocates nothing then (a deque allocates its
  // first block up front, ~600 bytes per saga).
  std::vector<Queued> queued;
  // The token of the latest participant call started for the saga.
  uint64_t call_token = 0;
  // The lease generation (lease_keeper.h) in which this instance last
  // proved it holds the saga's lease: by creating, claiming or appending to
  // it. A participant call goes only in the current generation.
  uint64_t lease_generation = 0;
  // The generation read when the commit under way began.
  uint64_t commit_generation = 0;
  asio::steady_timer timer;  // backoff
  std::vector<std::shared_ptr<Waiter>> waiters;
};

Engine::Engine(store::SagaStore* store, DefinitionRegistry* definitions,
               ParticipantClients* participants, EngineOptions options)
    : store_(store),
      definitions_(definitions),
      participants_(participants),
      options_(options),
      own_metrics_(options.metrics == nullptr
                       ? std::make_unique<OrchestratorMetrics>(
                             std::make_shared<prometheus::Registry>(),
                             std::vector<std::string>{})
                       : nullptr),
      metrics_(options.metrics == nullptr ? own_metrics_.get()
                                          : options.metrics),
      threads_(std::make_unique<Threads>(options_.db_threads)),
      gates_(std::make_unique<ParticipantGates>(threads_->io, options_.calls,
                                                metrics_)),
      random_(std::random_device{}()) {
  threads_->leases = std::make_unique<LeaseKeeper>(
      threads_->io, threads_->db, store_, options_.leases,
      [this](std::vector<store::SagaRecord> records, uint64_t generation) {
        AdoptClaimed(std::move(records), generation);
      },
      [this] { ConfirmWithheldLeases(); });
  threads_->committer = std::make_unique<Committer>(
      store_,
      [this](std::function<void()> work) {
        asio::post(threads_->io, std::move(work));
      },
      options_.committer);
}

Engine::~Engine() { Stop(); }

absl::StatusOr<size_t> Engine::Recover() {
  // Instance ids are unique among live instances, so leases under ours
  // were left by an earlier process: give them up and claim like anyone.
  auto released = store_->ReleaseLeases(options_.leases.instance_id);
  if (!released.ok()) return released.status();
  const LeaseOptions& leases = options_.leases;
  // One pass in saga id order, each batch after the last one's final id,
  // so every unfinished saga is read once however many there are. The
  // first batch is claim_batch, so its sagas resume at once; later batches
  // grow, since a statement per batch is what a long pass costs. Sagas
  // skipped (being written) or whose leases lapse meanwhile are left to
  // the lease keeper's claims.
  threads_->leases->HoldClaims(true);
  absl::Cleanup resume_claims = [this] { threads_->leases->HoldClaims(false); };
  size_t claimed = 0;
  std::string after;
  int batch_size = leases.claim_batch;
  while (true) {
    const uint64_t generation = threads_->leases->Generation();
    auto batch =
        store_->Claim(leases.instance_id, leases.ttl, batch_size, after);
    if (!batch.ok()) return batch.status();
    const size_t count = batch->size();
    if (count == 0) break;
    claimed += count;
    after = batch->back().summary.saga_id;
    AdoptClaimed(*std::move(batch), generation);
    if (count < static_cast<size_t>(batch_size)) break;
    batch_size = std::min(batch_size * 4,
                          std::max(leases.claim_batch, kLargestRecoveryBatch));
  }
  return claimed;
}

void Engine::Start() {
  threads_->committer->Start();
  threads_->leases->Start();
  threads_->thread = std::thread([this] { threads_->io.run(); });
}

void Engine::BeginShutdown() {
  stopping_ = true;
  threads_->leases->StopClaiming();
  asio::post(threads_->io, [this] {
    for (auto& [id, runtime] : sagas_) {
      for (auto& waiter : runtime->waiters) {
        waiter->Fire(AwaitOutcome::kTimedOut, runtime.get());
      }
      runtime->waiters.clear();
    }
  });
}

bool Engine::Drained() const {
  return calls_in_flight_.load() == 0 && commits_in_flight_.load() == 0;
}

bool Engine::Drain() {
  // Let the calls in flight land and their results commit, so the next
  // driver does not have to treat them as unknown.
  const auto deadline =
      std::chrono::steady_clock::now() + options_.drain_timeout;
  std::unique_lock lock(drain_mutex_);
  return drained_.wait_until(lock, deadline, [this] { return Drained(); });
}

void Engine::CallLanded() {
  std::lock_guard lock(drain_mutex_);
  if (--calls_in_flight_ == 0 && Drained()) drained_.notify_all();
}

void Engine::Stop() {
  if (!threads_->thread.joinable()) return;
  BeginShutdown();
  const std::string& self = options_.leases.instance_id;
  if (!Drain()) {
    // Their sagas resume with those outcomes unknown.
    Log(spdlog::level::warn, "stopping with calls or commits in flight",
        {{"instance", self},
         {"calls", static_cast<int64_t>(calls_in_flight_.load())},
         {"commits", static_cast<int64_t>(commits_in_flight_.load())}});
  }
  // The engine thread stops first, so nothing new reaches the committer or
  // the database pool; they then finish what they have, and only then are
  // the leases given up: after the release this instance writes nothing.
  threads_->work.reset();
  threads_->io.stop();
  threads_->thread.join();
  threads_->committer->Stop();
  threads_->db.join();
  auto released = store_->ReleaseLeases(self);
  if (released.ok()) {
    Log(spdlog::level::info, "leases released",
        {{"instance", self}, {"sagas", *released}});
  } else {
    // They expire after the lease TTL instead.
    Log(spdlog::level::warn, "leases not released",
        {{"instance", self}, {"error", released.status().ToString()}});
  }
}

core::DecideContext Engine::Context() {
  return {NowMs(), std::uniform_real_distribution<double>(0.0, 1.0)(random_)};
}

void Engine::Insert(const std::string& saga_id,
                    std::shared_ptr<const core::SagaDefinition> definition,
                    core::SagaState state, const std::string& idempotency_key,
                    uint64_t lease_generation) {
  metrics_->SagaDriven(definition->name);
  auto& runtime = sagas_[saga_id];
  runtime = std::make_unique<Runtime>(threads_->io, std::move(definition),
                                      std::move(state));
  runtime->idempotency_key = idempotency_key;
  runtime->lease_generation = lease_generation;
  active_sagas_ = sagas_.size();
}

void Engine::Erase(
    std::unordered_map<std::string, std::unique_ptr<Runtime>>::iterator it) {
  metrics_->SagaDropped(it->second->definition->name);
  sagas_.erase(it);
  active_sagas_ = sagas_.size();
}

void Engine::LogFailure(const std::string& saga_id, const Runtime& runtime,
                        const char* message, const std::string& error,
                        bool severe) const {
  std::vector<LogField> fields =
      SagaFields(saga_id, *runtime.definition, runtime.trace_id(),
                 runtime.state.current_step, 0);
  fields.emplace_back("error", error);
  Log(severe ? spdlog::level::err : spdlog::level::warn, message, fields);
}

void Engine::StartSaga(
    const std::string& saga_type, const std::string& input_json,
    const std::string& idempotency_key, core::TraceContext trace,
    const std::string& started_by,
    std::function<void(absl::StatusOr<store::CreateResult>)> done) {
  auto definition = definitions_->Current(saga_type);
  if (!definition.ok()) {
    done(definition.status());
    return;
  }
  auto canonical = core::ValidateSagaInput(**definition, input_json,
                                           options_.max_input_bytes);
  if (!canonical.ok()) {
    done(canonical.status());
    return;
  }
  if (stopping_) {
    done(absl::UnavailableError("the orchestrator is shutting down"));
    return;
  }
  // The place is taken before the check, so concurrent starts cannot all
  // slip under the bound; it is given back once the saga is driven (then
  // counted in active_sagas_) or not created.
  const size_t backlog = starting_sagas_.fetch_add(1) + active_sagas_.load();
  if (options_.max_backlog > 0 && backlog >= options_.max_backlog) {
    --starting_sagas_;
    metrics_->StartRefused();
    Log(spdlog::level::warn, "saga start refused: backlog bound reached",
        {{"saga_type", saga_type},
         {"backlog", static_cast<int64_t>(backlog)},
         {"max_backlog", static_cast<int64_t>(options_.max_backlog)}});
    done(absl::ResourceExhaustedError(
        "the orchestrator already has " + std::to_string(backlog) +
        " sagas in flight, its bound (--max-backlog); nothing was written, "
        "try again later"));
    return;
  }
  const std::string saga_id = NewSagaId();
  if (trace.traceparent.empty()) {
    trace = {observability::NewTrace().ToString(), ""};
  }
  auto decision = std::make_shared<core::Decision>(
      core::DecideStart(**definition, *canonical,
                        {NowMs(), ThreadLocalUnitRandom()}, trace, started_by));
  auto state = std::make_shared<core::SagaState>(
      ApplyNumbered(**definition, core::NewSagaState(**definition, saga_id),
                    decision->events));
  auto batch = std::make_shared<store::AppendBatch>(
      MakeBatch(**definition, 0, *state, decision->events));
  batch->summary.idempotency_key = idempotency_key;

  // The result arrives on the engine thread.
  threads_->committer->Create(
      batch,
      [this, definition = *definition, decision, state, idempotency_key,
       generation = threads_->leases->Generation(), done = std::move(done)](
          absl::StatusOr<store::CreateResult> created) mutable {
        if (!created.ok() || !created->created) --starting_sagas_;
        if (!created.ok()) {
          // In doubt: the saga may exist after all. Adopt it if it does, so
          // a committed saga is never left undriven until the next restart.
          if (created.status().code() == absl::StatusCode::kUnknown) {
            Adopt(state->saga_id, milliseconds(200));
          }
          done(created.status());
          return;
        }
        if (!created->created) {
          done(created);
          return;
        }
        MaybeCrash(CrashPoint::kAfterStartCommit);
        metrics_->RecordCommitted(*definition, decision->events);
        Insert(state->saga_id, definition, *state, idempotency_key, generation);
        --starting_sagas_;
        Runtime& runtime = *sagas_[state->saga_id];
        LogEvents(*definition, state->saga_id, runtime.trace_id(),
                  decision->events);
        RunCommands(state->saga_id, runtime, decision->commands);
        done(created);
      });
}

void Engine::CancelSaga(const std::string& saga_id, const std::string& reason,
                        std::function<void(absl::Status)> done) {
  // REQUIRES: on the engine thread.
  auto cancel = [this, saga_id, reason, done] {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end() || core::IsTerminal(it->second->state.status)) {
      RetireIfEnded(saga_id);
      done(absl::NotFoundError("saga " + saga_id + " is not running"));
      return;
    }
    core::Signal signal;
    signal.kind = core::Signal::Kind::kCancel;
    signal.error = reason;
    Handle(saga_id, std::move(signal), done);
  };
  asio::post(threads_->io, [this, saga_id, cancel, done] {
    if (sagas_.count(saga_id)) {
      cancel();
      return;
    }
    // Not driven here: take it over unless another instance drives it.
    TakeOver(saga_id, [cancel, done](absl::Status taken) {
      if (taken.ok()) {
        cancel();
      } else {
        done(taken);
      }
    });
  });
}

void Engine::AwaitSaga(const std::string& saga_id, const std::string& step,
                       milliseconds timeout,
                       std::function<void(absl::StatusOr<AwaitResult>)> done) {
  asio::post(threads_->io, [this, saga_id, step, timeout,
                            done = std::move(done)]() mutable {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) {
      done(AwaitResult{});
      return;
    }
    int step_index = -1;
    if (!step.empty()) {
      step_index = it->second->definition->StepIndex(step);
      if (step_index < 0) {
        done(absl::InvalidArgumentError("saga type '" +
                                        it->second->definition->name +
                                        "' has no step '" + step + "'"));
        return;
      }
    }
    AddWaiter(
        saga_id, step_index, -1, timeout,
        [done = std::move(done)](AwaitOutcome outcome, const Runtime* runtime) {
          AwaitResult result{outcome, std::nullopt};
          if (runtime != nullptr) {
            result.saga =
                SagaView{runtime->definition,
                         SummaryOf(*runtime->definition, runtime->state),
                         runtime->state};
            result.saga->summary.idempotency_key = runtime->idempotency_key;
          }
          done(std::move(result));
        });
  });
}

void Engine::AwaitProgress(
    const std::string& saga_id, int64_t after_seq, milliseconds timeout,
    std::function<void(absl::StatusOr<AwaitOutcome>)> done) {
  asio::post(threads_->io, [this, saga_id, after_seq, timeout,
                            done = std::move(done)]() mutable {
    if (!sagas_.count(saga_id)) {
      done(AwaitOutcome::kNotActive);
      return;
    }
    AddWaiter(saga_id, -1, after_seq, timeout,
              [done = std::move(done)](AwaitOutcome outcome, const Runtime*) {
                done(outcome);
              });
  });
}

// REQUIRES: on the engine thread; the saga is driven here.
void Engine::AddWaiter(const std::string& saga_id, int step_index,
                       int64_t after_seq, milliseconds timeout,
                       std::function<void(AwaitOutcome, const Runtime*)> done) {
  Runtime& runtime = *sagas_.at(saga_id);
  if (Satisfied(runtime.state, step_index, after_seq)) {
    done(AwaitOutcome::kReached, &runtime);
    return;
  }
  if (stopping_) {
    done(AwaitOutcome::kTimedOut, &runtime);
    return;
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->step = step_index;
  waiter->after_seq = after_seq;
  waiter->done = std::move(done);
  waiter->timer = std::make_unique<asio::steady_timer>(threads_->io);
  waiter->timer->expires_after(timeout);
  waiter->timer->async_wait(
      [this, saga_id, waiter](const boost::system::error_code& error) {
        if (error) return;
        auto it = sagas_.find(saga_id);
        waiter->Fire(AwaitOutcome::kTimedOut,
                     it == sagas_.end() ? nullptr : it->second.get());
      });
  runtime.waiters.push_back(std::move(waiter));
}

void Engine::Operate(const std::string& saga_id, core::Signal signal,
                     const std::string& step_name,
                     std::function<void(absl::Status)> done) {
  auto request = std::make_shared<std::pair<core::Signal, std::string>>(
      std::move(signal), step_name);
  auto reply =
      std::make_shared<std::function<void(absl::Status)>>(std::move(done));
  // REQUIRES: on the engine thread, the saga in sagas_.
  auto run = [this, saga_id, request, reply] {
    auto& [signal, step_name] = *request;
    Runtime& runtime = *sagas_.at(saga_id);
    if (!step_name.empty()) {
      signal.step = runtime.definition->StepIndex(step_name);
      if (signal.step < 0) {
        (*reply)(absl::InvalidArgumentError(
            "saga type '" + runtime.definition->name + "' has no step '" +
            step_name + "'"));
        RetireIfEnded(saga_id);
        return;
      }
    }
    std::vector<LogField> fields = SagaFields(
        saga_id, *runtime.definition, runtime.trace_id(), signal.step, 0);
    fields.emplace_back("operator", signal.operator_name);
    fields.emplace_back("repair", RepairName(signal.kind));
    fields.emplace_back("reason", signal.error);
    Log(spdlog::level::info, "operator repair", fields);
    Handle(saga_id, signal, *reply);
  };
  asio::post(threads_->io, [this, saga_id, run, reply] {
    if (sagas_.count(saga_id)) {
      run();
      return;
    }
    // Ended here, elsewhere, or never driven here: take it over, since a
    // repair may bring a FAILED saga back to life. Handle retires it again
    // if not.
    TakeOver(saga_id, [run, reply](absl::Status taken) {
      if (taken.ok()) {
        run();
      } else {
        (*reply)(taken);
      }
    });
  });
}

void Engine::Handle(const std::string& saga_id, core::Signal signal,
                    std::function<void(absl::Status)> done) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) {
    // A late call result or timer for a saga that has ended here.
    if (done) done(absl::NotFoundError("saga " + saga_id + " is not running"));
    return;
  }
  Runtime& runtime = *it->second;
  if (runtime.busy) {
    runtime.queued.push_back({std::move(signal), std::move(done)});
    return;
  }
  core::Decision decision =
      core::Decide(*runtime.definition, runtime.state, signal, Context());
  if (!decision.refusal.ok()) {
    if (done) done(decision.refusal);
  } else if (decision.events.empty()) {
    RunCommands(saga_id, runtime, decision.commands);
    if (done) done(absl::OkStatus());
  } else {
    Commit(saga_id, runtime, std::move(decision), std::move(done));
    return;
  }
  RetireIfEnded(saga_id);
}

void Engine::Commit(const std::string& saga_id, Runtime& runtime,
                    core::Decision decision,
                    std::function<void(absl::Status)> done) {
  auto shared_decision = std::make_shared<core::Decision>(std::move(decision));
  auto next = std::make_shared<core::SagaState>(ApplyNumbered(
      *runtime.definition, runtime.state, shared_decision->events));
  auto batch = std::make_shared<store::AppendBatch>(
      MakeBatch(*runtime.definition, runtime.state.last_seq, *next,
                shared_decision->events));
  runtime.busy = true;
  runtime.commit_generation = threads_->leases->Generation();
  ++commits_in_flight_;
  // The result arrives on the engine thread.
  threads_->committer->Append(
      batch, [this, saga_id, next, shared_decision,
              done = std::move(done)](absl::Status status) mutable {
        OnCommitted(saga_id, status, next, shared_decision, std::move(done));
      });
}

void Engine::OnCommitted(const std::string& saga_id, absl::Status status,
                         std::shared_ptr<core::SagaState> next,
                         std::shared_ptr<core::Decision> decision,
                         std::function<void(absl::Status)> done) {
  // Counted down on the way out, after the commands (a next call) were
  // counted up, so Drain never sees a gap between the two.
  absl::Cleanup landed = [this] {
    std::lock_guard lock(drain_mutex_);
    if (--commits_in_flight_ == 0 && Drained()) drained_.notify_all();
  };
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  if (!status.ok()) {
    if (done) done(status);
    if (status.code() == absl::StatusCode::kAborted) {
      // Fenced: this instance lost the lease, or another writer appended.
      // The reload stops driving the saga unless the lease is still ours
      // (our view of the history was stale); the recorded history, not our
      // view of it, is the truth.
      LogFailure(saga_id, runtime, "saga fenced",
                 std::string(status.message()));
      Reload(saga_id, milliseconds(0));
      return;
    }
    LogFailure(saga_id, runtime, "commit failed; reloading from the store",
               status.ToString());
    Reload(saga_id, milliseconds(100));
    return;
  }
  metrics_->RecordCommitted(*runtime.definition, decision->events);
  LogEvents(*runtime.definition, saga_id, runtime.trace_id(), decision->events);
  MaybeCrashAfterCommit(*next, decision->events);
  runtime.state = std::move(*next);
  runtime.busy = false;
  // The append was fenced on the lease: it is ours, extended from then on.
  runtime.lease_generation = runtime.commit_generation;
  NotifyWaiters(runtime);
  RunCommands(saga_id, runtime, decision->commands);
  if (done) done(absl::OkStatus());
  DrainQueued(saga_id);
}

void Engine::DrainQueued(const std::string& saga_id) {
  while (true) {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) return;
    Runtime& runtime = *it->second;
    if (runtime.busy) return;
    if (runtime.queued.empty()) break;
    Queued next = std::move(runtime.queued.front());
    runtime.queued.erase(runtime.queued.begin());
    // Handle may retire the saga; the loop re-finds it each time.
    Handle(saga_id, std::move(next.signal), std::move(next.done));
  }
  RetireIfEnded(saga_id);
}

void Engine::RetireIfEnded(const std::string& saga_id) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  if (!core::IsTerminal(runtime.state.status) || runtime.busy ||
      !runtime.queued.empty()) {
    return;
  }
  for (auto& waiter : runtime.waiters) {
    waiter->Fire(AwaitOutcome::kReached, &runtime);
  }
  runtime.timer.cancel();
  Erase(it);
}

void Engine::NotifyWaiters(Runtime& runtime) {
  auto& waiters = runtime.waiters;
  for (auto& waiter : waiters) {
    if (waiter->done &&
        Satisfied(runtime.state, waiter->step, waiter->after_seq)) {
      waiter->Fire(AwaitOutcome::kReached, &runtime);
    }
  }
  std::erase_if(waiters, [](const auto& waiter) { return !waiter->done; });
}

void Engine::RunCommands(const std::string& saga_id, Runtime& runtime,
                         const std::vector<core::Command>& commands) {
  for (const auto& command : commands) {
    switch (command.kind) {
      case core::Command::Kind::kInvokeStep:
      case core::Command::Kind::kInvokeCompensation:
        Invoke(saga_id, runtime, command);
        break;
      case core::Command::Kind::kWaitUntil:
        Arm(saga_id, runtime, command.due_ms);
        break;
      case core::Command::Kind::kFinished: {
        std::vector<LogField> fields =
            SagaFields(saga_id, *runtime.definition, runtime.trace_id(), -1, 0);
        fields.emplace_back("status",
                            core::SagaStatusName(runtime.state.status));
        if (!runtime.state.reason.empty()) {
          fields.emplace_back("reason", runtime.state.reason);
        }
        Log(spdlog::level::info, "saga ended", fields);
        break;
      }
    }
  }
}

void Engine::Arm(const std::string& saga_id, Runtime& runtime, int64_t due_ms) {
  runtime.timer.expires_after(
      milliseconds(std::max<int64_t>(0, due_ms - NowMs())));
  runtime.timer.async_wait(
      [this, saga_id](const boost::system::error_code& error) {
        if (error) return;  // re-armed or retired
        core::Signal signal;
        signal.kind = core::Signal::Kind::kTimerFired;
        Handle(saga_id, std::move(signal), nullptr);
      });
}

void Engine::Invoke(const std::string& saga_id, Runtime& runtime,
                    const core::Command& command) {
  // While stopping, leave the intent recorded and unanswered: the next
  // start resumes it as a call with an unknown outcome.
  if (stopping_) return;
  const bool compensation =
      command.kind == core::Command::Kind::kInvokeCompensation;
  const core::StepDefinition& step = runtime.definition->steps[command.step];
  core::Signal result;
  result.kind = core::Signal::Kind::kCallResult;
  result.step = command.step;
  result.attempt = command.attempt;
  result.compensation = compensation;

  auto input =
      core::BuildStepInput(*runtime.definition, runtime.state, command.step);
  if (!input.ok()) {
    // The definition maps a field an earlier step did not return: no retry
    // can fix that, so it fails the step like a business failure.
    result.outcome = core::CallOutcome::kBusinessFailure;
    result.error = std::string(input.status().message());
    asio::post(threads_->io, [this, saga_id, result]() mutable {
      Handle(saga_id, std::move(result), nullptr);
    });
    return;
  }

  v1::StepRequest request;
  request.set_saga_id(saga_id);
  request.set_step(step.name);
  request.set_action(compensation ? step.compensation : step.action);
  const std::string key_prefix = saga_id + "/" + step.name;
  request.set_idempotency_key(key_prefix +
                              (compensation ? "/compensate" : "/execute"));
  if (compensation) {
    request.set_original_idempotency_key(key_prefix + "/execute");
    request.set_original_output_json(
        runtime.state.steps[command.step].output_json);
  }
  request.set_attempt(command.attempt);
  request.set_deadline_unix_ms(command.deadline_ms);
  request.set_input_json(*input);

  // Each call is a child span of the saga's trace.
  const observability::TraceParent span = observability::NewChildSpan(
      TraceOf(runtime.state, runtime.fallback_trace_id));
  const core::TraceContext call_trace{span.ToString(),
                                      runtime.state.tracestate};
  std::vector<LogField> fields =
      SagaFields(saga_id, *runtime.definition, runtime.trace_id(), command.step,
                 command.attempt);
  fields.emplace_back("participant", step.participant);
  fields.emplace_back("action", request.action());
  fields.emplace_back("span_id", span.span_id);

  // A parked call is sent only if, when its turn comes, it is still the
  // saga's latest and the saga still waits for it, and only while this
  // instance surely holds the saga's lease (else it is withheld, see
  // ConfirmWithheldLeases).
  const uint64_t token = ++last_call_token_;
  runtime.call_token = token;
  auto wanted = [this, saga_id, token, step = command.step,
                 attempt = command.attempt] {
    if (stopping_) return false;
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) return false;
    const Runtime& now = *it->second;
    const bool latest = now.call_token == token && now.state.call_in_flight &&
                        now.state.current_step == step &&
                        now.state.in_flight_attempt == attempt;
    if (latest && !LeaseSurelyHeld(now)) {
      Withhold(saga_id);
      return false;
    }
    return latest;
  };
  auto send = [this, saga_id, result, compensation, fields, call_trace,
               request = std::move(request), participant = step.participant,
               saga_type = runtime.definition->name, step_name = step.name,
               decided_ms = NowMs()](CircuitBreaker::Permit permit) mutable {
    // The attempt's deadline runs from when the call is sent: time parked
    // in the gate does not count against it.
    request.set_deadline_unix_ms(request.deadline_unix_ms() +
                                 std::max<int64_t>(0, NowMs() - decided_ms));
    Log(spdlog::level::info,
        compensation ? "calling participant to compensate"
                     : "calling participant",
        fields);
    ++calls_in_flight_;
    const auto deadline = std::chrono::system_clock::time_point(
        milliseconds(request.deadline_unix_ms()));
    // Records the call's latency and outcome in the metrics once it ends.
    auto meter = [metrics = metrics_, sent = std::chrono::steady_clock::now(),
                  saga_type, step_name, participant,
                  compensation](const CallResult& call) {
      metrics->CallFinished(
          saga_type, step_name, participant, compensation, call.outcome,
          call.grpc_code,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sent)
              .count());
    };
    participants_->Call(
        participant, compensation, request, deadline, call_trace,
        [this, saga_id, result, meter, participant,
         permit](CallResult call) mutable {
          MaybeCrash(CrashPoint::kAfterReplyBeforeCommit);
          meter(call);
          const CallEnd end = ParticipantGates::EndOf(call);
          result.outcome = call.outcome;
          result.output_json = std::move(call.output_json);
          result.error = std::move(call.error);
          asio::post(threads_->io, [this, saga_id, result, participant, permit,
                                    end]() mutable {
            gates_->Finished(participant, permit, end);
            // Counted down after Handle counted the commit of the result,
            // so Drain never sees a gap between the two.
            Handle(saga_id, std::move(result), nullptr);
            CallLanded();
          });
        },
        threads_->leases->SurelyHeldUntil());
  };
  if (!gates_->Submit(step.participant,
                      {std::move(wanted), std::move(send), compensation,
                       command.attempt, runtime.state.created_ms})) {
    Log(spdlog::level::debug, "participant call parked", fields);
  }
}

bool Engine::LeaseSurelyHeld(const Runtime& runtime) const {
  return runtime.lease_generation == threads_->leases->Generation() &&
         std::chrono::steady_clock::now() < threads_->leases->SurelyHeldUntil();
}

void Engine::Withhold(const std::string& saga_id) {
  if (withheld_.empty()) {
    Log(spdlog::level::warn,
        "participant calls withheld: this instance's leases may have lapsed",
        {{"instance", options_.leases.instance_id}});
  }
  withheld_.insert(saga_id);
  // Not from inside the gate that asked (wanted() runs in its pump).
  asio::post(threads_->io, [this] { ConfirmWithheldLeases(); });
}

void Engine::ConfirmWithheldLeases() {
  // While the leases may be lapsing, a claim would only race the renewal
  // that the lease keeper retries anyway: wait for it.
  if (withheld_.empty() ||
      std::chrono::steady_clock::now() >= threads_->leases->SurelyHeldUntil()) {
    return;
  }
  Log(spdlog::level::info, "confirming the leases of the withheld sagas",
      {{"instance", options_.leases.instance_id},
       {"sagas", static_cast<int64_t>(withheld_.size())}});
  for (const std::string& saga_id : std::exchange(withheld_, {})) {
    ConfirmLease(saga_id);
  }
}

void Engine::ConfirmLease(const std::string& saga_id) {
  asio::post(threads_->db, [this, saga_id] {
    // Claiming proves the lease is ours (or takes back one that expired
    // unclaimed) and returns the saga as recorded: another instance may
    // have driven it meanwhile.
    const uint64_t generation = threads_->leases->Generation();
    auto record = store_->ClaimSaga(saga_id, options_.leases.instance_id,
                                    options_.leases.ttl);
    asio::post(threads_->io, [this, saga_id, generation,
                              record = std::move(record)]() mutable {
      auto it = sagas_.find(saga_id);
      if (it == sagas_.end()) return;
      Runtime& runtime = *it->second;
      if (absl::IsUnavailable(record.status()) ||
          absl::IsUnknown(record.status())) {
        Withhold(saga_id);  // again once the database answers
        return;
      }
      if (!record.ok()) {
        Drop(saga_id, std::string(record.status().message()));
        return;
      }
      if (Reclaimed(saga_id, runtime, generation, record->events)) return;
      for (const core::Command& command :
           core::PendingCommands(*runtime.definition, runtime.state)) {
        if (command.kind == core::Command::Kind::kInvokeStep ||
            command.kind == core::Command::Kind::kInvokeCompensation) {
          Invoke(saga_id, runtime, command);
        }
      }
    });
  });
}

bool Engine::Reclaimed(const std::string& saga_id, Runtime& runtime,
                       uint64_t generation,
                       const std::vector<core::Event>& events) {
  runtime.lease_generation = generation;
  // A commit under way is refused if the history moved on, and reloads;
  // if not, it starts the saga's next call itself.
  if (runtime.busy) return true;
  const int64_t recorded_seq = events.empty() ? 0 : events.back().seq;
  if (recorded_seq == runtime.state.last_seq) return false;
  // Driven elsewhere while this instance could not be sure of the lease.
  runtime.state = core::Fold(*runtime.definition, saga_id, events);
  Handle(saga_id, core::Signal{}, nullptr);
  return true;
}

void Engine::Reload(const std::string& saga_id, milliseconds delay) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  runtime.busy = true;
  runtime.timer.cancel();
  auto timer = std::make_shared<asio::steady_timer>(threads_->io, delay);
  timer->async_wait([this, saga_id, delay,
                     timer](const boost::system::error_code&) {
    asio::post(threads_->db, [this, saga_id, delay] {
      auto record = store_->Load(saga_id);
      asio::post(threads_->io,
                 [this, saga_id, delay, record = std::move(record)]() mutable {
                   auto it = sagas_.find(saga_id);
                   if (it == sagas_.end()) return;
                   if (!record.ok()) {
                     LogFailure(saga_id, *it->second, "reload failed; retrying",
                                record.status().ToString());
                     Reload(saga_id, NextReloadDelay(delay));
                     return;
                   }
                   const std::string& owner = record->summary.lease_owner;
                   if (owner != options_.leases.instance_id) {
                     Drop(saga_id, "its lease is held by '" + owner + "'");
                     return;
                   }
                   Runtime& runtime = *it->second;
                   runtime.state =
                       core::Fold(*runtime.definition, saga_id, record->events);
                   runtime.busy = false;
                   NotifyWaiters(runtime);
                   // Resume first: it settles a call whose result was lost with
                   // the failed commit; queued signals are then judged against
                   // that.
                   runtime.queued.insert(runtime.queued.begin(),
                                         {core::Signal{}, nullptr});
                   DrainQueued(saga_id);
                 });
    });
  });
}

void Engine::Drop(const std::string& saga_id, const std::string& why) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  LogFailure(saga_id, runtime, "saga no longer driven here", why);
  for (auto& waiter : runtime.waiters) {
    waiter->Fire(AwaitOutcome::kNotActive, nullptr);
  }
  for (auto& queued : runtime.queued) {
    if (queued.done) {
      queued.done(absl::AbortedError("saga " + saga_id +
                                     " moved to another orchestrator "
                                     "instance; try again"));
    }
  }
  runtime.timer.cancel();
  Erase(it);
}

void Engine::Adopt(const std::string& saga_id, milliseconds delay) {
  auto timer = std::make_shared<asio::steady_timer>(threads_->io, delay);
  timer->async_wait(
      [this, saga_id, delay, timer](const boost::system::error_code&) {
        TakeOver(saga_id, [this, saga_id, delay](absl::Status taken) {
          if (taken.ok()) {
            Handle(saga_id, core::Signal{}, nullptr);
          } else if (absl::IsUnavailable(taken) || absl::IsUnknown(taken)) {
            Adopt(saga_id, NextReloadDelay(delay));
          } else if (!absl::IsNotFound(taken)) {
            // NotFound: the in-doubt create did not commit.
            Log(spdlog::level::warn, "saga not adopted",
                {{"saga_id", saga_id}, {"error", taken.ToString()}});
          }
        });
      });
}

void Engine::TakeOver(const std::string& saga_id,
                      std::function<void(absl::Status)> then) {
  asio::post(threads_->db, [this, saga_id, then = std::move(then)]() mutable {
    const std::string& self = options_.leases.instance_id;
    const uint64_t generation = threads_->leases->Generation();
    auto record = store_->ClaimSaga(saga_id, self, options_.leases.ttl);
    using Definition = std::shared_ptr<const core::SagaDefinition>;
    absl::StatusOr<Definition> definition =
        record.ok() ? definitions_->Version(record->summary.saga_type,
                                            record->summary.definition_version)
                    : absl::StatusOr<Definition>(record.status());
    if (record.ok() && !definition.ok()) {
      (void)store_->ReleaseLease(saga_id, self);
    }
    asio::post(threads_->io,
               [this, saga_id, generation, record = std::move(record),
                definition = std::move(definition), then = std::move(then)] {
                 if (!definition.ok()) {
                   then(definition.status());
                   return;
                 }
                 if (!sagas_.count(saga_id)) {
                   Insert(saga_id, *definition,
                          core::Fold(**definition, saga_id, record->events),
                          record->summary.idempotency_key, generation);
                 }
                 then(absl::OkStatus());
               });
  });
}

// Runs on a database thread (or before Start): definitions may have to be
// read back from the store.
void Engine::AdoptClaimed(std::vector<store::SagaRecord> records,
                          uint64_t generation) {
  const std::string& self = options_.leases.instance_id;
  for (auto& record : records) {
    const std::string saga_id = record.summary.saga_id;
    auto definition = definitions_->Version(record.summary.saga_type,
                                            record.summary.definition_version);
    if (!definition.ok()) {
      // Let an instance that knows the definition have it.
      Log(spdlog::level::err, "saga cannot be driven here, lease released",
          {{"saga_id", saga_id},
           {"saga_type", record.summary.saga_type},
           {"error", definition.status().ToString()}});
      (void)store_->ReleaseLease(saga_id, self);
      continue;
    }
    asio::post(
        threads_->io, [this, saga_id, generation, definition = *definition,
                       key = std::move(record.summary.idempotency_key),
                       events = std::move(record.events)] {
          auto it = sagas_.find(saga_id);
          if (it == sagas_.end()) {
            Insert(saga_id, definition,
                   core::Fold(*definition, saga_id, events), key, generation);
            Handle(saga_id, core::Signal{}, nullptr);
            return;
          }
          // Already driven here: its lease had lapsed and is ours again.
          Reclaimed(saga_id, *it->second, generation, events);
        });
  }
}

store::AppendBatch Engine::MakeBatch(
    const core::SagaDefinition& definition, int64_t expected_last_seq,
    const core::SagaState& next, const std::vector<core::Event>& events) const {
  store::AppendBatch batch;
  batch.saga_id = next.saga_id;
  batch.expected_last_seq = expected_last_seq;
  batch.events = events;
  batch.summary = SummaryOf(definition, next);
  batch.outbox = core::OutboxMessagesFor(definition, next.saga_id, events);
  batch.writer = options_.leases.instance_id;
  batch.lease_ttl = options_.leases.ttl;
  return batch;
}

}  // namespace saga::engine
