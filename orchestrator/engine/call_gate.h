// Admission of calls to one participant: its circuit breaker plus a bound on
// the calls in flight, with a FIFO queue in front of both. A call that may
// not go now waits in the queue (it is "parked": nothing is sent, no retry
// attempt is used) and goes, in order, once a call ends or the circuit lets
// a probe through (call Pump at WakeAtMs). Pure: time is passed in.
//
// Thread-safety: none; use from one thread. `send` must not call back into
// the gate synchronously (the engine's calls end asynchronously).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

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
  };

  CallGate(CallGateOptions options,
           CircuitBreaker::OnTransition on_transition = nullptr);

  // Queues `call` behind those already waiting and sends whatever may go at
  // `now_ms`. Returns false when `call` has to wait.
  bool Submit(Call call, int64_t now_ms);

  // A sent call ended; `breaker_failure` as in CircuitBreaker::OnResult.
  // Then sends whatever may go.
  void Finished(CircuitBreaker::Permit permit, bool breaker_failure,
                int64_t now_ms);

  // Sends, in order, the queued calls that may go at `now_ms`.
  void Pump(int64_t now_ms);

  // When Pump should run although no call ends: while calls wait behind an
  // open circuit, the time its probe is due. Otherwise nullopt.
  std::optional<int64_t> WakeAtMs() const;

  CircuitState state() const { return breaker_.state(); }
  size_t queued() const { return queue_.size(); }
  int in_flight() const { return in_flight_; }

 private:
  CallGateOptions options_;
  CircuitBreaker breaker_;
  std::deque<Call> queue_;
  int in_flight_ = 0;
};

}  // namespace saga::engine
