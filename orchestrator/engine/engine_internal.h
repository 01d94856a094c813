// The engine's private types and the helpers its .cc files share
// (engine.cc, engine_invoke.cc, engine_recovery.cc, engine_waiters.cc; the
// helpers are defined in engine_internal.cc). Not part of the engine's
// interface: include it from those files only.
#pragma once

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "observability/logging.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"
#include "orchestrator/engine/committer.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/lease_keeper.h"
#include "orchestrator/store/store.h"

namespace saga::engine {

namespace engine_internal {

// Wall-clock time, Unix epoch milliseconds.
int64_t NowMs();

// The summary row `state` implies.
store::SagaSummary SummaryOf(const core::SagaDefinition& definition,
                             const core::SagaState& state);

// The fields every log line about a saga carries (step -1 and attempt 0
// for lines about the saga as a whole).
std::vector<observability::LogField> SagaFields(
    const std::string& saga_id, const core::SagaDefinition& definition,
    std::string_view trace_id, int step, int attempt);

// A new trace id for a saga with no recorded trace, else "": a saga keeps
// no copy of its recorded id (memory per saga), Runtime::trace_id slices it.
std::string FallbackTraceIdOf(const core::SagaState& state);

// The kCallResult signal that answers `command` (an Execute or Compensate).
core::Signal CallResultSignal(const core::Command& command,
                              core::CallOutcome outcome,
                              std::string output_json, std::string error);

}  // namespace engine_internal

struct Engine::Threads {
  explicit Threads(int db_threads) : db(db_threads) {}

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
      io.get_executor()};
  boost::asio::steady_timer pause_poll{io};
  std::thread thread;
  boost::asio::thread_pool db;
  std::unique_ptr<LeaseKeeper> leases;
  std::unique_ptr<Committer> committer;
};

struct Engine::Waiter {
  int step = -1;
  int64_t after_seq = -1;
  std::unique_ptr<boost::asio::steady_timer> timer;
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
  Runtime(boost::asio::io_context& io,
          std::shared_ptr<const core::SagaDefinition> definition,
          core::SagaState state)
      : definition(std::move(definition)),
        state(std::move(state)),
        fallback_trace_id(engine_internal::FallbackTraceIdOf(this->state)),
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
  // The token of the latest participant call started for each step with
  // one (steps of a parallel group call at once): a parked call goes only
  // if it is still its step's latest. Usually one entry.
  std::vector<std::pair<int, uint64_t>> call_tokens;
  // The lease generation (lease_keeper.h) in which this instance last
  // proved it holds the saga's lease: by creating, claiming or appending to
  // it. A participant call goes only in the current generation.
  uint64_t lease_generation = 0;
  // The generation read when the commit under way began.
  uint64_t commit_generation = 0;
  boost::asio::steady_timer timer;  // backoff
  std::vector<std::shared_ptr<Waiter>> waiters;
};

}  // namespace saga::engine
