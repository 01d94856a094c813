// A circuit breaker for one participant, as a pure state machine: the
// caller passes the time in and reports each admitted call's end, so every
// transition is unit-testable without a clock.
//
//   CLOSED    every call is admitted. `failure_threshold` breaker failures
//             in a row (a retryable failure or a transport error: the
//             participant did not answer correctly) open the circuit. A
//             business failure is an answer, so it counts as a success.
//   OPEN      no call is admitted until `open_for` has passed since the
//             circuit opened; then the next admission attempt moves it to
//             HALF_OPEN.
//   HALF_OPEN a ramp: stage k admits up to 2^k calls at once (one probe
//             first, then 2, 4, ...) and moves to stage k+1 after 2^k
//             successes in stage k; once a stage would admit
//             `close_after_ramp_to` calls the circuit closes. Any failure
//             opens it again for another `open_for`.
//
// Results of calls admitted before the latest transition are stale: they
// say nothing about the participant as it is now, so they change nothing
// (a failure from before the circuit opened does not re-open a recovering
// one). Each admission returns a Permit that identifies its generation.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

namespace saga::engine {

// The values are those of the saga_participant_circuit_state gauge.
enum class CircuitState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

const char* CircuitStateName(CircuitState state);

struct CircuitBreakerOptions {
  // Breaker failures in a row that open the circuit; 0 disables the breaker
  // (it stays CLOSED).
  int failure_threshold = 10;
  // How long the circuit stays OPEN before a probe is admitted.
  int64_t open_for_ms = 2000;
  // Concurrent calls the ramp reaches before the circuit closes (rounded up
  // to a power of two; 1 closes on the first successful probe).
  int close_after_ramp_to = 16;
};

class CircuitBreaker {
 public:
  // Names the admission a call's result belongs to.
  struct Permit {
    uint64_t generation = 0;
  };
  // Called on every transition with the old and new state and the time.
  using OnTransition =
      std::function<void(CircuitState from, CircuitState to, int64_t now_ms)>;

  explicit CircuitBreaker(CircuitBreakerOptions options,
                          OnTransition on_transition = nullptr);

  // Whether a call may be sent at `now_ms`. If it may, the call is counted
  // as in flight and the caller MUST report its end with OnResult exactly
  // once, passing the returned permit. May move OPEN -> HALF_OPEN.
  std::optional<Permit> TryAdmit(int64_t now_ms);

  // The end of an admitted call: `breaker_failure` when the participant did
  // not answer correctly (retryable failure, transport error, timeout).
  void OnResult(Permit permit, bool breaker_failure, int64_t now_ms);

  CircuitState state() const { return state_; }
  // While OPEN: when a probe becomes admissible. Otherwise nullopt.
  std::optional<int64_t> ProbeDueMs() const;
  // Calls admitted in the current HALF_OPEN stage that have not ended.
  int probes_in_flight() const { return in_flight_; }

 private:
  void MoveTo(CircuitState next, int64_t now_ms);

  CircuitBreakerOptions options_;
  OnTransition on_transition_;
  CircuitState state_ = CircuitState::kClosed;
  uint64_t generation_ = 0;  // bumped on every transition
  int consecutive_failures_ = 0;
  int64_t opened_at_ms_ = 0;
  // HALF_OPEN only: the stage's size (2^k), its successes so far, and the
  // calls admitted in this generation still in flight.
  int stage_size_ = 1;
  int stage_successes_ = 0;
  int in_flight_ = 0;
};

}  // namespace saga::engine
