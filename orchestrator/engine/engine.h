// The engine: the I/O shell around the pure decider. For every saga it runs
// the loop  signal -> Decide -> commit events (store) -> apply -> act,
// where acting means calling a participant or arming a backoff timer.
// Nothing is acted on before the events that decided it are committed.
//
// Concurrency: all saga state lives on one engine thread (an Asio
// io_context), so sagas need no locks and no thread of their own; store
// calls run on a small database thread pool; participant calls are
// asynchronous gRPC. Many thousands of sagas can be in flight at once.
// Writes go through a Committer (committer.h), which commits the
// transitions of many sagas in one transaction.
//
// Failure handling: if a commit fails (database down, outcome in doubt), the
// saga's state is reloaded from the store once it is reachable again and
// the saga resumes from what was durably recorded (a call whose result was
// not recorded is treated as having an unknown outcome and retried with the
// same idempotency key).
//
// Backpressure: every participant call passes its participant's gate
// (participant_gates.h: circuit breaker, in-flight bound, compensations
// first), where it may park in memory without using an attempt; StartSaga
// is refused past EngineOptions::max_backlog.
//
// Pauses: an operator may pause a participant (PauseParticipant). The pause
// is kept in the store (EngineOptions::pauses), so it survives a restart and
// reaches every instance on the database: each reads the pauses at Start and
// then every lease claim interval. A paused participant's gate parks every
// call (participant_gates.h), so its sagas wait without using attempts; on
// resume the parked calls go at once.
//
// Several instances: the engine drives only sagas whose lease it holds (see
// store.h). It creates sagas leased to itself, claims free and expired
// leases as it runs (lease_keeper.h) and stops driving a saga as soon as
// the store refuses its append for a lost lease, or a reload shows that
// another instance holds it.
//
// Thread-safety: the public methods may be called from any thread; their
// callbacks run on the engine thread or a database thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/engine/committer.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/lease_options.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/engine/participant_gates.h"
#include "orchestrator/store/participant_pauses.h"
#include "orchestrator/store/store.h"
#include "orchestrator/sync/mutex.h"

namespace saga::core {
struct ChildResult;
struct StepRequest;
}  // namespace saga::core

