// AwaitSaga wherever the saga is driven. The engine answers for the sagas it
// drives, from its committed state. A saga it does not drive (another
// instance holds its lease, or it ended before the call) is read from the
// store and judged by the same rule (core::Reached); if it has not got there,
// the awaiter asks again every poll_interval (the engine first: the saga may
// have moved here meanwhile) until it has or the deadline comes.
//
// Thread-safety: Await may be called from any thread. `done` runs once, on an
// engine thread or on one of the awaiter's own threads, which read the store
// and keep the poll timers. The destructor waits for pending polls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/store/store.h"

namespace saga::engine {

struct SagaAwaiterOptions {
  // Threads that read sagas driven elsewhere and keep the poll timers.
  int threads = 2;
  // How often a saga driven elsewhere is read again.
  std::chrono::milliseconds poll_interval{500};
};

struct AwaitedSaga {
  // The saga when the wait ended.
  SagaView saga;
  // Whether it ended, or (when a step was named) that step succeeded.
  bool reached = false;
};

// A saga as the store recorded it: `record` folded with the definition
// version it started with.
absl::StatusOr<SagaView> RecordedView(DefinitionRegistry& definitions,
                                      const std::string& saga_id,
                                      const store::SagaRecord& record);

class SagaAwaiter {
 public:
  // `engine`, `store` and `definitions` must outlive the awaiter.
  SagaAwaiter(Engine* engine, store::SagaStore* store,
              DefinitionRegistry* definitions, SagaAwaiterOptions options = {});
  ~SagaAwaiter();
  SagaAwaiter(const SagaAwaiter&) = delete;
  SagaAwaiter& operator=(const SagaAwaiter&) = delete;

  // Waits until the saga ends (or, with a non-empty `step`, that step
  // succeeds) or `deadline` passes, and answers with the saga as it then
  // is. Errors: InvalidArgument "saga type '<type>' has no step '<step>'",
  // and the store's (NotFound for an unknown saga, Unavailable, ...). While
  // the engine is shutting down, a saga driven elsewhere is read once.
  void Await(const std::string& saga_id, const std::string& step,
             std::chrono::steady_clock::time_point deadline,
             std::function<void(absl::StatusOr<AwaitedSaga>)> done);

 private:
  struct Pool;
  struct Call;

  void AskEngine(std::shared_ptr<Call> call);
  // On a pool thread: reads the saga and answers, or polls again.
  void ReadRecorded(std::shared_ptr<Call> call, AwaitOutcome outcome);

  Engine* engine_;
  store::SagaStore* store_;
  DefinitionRegistry* definitions_;
  SagaAwaiterOptions options_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace saga::engine
