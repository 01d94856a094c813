// The engine: the I/O shell around the pure decider. For every saga it runs
// the loop  signal -> Decide -> commit events (store) -> apply -> act,
// where acting means calling a participant or arming a backoff timer.
// Nothing is acted on before the events that decided it are committed.
//
// Concurrency: all saga state lives on one engine thread (an Asio
// io_context), so sagas need no locks and no thread of their own; store
// calls run on a small database thread pool; participant calls are
// asynchronous gRPC. Many thousands of sagas can be in flight at once.
//
// Failure handling: if a commit fails (database down, outcome in doubt), the
// saga's state is reloaded from the store once it is reachable again and
// the saga resumes from what was durably recorded (a call whose result was
// not recorded is treated as having an unknown outcome and retried with the
// same idempotency key).
//
// Thread-safety: the public methods may be called from any thread; their
// callbacks run on the engine thread or a database thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/store/store.h"

namespace saga::engine {

struct EngineOptions {
  // Threads (and so concurrent transactions) for store calls.
  int db_threads = 8;
  // Largest accepted saga input, in bytes.
  size_t max_input_bytes = 256 * 1024;
  // Longest a graceful Stop waits for calls in flight.
  std::chrono::milliseconds drain_timeout{10000};
  // Where the engine records its metrics (not owned; must outlive the
  // engine). Null: into a registry of its own that nobody reads.
  OrchestratorMetrics* metrics = nullptr;
};

enum class AwaitOutcome {
  kReached,    // the saga ended, or the awaited step succeeded
  kTimedOut,   // still running when the timeout passed
  kNotActive,  // not driven by this engine: ended earlier, or unknown
};

class Engine {
 public:
  Engine(store::SagaStore* store, DefinitionRegistry* definitions,
         ParticipantClients* participants, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads every unfinished saga from the store and queues its resumption.
  // Call before Start. Returns how many sagas were loaded.
  absl::StatusOr<size_t> Recover();

  // Starts the engine thread and the database pool.
  void Start();

  // First phase of a graceful stop: answers every AwaitSaga now (as timed
  // out) and from now on, so the API server can shut down without waiting
  // for sagas to end, and stops starting participant calls.
  void BeginShutdown();

  // Stops starting new calls, waits (up to drain_timeout) for the calls and
  // commits in flight, then stops the threads. Unfinished sagas resume at
  // the next start.
  void Stop();

  // Validates the input against the current definition of `saga_type`,
  // commits the saga (first event, first step's intent, outbox) and only
  // then calls `done` and starts the first step. `trace` is the caller's
  // valid W3C trace context, or empty for a new trace; the saga records it
  // and every participant call continues it. `started_by` names the
  // authenticated caller (empty: none), recorded in SagaStarted. Errors:
  // NotFound (unknown type), InvalidArgument (bad input), AlreadyExists (key
  // reused with another input), Unavailable (nothing committed).
  void StartSaga(const std::string& saga_type, const std::string& input_json,
                 const std::string& idempotency_key, core::TraceContext trace,
                 const std::string& started_by,
                 std::function<void(absl::StatusOr<store::CreateResult>)> done);

  // Asks a running saga to roll back. `done` gets OK once the decision is
  // committed, FailedPrecondition if the saga is past its pivot, NotFound if
  // this engine does not drive the saga (ended earlier, or unknown).
  void CancelSaga(const std::string& saga_id, const std::string& reason,
                  std::function<void(absl::Status)> done);

  // Calls `done` once the saga ends (or, with a non-empty `step`, once that
  // step has succeeded), or when `timeout` passes. InvalidArgument through
  // done's status if `step` is not a step of the saga.
  void AwaitSaga(const std::string& saga_id, const std::string& step,
                 std::chrono::milliseconds timeout,
                 std::function<void(absl::StatusOr<AwaitOutcome>)> done);

  // An operator repair: `signal` is kOperatorRetry, kOperatorSkipStep (with
  // `step_name`) or kOperatorMarkCompensated, carrying operator_name and the
  // reason in `error`. Works on ended sagas too (a FAILED saga is brought
  // back to be repaired). `done` gets OK once the repair is committed,
  // FailedPrecondition if it does not apply to the saga as it stands,
  // NotFound / InvalidArgument for an unknown saga or step.
  void Operate(const std::string& saga_id, core::Signal signal,
               const std::string& step_name,
               std::function<void(absl::Status)> done);

  // Calls `done` once the saga has recorded an event after `after_seq` or
  // has ended, or when `timeout` passes (for streaming a saga's events).
  void AwaitProgress(const std::string& saga_id, int64_t after_seq,
                     std::chrono::milliseconds timeout,
                     std::function<void(absl::StatusOr<AwaitOutcome>)> done);

  bool Stopping() const { return stopping_.load(); }

  // Number of sagas this engine is driving (approximate, for logs).
  size_t ActiveSagas() const { return active_sagas_.load(); }

 private:
  struct Runtime;
  struct Waiter;
  struct Queued;

  core::DecideContext Context();
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
  void Invoke(const std::string& saga_id, Runtime& runtime,
              const core::Command& command);
  void Arm(const std::string& saga_id, Runtime& runtime, int64_t due_ms);
  void NotifyWaiters(Runtime& runtime);
  void AddWaiter(const std::string& saga_id, int step_index, int64_t after_seq,
                 std::chrono::milliseconds timeout,
                 std::function<void(absl::StatusOr<AwaitOutcome>)> done);
  void DrainQueued(const std::string& saga_id);
  void RetireIfEnded(const std::string& saga_id);
  void Reload(const std::string& saga_id, std::chrono::milliseconds delay);
  void Adopt(const std::string& saga_id, std::chrono::milliseconds delay);
  void Insert(const std::string& saga_id,
              std::shared_ptr<const core::SagaDefinition> definition,
              core::SagaState state);
  // Logs a failure about a driven saga (a warning, or an error when
  // `severe`) with the fields every saga log line carries. REQUIRES: on the
  // engine thread.
  void LogFailure(const std::string& saga_id, const Runtime& runtime,
                  const char* message, const std::string& error,
                  bool severe = false) const;
  // Stops driving a saga. REQUIRES: on the engine thread.
  void Erase(
      std::unordered_map<std::string, std::unique_ptr<Runtime>>::iterator it);

  store::SagaStore* store_;
  DefinitionRegistry* definitions_;
  ParticipantClients* participants_;
  EngineOptions options_;
  std::unique_ptr<OrchestratorMetrics> own_metrics_;
  OrchestratorMetrics* metrics_;

  struct Threads;
  std::unique_ptr<Threads> threads_;

  // Engine-thread only.
  std::unordered_map<std::string, std::unique_ptr<Runtime>> sagas_;
  std::mt19937_64 random_;

  std::atomic<bool> stopping_{false};
  std::mutex drain_mutex_;
  std::condition_variable drained_;
  std::atomic<size_t> calls_in_flight_{0};  // changes under drain_mutex_
  std::atomic<size_t> active_sagas_{0};
};

}  // namespace saga::engine