namespace saga::engine {

struct EngineOptions {
  // Threads for the store calls that read (recovery, reloads); writes go
  // through the committer.
  int db_threads = 8;
  // Writes: groups committing at once, and the most batches in one group.
  CommitterOptions committer;
  // Largest accepted saga input, in bytes.
  size_t max_input_bytes = 256 * 1024;
  // Longest a graceful stop waits for calls in flight and their commits.
  std::chrono::milliseconds drain_timeout{10000};
  LeaseOptions leases;
  // Admission of participant calls: the circuit breakers and the bound on
  // calls in flight, per participant (see participant_gates.h).
  ParticipantGatesOptions calls;
  // Most sagas this engine drives at once (running, waiting, or being
  // created); past it StartSaga answers ResourceExhausted and writes
  // nothing. Sagas recovered or claimed are never refused, but count. 0: no
  // bound.
  size_t max_backlog = 0;
  // Where the engine records its metrics (not owned; must outlive the
  // engine). Null: into a registry of its own that nobody reads.
  OrchestratorMetrics* metrics = nullptr;
  // Operators' pauses of participants (not owned; must outlive the engine),
  // read at Start and every leases.claim_interval. Null: no participant is
  // ever paused, and PauseParticipant answers FailedPrecondition.
  store::ParticipantPauses* pauses = nullptr;
};

// One participant as this engine sees it (ListParticipants). The gate's
// figures are this instance's own; the pause holds for every instance.
struct ParticipantView {
  std::string name;
  std::string address;
  ParticipantGates::View gate;
  std::optional<store::ParticipantPause> pause;  // nullopt: not paused
};

struct PauseResult {
  bool changed = false;         // false: it already was paused (or not paused)
  ParticipantView participant;  // after the change
};

enum class AwaitOutcome {
  kReached,    // the saga ended, or the awaited step succeeded
  kTimedOut,   // still running when the timeout passed
  kNotActive,  // not driven by this engine: ended earlier, or unknown
};

// A saga as the engine holds it: its committed state (never ahead of the
// store) with the summary row that state implies.
struct SagaView {
  std::shared_ptr<const core::SagaDefinition> definition;
  store::SagaSummary summary;
  core::SagaState state;
};

struct AwaitResult {
  AwaitOutcome outcome = AwaitOutcome::kNotActive;
  // The saga when the wait ended; empty for kNotActive.
  std::optional<SagaView> saga;
};

class Engine {
 public:
  Engine(store::SagaStore* store, DefinitionRegistry* definitions,
         ParticipantClients* participants, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Gives up leases left under this instance id by an earlier process,
  // then claims (in batches) every saga whose lease is free or expired and
  // queues its resumption, in one pass over the saga ids. Call once,
  // before or right after Start (before any saga is started): after Start,
  // the sagas of the first batch resume while the pass goes on; the others
  // resume once it has ended, so that the pass (which the API waits for)
  // does not share the machine with them. Returns how many sagas it
  // claimed.
  absl::StatusOr<size_t> Recover();

  // Starts the engine thread, and the lease renewals and claims.
  void Start();

  // First phase of a graceful stop: answers every AwaitSaga now (as timed
  // out) and from now on, so the API server can shut down without waiting
  // for sagas to end; from now on StartSaga answers Unavailable, and no
  // participant call and no claim is started.
  void BeginShutdown();

  // Waits (up to drain_timeout) until the participant calls in flight have
  // landed and the commits they caused are done. Returns whether they all
  // did. The API keeps serving meanwhile.
  bool Drain();

  // Stops starting new calls, drains (as Drain), stops the threads and
  // releases this instance's leases, so that another instance (or the next
  // start) resumes the unfinished sagas at once.
  void Stop();

  // Validates the input against the current definition of `saga_type`,
  // commits the saga (first event, first step's intent, outbox), leased to
  // this instance, and only then calls `done` and starts the first step.
  // `trace` is the caller's valid W3C trace context, or empty for a new
  // trace; the saga records it and every participant call continues it.
  // `started_by` names the authenticated caller (empty: none), recorded in
  // SagaStarted. Errors: NotFound (unknown type), InvalidArgument (bad
  // input), AlreadyExists (key reused with another input), ResourceExhausted
  // (nothing committed: the backlog bound is reached), Unavailable (nothing
  // committed: the database is unreachable or read-only, or the engine is
  // shutting down), Unknown (the commit is in doubt).
  void StartSaga(const std::string& saga_type, const std::string& input_json,
                 const std::string& idempotency_key, core::TraceContext trace,
                 const std::string& started_by,
                 std::function<void(absl::StatusOr<store::CreateResult>)> done);
  // The same, scheduled: the saga is committed now and its first step
  // starts at `start_at_ms` (Unix ms; a time already past: at once).
  void StartSaga(const std::string& saga_type, const std::string& input_json,
                 const std::string& idempotency_key, core::TraceContext trace,
                 const std::string& started_by, int64_t start_at_ms,
                 std::function<void(absl::StatusOr<store::CreateResult>)> done);
  // The same, labelled: `labels.business_key` is the caller's business key
  // (empty: the one the definition derives from the input, if any; see
  // business_key.h; InvalidArgument if it is not a valid key), and
  // `labels.rerun_of` is recorded as given (the caller checked it).
  void StartSaga(const std::string& saga_type, const std::string& input_json,
                 const std::string& idempotency_key, core::TraceContext trace,
                 const std::string& started_by, int64_t start_at_ms,
                 const core::StartLabels& labels,
                 std::function<void(absl::StatusOr<store::CreateResult>)> done);

  // Asks a running saga to roll back. `done` gets OK once the decision is
  // committed, FailedPrecondition if the saga is past its pivot or another
  // instance holds its lease, NotFound if the saga has ended or is unknown.
  // A saga nobody holds is taken over to be cancelled.
  void CancelSaga(const std::string& saga_id, const std::string& reason,
                  std::function<void(absl::Status)> done);

  // Calls `done` once the saga ends (or, with a non-empty `step`, once that
  // step has succeeded), or when `timeout` passes, with the saga as it then
  // is, so the caller need not read it back from the store. InvalidArgument
  // through done's status if `step` is not a step of the saga.
  void AwaitSaga(const std::string& saga_id, const std::string& step,
                 std::chrono::milliseconds timeout,
                 std::function<void(absl::StatusOr<AwaitResult>)> done);

  // An operator repair: `signal` is kOperatorRetry, kOperatorSkipStep (with
  // `step_name`) or kOperatorMarkCompensated, carrying operator_name and the
  // reason in `error`; or a saga signal (kSagaSignal, see decider.h), which
  // takes the same way to the saga, so that a repeated delivery to an ended
  // saga is answered as the first one was. Works on ended sagas too (a FAILED
  // saga is brought back to be repaired, here). `done` gets OK once the repair
  // is committed, FailedPrecondition if it does not apply to the saga as it
  // stands or another instance holds its lease, NotFound / InvalidArgument
  // for an unknown saga or step.
  void Operate(const std::string& saga_id, core::Signal signal,
               const std::string& step_name,
               std::function<void(absl::Status)> done);

  // CompleteStep: the result (`outcome` kSucceeded or kBusinessFailure,
  // `output_json`, `error`) of the current attempt of the asynchronous step
  // `step_name`, authorized by the attempt's completion `token`. `done` gets
  // OK once it is committed; FailedPrecondition (nothing recorded) when the
  // saga has ended or is unknown, has no such step, the step does not wait
  // for a completion, or the token is not its current attempt's; also when
  // another instance holds the saga's lease. A saga nobody holds is taken
  // over, as for a cancel.
  void CompleteStep(const std::string& saga_id, const std::string& step_name,
                    std::string token, core::CallOutcome outcome,
                    std::string output_json, std::string error,
                    std::function<void(absl::Status)> done);

  // Calls `done` once the saga has recorded an event after `after_seq` or
  // has ended, or when `timeout` passes (for streaming a saga's events).
  void AwaitProgress(const std::string& saga_id, int64_t after_seq,
                     std::chrono::milliseconds timeout,
                     std::function<void(absl::StatusOr<AwaitOutcome>)> done);

  // Every configured participant, by name, as it stands now.
  void ListParticipants(std::function<void(std::vector<ParticipantView>)> done);

  // Pauses (`pause`) or resumes `participant` for every instance on the
  // store, recorded with `by` (the operator) and `reason`, audited in the
  // outbox and the log; applied here before `done`, elsewhere within a claim
  // interval. Idempotent: changed=false when nothing changed. NotFound for
  // a participant that is not configured; FailedPrecondition without a
  // pause store; the store's errors (Unavailable, Unknown).
  void PauseParticipant(const std::string& participant, bool pause,
                        const std::string& by, const std::string& reason,
                        std::function<void(absl::StatusOr<PauseResult>)> done);

  bool Stopping() const { return stopping_.load(); }

  // Number of sagas this engine is driving (approximate, for logs).
  size_t ActiveSagas() const { return active_sagas_.load(); }

 private:
  // Defined in engine_internal.h, except OutgoingCall (engine_invoke.cc).
  struct Runtime;
  struct Waiter;
  struct Queued;
  struct Threads;
  struct OutgoingCall;
  struct ChildWatch;  // engine_children.cc

  // engine.cc: decide -> commit -> act. Every method below REQUIRES the
  // engine thread, except where it says otherwise.
  core::DecideContext Context(const core::SagaDefinition& definition);
  void Handle(const std::string& saga_id, core::Signal signal,
              std::function<void(absl::Status)> done);
  void Commit(const std::string& saga_id, Runtime& runtime,
              core::Decision decision, std::function<void(absl::Status)> done);
  void OnCommitted(const std::string& saga_id, absl::Status status,
                   std::shared_ptr<core::SagaState> next,
                   std::shared_ptr<core::Decision> decision,
                   std::function<void(absl::Status)> done);
  void RunCommands(const std::string& saga_id, Runtime& runtime,
                   const std::vector<core::Command>& commands);
  void Arm(const std::string& saga_id, Runtime& runtime, int64_t due_ms);
  void DrainQueued(const std::string& saga_id);
  void RetireIfEnded(const std::string& saga_id);
  void Insert(const std::string& saga_id,
              std::shared_ptr<const core::SagaDefinition> definition,
              core::SagaState state, const std::string& idempotency_key,
              uint64_t lease_generation);
  // Stops driving a saga.
  void Erase(
      std::unordered_map<std::string, std::unique_ptr<Runtime>>::iterator it);
  // Any thread.
  store::AppendBatch MakeBatch(const core::SagaDefinition& definition,
                               int64_t expected_last_seq,
                               const core::SagaState& next,
                               const std::vector<core::Event>& events) const;
  // Logs a failure about a driven saga (a warning, or an error when
  // `severe`) with the fields every saga log line carries.
  void LogFailure(const std::string& saga_id, const Runtime& runtime,
                  const char* message, const std::string& error,
                  bool severe = false) const;
  // What Drain waits for: counted up when a participant call is sent or a
  // commit starts, down once its result is handled. Any thread.
  void CallStarted();
  void CallLanded();
  void CommitStarted();
  void CommitLanded();
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(drain_mutex_);

  // engine_invoke.cc: participant calls, gate -> send -> result.
  void Invoke(const std::string& saga_id, Runtime& runtime,
              const core::Command& command);
  // Asked by the gate when the call's turn comes: whether it is still its
  // saga's latest and may go.
  bool CallWanted(const OutgoingCall& call);
  void Send(std::shared_ptr<const OutgoingCall> call,
            CircuitBreaker::Permit permit);
  void CallEnded(const OutgoingCall& call, CircuitBreaker::Permit permit,
                 CallResult result);

  // engine_children.cc: saga steps (see core/child_saga.h). Their call
  // starts the child; their compensation rolls it back and waits for it.
  void InvokeChild(const std::string& parent_id, Runtime& runtime,
                   const core::Command& command,
                   const core::StepRequest& request);
  void UndoChild(const std::string& parent_id, const core::Command& command,
                 const std::string& child_id, const core::StepDefinition& step);
  // kAwaitChild: watches the child until it ends, then completes the step.
  void AwaitChild(const std::string& parent_id, const core::Command& command);
  void WatchChild(std::shared_ptr<ChildWatch> watch);
  // Whether the parent still waits for the attempt the watch serves.
  bool ParentWaits(const ChildWatch& watch) const;
  void ReportChild(const ChildWatch& watch, core::ChildResult result);
  void EndWatch(const ChildWatch& watch);
  // StartSaga with a given id and parent (a child saga's); the public
  // StartSaga draws an id and has no parent.
  void StartSagaWith(
      const std::string& saga_id, const core::ParentLink& parent,
      const std::string& saga_type, const std::string& input_json,
      const std::string& idempotency_key, core::TraceContext trace,
      const std::string& started_by, int64_t start_at_ms,
      const core::StartLabels& labels,
      std::function<void(absl::StatusOr<store::CreateResult>)> done);

  // engine_waiters.cc.
  void NotifyWaiters(Runtime& runtime);
  // REQUIRES: the saga is driven here.
  void AddWaiter(const std::string& saga_id, int step_index, int64_t after_seq,
                 std::chrono::milliseconds timeout,
                 std::function<void(AwaitOutcome, const Runtime*)> done);

  // engine_recovery.cc: reloads, adoption, leases.
  void Reload(const std::string& saga_id, std::chrono::milliseconds delay);
  void Drop(const std::string& saga_id, const std::string& why);
  void Adopt(const std::string& saga_id, std::chrono::milliseconds delay);
  // On a database thread (or before Start). With `resume` false, sagas
  // new here are only held (resumed_after_recovery_) until Recover ends.
  void AdoptClaimed(std::vector<store::SagaRecord> records, uint64_t generation,
                    bool resume = true);
  // Engine thread: resumes the sagas AdoptClaimed held back.
  void ResumeAfterRecovery();
  // A claimed record's state: its snapshot with the events after it, or
  // its whole history folded. InvalidArgument for a snapshot this build
  // cannot read (see core/snapshot.h), logged: the caller then reads the
  // whole history.
  absl::StatusOr<core::SagaState> ClaimedState(
      const core::SagaDefinition& definition, const store::SagaRecord& record);
  void TakeOver(const std::string& saga_id,
                std::function<void(absl::Status)> then);
  // Whether the saga's lease is surely still this instance's (see
  // lease_keeper.h): no participant call is sent otherwise.
  bool LeaseSurelyHeld(const Runtime& runtime) const;
  // Records that the saga's call was not sent for want of a sure lease.
  void Withhold(const std::string& saga_id);
  // Once the instance's leases are surely live again (after a renewal):
  // confirms the lease of each withheld saga.
  void ConfirmWithheldLeases();
  // Claims the saga: if the lease is (still or again) ours, its call goes
  // (or, if another instance drove it meanwhile, it resumes from the
  // record); if another instance holds it, it is let go.
  void ConfirmLease(const std::string& saga_id);
  // A claim just proved this instance holds the lease of a saga it drives
  // (`generation` was read before the claim, `recorded` is the state it
  // returned). If another instance wrote to the saga meanwhile, resumes it
  // from that state. Returns true when nothing more is to be done for the
  // saga now (it resumed, or a commit under way decides).
  bool Reclaimed(const std::string& saga_id, Runtime& runtime,
                 uint64_t generation, core::SagaState recorded);

  // engine_pauses.cc. Reads the pauses on a database thread and applies
  // them, then again after the claim interval.
  void PollPauses();
  // Makes the gates follow `pauses` (every pause in force), logging each
  // change with `source`.
  void ApplyPauses(const std::vector<store::ParticipantPause>& pauses,
                   const char* source);
  ParticipantView ViewOf(const std::string& participant,
                         const std::string& address);

  store::SagaStore* store_;
  DefinitionRegistry* definitions_;
  ParticipantClients* participants_;
  EngineOptions options_;
  std::unique_ptr<OrchestratorMetrics> own_metrics_;
  OrchestratorMetrics* metrics_;

  std::unique_ptr<Threads> threads_;
  // Engine-thread only; declared after threads_ so that its timers go
  // before the io_context.
  std::unique_ptr<ParticipantGates> gates_;

  // Engine-thread only.
  std::unordered_map<std::string, std::unique_ptr<Runtime>> sagas_;
  // Sagas whose call was withheld while the leases were unsure.
  std::set<std::string> withheld_;
  // Sagas recovery adopted after its first batch: resumed once the pass
  // has ended.
  std::vector<std::string> resumed_after_recovery_;
  // Child sagas whose start is committing, and the parents' attempts whose
  // child is watched ("<parent>/<step>/<attempt>").
  std::set<std::string> starting_children_;
  std::set<std::string> child_watches_;
  std::mt19937_64 random_;
  // Names each participant call, so that a parked call can tell whether it
  // is still its saga's latest.
  uint64_t last_call_token_ = 0;
  // The pauses in force, by participant, and the count of changes made
  // through this engine: a poll that read the store before the latest of
  // them is stale and ignored.
  std::map<std::string, store::ParticipantPause> pauses_;
  uint64_t pause_changes_ = 0;

  std::atomic<bool> stopping_{false};
  sync::Mutex drain_mutex_;
  sync::CondVar drained_;
  // Participant calls whose result has not been handled yet, and commits
  // of decisions not answered yet.
  size_t calls_in_flight_ ABSL_GUARDED_BY(drain_mutex_) = 0;
  size_t commits_in_flight_ ABSL_GUARDED_BY(drain_mutex_) = 0;
  std::atomic<size_t> active_sagas_{0};
  // StartSaga calls admitted under the backlog bound and not yet driven.
  std::atomic<size_t> starting_sagas_{0};
};

}  // namespace saga::engine
