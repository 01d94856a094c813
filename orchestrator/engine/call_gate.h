// Admission of calls to one participant: its circuit breaker plus a bound on
// the calls in flight, with a queue in front of both. A call that may not go
// now waits in the queue (it is "parked": nothing is sent, no retry attempt
// is used) and goes once a call ends or the circuit admits trial calls (call
// Pump at WakeAtMs). Pure: time is passed in.
//
// An operator may pause the participant (SetPaused): then no call goes at
// all, whatever the circuit says; every call parks as behind an open
// circuit, and the queue is pumped in its usual order on resume. This is
// the one place that decides whether a call may be sent now.
//
// Which parked call goes first:
//   1. compensations before executes. A compensation undoes work and ends a
//      saga that is rolling back; it is often a different, cheaper action
//      than the execute that keeps failing, so it must not wait behind
//      executes bound to fail.
//   2. within each class, the call whose saga used the fewest attempts of
//      its step. Every call that goes while the participant fails, a trial
//      of a half-open circuit above all, uses up one attempt of its saga
//      whatever the answer; going by attempts used spreads that cost over
//      the waiting sagas in turn, so an outage does not exhaust the retries
//      of a few sagas (the oldest, or the first parked) while the others
//      keep theirs. The price: while calls queue for long, first attempts of
//      new sagas go before retries of older ones. The backlog bound stops
//      new sagas once the waiting ones fill it, so a retry's wait ends (with
//      --max-backlog 0 it lasts as long as first attempts keep arriving).
//   3. then the oldest saga (its creation time): it has waited longest.
//   4. the order of parking, only to break ties.
//
// Thread-safety: none; use from one thread. `send` must not call back into
// the gate synchronously (the engine's calls end asynchronously).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

#include "orchestrator/engine/circuit_breaker.h"

namespace saga::engine {

struct CallGateOptions {
  CircuitBreakerOptions breaker;
  // Calls in flight at once to the participant; 0: no bound.
  int max_in_flight = 256;
};

class CallGate {
 public:
  struct Call {
    // Asked when the call's turn comes: false drops it unsent (its saga
    // has moved on, ended or is no longer driven here).
    std::function<bool()> wanted;
    // Sends the call; its end MUST be reported with Finished(permit, ...).
    std::function<void(CircuitBreaker::Permit)> send;
    // Its place in the queue (see the top of this file): the class, the
    // attempt it is (1 for the first), its saga's creation time.
    bool compensation = false;
    int attempt = 1;
    int64_t saga_created_ms = 0;
  };

  CallGate(CallGateOptions options,
           CircuitBreaker::OnTransition on_transition = nullptr);

  // Queues `call` and sends whatever may go at `now_ms`, in priority order.
  // Returns false when `call` has to wait.
  bool Submit(Call call, int64_t now_ms);

  // A sent call ended at `now_ms` (see CircuitBreaker::OnResult). Then
  // sends whatever may go.
  void Finished(CircuitBreaker::Permit permit, CallEnd end, int64_t now_ms);

  // Sends, in priority order, the queued calls that may go at `now_ms`.
  void Pump(int64_t now_ms);

  // When Pump should run although no call ends: while calls wait behind an
  // open circuit (and the gate is not paused), the time its trials are
  // due. Otherwise nullopt.
  std::optional<int64_t> WakeAtMs() const;

  // Pauses (nothing is sent until resumed) or resumes the gate; resuming
  // sends at once whatever may go at `now_ms`. Idempotent.
  void SetPaused(bool paused, int64_t now_ms);
  bool paused() const { return paused_; }

  // The calls that ended in the minute up to `now_ms` (for operators; the
  // breaker judges over its own window).
  CallCounts LastMinute(int64_t now_ms) {
    return last_minute_.CountsAt(now_ms);
  }

  CircuitState state() const { return breaker_.state(); }
  size_t queued() const { return queue_.size(); }
  int in_flight() const { return in_flight_; }

 private:
  // Class (0: compensation, 1: execute), attempt, saga creation time,
  // parking order.
  using Priority = std::tuple<int, int, int64_t, uint64_t>;

  CallGateOptions options_;
  CircuitBreaker breaker_;
  std::map<Priority, Call> queue_;
  uint64_t parked_ = 0;  // calls ever queued: the tie-breaker
  int in_flight_ = 0;
  bool paused_ = false;
  CallWindow last_minute_{60000};
};

}  // namespace saga::engine
