// The engine's life cycle (start, drain, stop), the API's requests (start,
// cancel, operator repairs) and the decide -> commit -> act path. Recovery
// and adoption are in engine_recovery.cc, waiters in engine_waiters.cc,
// participant calls in engine_invoke.cc.
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
#include "orchestrator/core/business_key.h"
#include "orchestrator/core/input.h"
#include "orchestrator/core/outbox.h"
#include "orchestrator/core/snapshot.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/engine_internal.h"
#include "orchestrator/engine/lease_keeper.h"
#include "orchestrator/engine/participant_gates.h"
#include "orchestrator/engine/saga_ids.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;
using observability::LogField;
using std::chrono::milliseconds;

namespace {

using engine_internal::NowMs;
using engine_internal::SagaFields;
using engine_internal::SummaryOf;

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

// Fresh tokens for a decision: one per asynchronous step of the definition,
// since a decision may start all of them (a parallel group); most
// definitions have none (and skip the system calls).
std::vector<std::string> CompletionTokensFor(
    const core::SagaDefinition& definition) {
  std::vector<std::string> tokens;
  for (const auto& step : definition.steps) {
    if (step.async_completion) tokens.push_back(NewCompletionToken());
  }
  return tokens;
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

}  // namespace

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

void Engine::Start() {
  threads_->committer->Start();
  threads_->leases->Start();
  if (options_.pauses != nullptr) {
    // Before any call can go: a restart keeps its participants paused.
    absl::StatusOr<std::vector<store::ParticipantPause>> pauses =
        options_.pauses->List();
    if (pauses.ok()) {
      ApplyPauses(*pauses, "database");
    } else {
      Log(spdlog::level::warn, "participant pauses not read at start",
          {{"error", pauses.status().ToString()}});
    }
    asio::post(threads_->io, [this] { PollPauses(); });
  }
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
  return calls_in_flight_ == 0 && commits_in_flight_ == 0;
}

bool Engine::Drain() {
  // Let the calls in flight land and their results commit, so the next
  // driver does not have to treat them as unknown.
  const auto deadline =
      std::chrono::steady_clock::now() + options_.drain_timeout;
  sync::MutexLock lock(&drain_mutex_);
  while (!Drained()) {
    if (!drained_.WaitUntil(&drain_mutex_, deadline)) return Drained();
  }
  return true;
}

void Engine::CallStarted() {
  sync::MutexLock lock(&drain_mutex_);
  ++calls_in_flight_;
}

void Engine::CallLanded() {
  sync::MutexLock lock(&drain_mutex_);
  if (--calls_in_flight_ == 0 && Drained()) drained_.SignalAll();
}

void Engine::CommitStarted() {
  sync::MutexLock lock(&drain_mutex_);
  ++commits_in_flight_;
}

void Engine::CommitLanded() {
  sync::MutexLock lock(&drain_mutex_);
  if (--commits_in_flight_ == 0 && Drained()) drained_.SignalAll();
}

void Engine::Stop() {
  if (!threads_->thread.joinable()) return;
  BeginShutdown();
  const std::string& self = options_.leases.instance_id;
  if (!Drain()) {
    // Their sagas resume with those outcomes unknown.
    sync::MutexLock lock(&drain_mutex_);
    Log(spdlog::level::warn, "stopping with calls or commits in flight",
        {{"instance", self},
         {"calls", static_cast<int64_t>(calls_in_flight_)},
         {"commits", static_cast<int64_t>(commits_in_flight_)}});
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

core::DecideContext Engine::Context(const core::SagaDefinition& definition) {
  return {NowMs(), std::uniform_real_distribution<double>(0.0, 1.0)(random_),
          CompletionTokensFor(definition)};
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
                 core::CurrentStep(runtime.state), 0);
  fields.emplace_back("error", error);
  Log(severe ? spdlog::level::err : spdlog::level::warn, message, fields);
}

void Engine::StartSaga(
    const std::string& saga_type, const std::string& input_json,
    const std::string& idempotency_key, core::TraceContext trace,
    const std::string& started_by,
    std::function<void(absl::StatusOr<store::CreateResult>)> done) {
  StartSaga(saga_type, input_json, idempotency_key, std::move(trace),
            started_by, 0, std::move(done));
}

void Engine::StartSaga(
    const std::string& saga_type, const std::string& input_json,
    const std::string& idempotency_key, core::TraceContext trace,
    const std::string& started_by, int64_t start_at_ms,
    std::function<void(absl::StatusOr<store::CreateResult>)> done) {
  StartSaga(saga_type, input_json, idempotency_key, std::move(trace),
            started_by, start_at_ms, core::StartLabels{}, std::move(done));
}

void Engine::StartSaga(
    const std::string& saga_type, const std::string& input_json,
    const std::string& idempotency_key, core::TraceContext trace,
    const std::string& started_by, int64_t start_at_ms,
    const core::StartLabels& labels,
    std::function<void(absl::StatusOr<store::CreateResult>)> done) {
  StartSagaWith(NewSagaId(), {}, saga_type, input_json, idempotency_key,
                std::move(trace), started_by, start_at_ms, labels,
                std::move(done));
}

void Engine::StartSagaWith(
    const std::string& saga_id, const core::ParentLink& parent,
    const std::string& saga_type, const std::string& input_json,
    const std::string& idempotency_key, core::TraceContext trace,
    const std::string& started_by, int64_t start_at_ms,
    const core::StartLabels& labels,
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
  core::StartLabels labelled = labels;
  absl::StatusOr<std::string> business_key = core::BusinessKeyFor(
      **definition, *canonical, labels.business_key, "business_key");
  if (!business_key.ok()) {
    done(business_key.status());
    return;
  }
  labelled.business_key = *std::move(business_key);
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
  if (trace.traceparent.empty()) {
    trace = {observability::NewTrace().ToString(), ""};
  }
  auto decision = std::make_shared<core::Decision>(core::DecideStart(
      **definition, *canonical,
      {NowMs(), ThreadLocalUnitRandom(), CompletionTokensFor(**definition)},
      trace, started_by, start_at_ms, parent, labelled));
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
    if (signal.kind == core::Signal::Kind::kSagaSignal) {
      fields.emplace_back("signal", signal.signal_name);
      fields.emplace_back("signal_key", signal.signal_key);
      Log(spdlog::level::info, "signal received", fields);
    } else if (signal.kind == core::Signal::Kind::kParentRollback) {
      fields.emplace_back("reason", signal.error);
      Log(spdlog::level::info, "rolled back by its parent", fields);
    } else {
      fields.emplace_back("operator", signal.operator_name);
      fields.emplace_back("repair", RepairName(signal.kind));
      fields.emplace_back("reason", signal.error);
      Log(spdlog::level::info, "operator repair", fields);
    }
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

void Engine::CompleteStep(const std::string& saga_id,
                          const std::string& step_name, std::string token,
                          core::CallOutcome outcome, std::string output_json,
                          std::string error,
                          std::function<void(absl::Status)> done) {
  auto signal = std::make_shared<core::Signal>();
  signal->kind = core::Signal::Kind::kStepCompletion;
  signal->completion_token = std::move(token);
  signal->outcome = outcome;
  signal->output_json = std::move(output_json);
  signal->error = std::move(error);
  // REQUIRES: on the engine thread.
  auto complete = [this, saga_id, step_name, signal, done] {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) {
      done(absl::FailedPreconditionError(
          "completion token not accepted: the saga is not running"));
      return;
    }
    Runtime& runtime = *it->second;
    signal->step = runtime.definition->StepIndex(step_name);
    if (signal->step < 0) {
      done(absl::FailedPreconditionError(
          "completion token not accepted: saga type '" +
          runtime.definition->name + "' has no step '" + step_name + "'"));
      RetireIfEnded(saga_id);
      return;
    }
    Handle(saga_id, *signal, done);
  };
  asio::post(threads_->io, [this, saga_id, complete, done] {
    if (sagas_.count(saga_id)) {
      complete();
      return;
    }
    // Not driven here: take it over unless another instance drives it. A
    // resume first, so that a saga taken over this way waits (its timer
    // armed) like any other even if the completion is refused.
    TakeOver(saga_id, [this, saga_id, complete, done](absl::Status taken) {
      if (absl::IsFailedPrecondition(taken)) {
        // Another instance drives it: the participant may try again, and
        // reach that one.
        done(absl::UnavailableError(
            "another orchestrator instance drives this saga; try again"));
      } else if (absl::IsNotFound(taken)) {
        done(absl::FailedPreconditionError(
            "completion token not accepted: no such saga"));
      } else if (!taken.ok()) {
        done(taken);
      } else {
        auto it = sagas_.find(saga_id);
        if (it != sagas_.end() && !core::IsTerminal(it->second->state.status)) {
          Handle(saga_id, core::Signal{}, nullptr);
        }
        complete();
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
  core::Decision decision = core::Decide(*runtime.definition, runtime.state,
                                         signal, Context(*runtime.definition));
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
  CommitStarted();
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
  absl::Cleanup landed = [this] { CommitLanded(); };
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
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  if (runtime.busy || runtime.queued.empty()) {
    RetireIfEnded(saga_id);
    return;
  }
  // What arrived while the last commit was under way (the results of
  // parallel branches, a cancel, a timer) is decided in arrival order, each
  // on the state the one before leaves, and committed together: one write
  // for the lot, and the history reads as the same decisions one by one.
  std::vector<Queued> queued = std::move(runtime.queued);
  runtime.queued.clear();
  const core::SagaDefinition& definition = *runtime.definition;
  core::SagaState working = runtime.state;
  core::Decision combined;
  std::vector<std::function<void(absl::Status)>> dones;
  for (Queued& next : queued) {
    core::Decision decision =
        core::Decide(definition, working, next.signal, Context(definition));
    if (!decision.refusal.ok()) {
      if (next.done) next.done(decision.refusal);
      continue;
    }
    for (core::Event& event : decision.events) {
      core::Apply(definition, working, event);
      combined.events.push_back(std::move(event));
    }
    if (next.done) dones.push_back(std::move(next.done));
  }
  combined.commands = core::CommandsAfter(definition, runtime.state, working);
  auto done_all = [dones = std::move(dones)](absl::Status status) {
    for (const auto& done : dones) done(status);
  };
  if (combined.events.empty()) {
    RunCommands(saga_id, runtime, combined.commands);
    done_all(absl::OkStatus());
    RetireIfEnded(saga_id);
    return;
  }
  Commit(saga_id, runtime, std::move(combined), std::move(done_all));
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
      case core::Command::Kind::kAwaitChild:
        AwaitChild(saga_id, command);
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

store::AppendBatch Engine::MakeBatch(
    const core::SagaDefinition& definition, int64_t expected_last_seq,
    const core::SagaState& next, const std::vector<core::Event>& events) const {
  store::AppendBatch batch;
  batch.saga_id = next.saga_id;
  batch.expected_last_seq = expected_last_seq;
  batch.events = events;
  batch.summary = SummaryOf(definition, next);
  batch.outbox = core::OutboxMessagesFor(definition, next.saga_id, events);
  if (core::SagaRests(next)) batch.snapshot = core::EncodeSnapshot(next);
  batch.writer = options_.leases.instance_id;
  batch.lease_ttl = options_.leases.ttl;
  return batch;
}

}  // namespace saga::engine
