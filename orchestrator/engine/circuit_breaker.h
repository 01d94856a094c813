// A circuit breaker for one participant, as a pure state machine: the
// caller passes the time in, and reports how each admitted call ended, so
// every transition is unit-testable without a clock. It decides the way
// resilience4j, Polly's advanced breaker and Envoy's failure-percentage
// outlier detection do: by rates over enough calls, never by one call.
//
//   CLOSED    every call is admitted. Its results are counted over a
//             sliding time window (call_window.h, `window_ms`). Once the
//             window holds at least `min_calls`, the circuit opens when
//             failures reach `failure_rate_percent` of them, or slow calls
//             reach `slow_call_rate_percent`.
//   OPEN      nothing is admitted until `open_ms` has passed since it
//             opened; then the next admission attempt moves it to
//             HALF_OPEN.
//   HALF_OPEN up to `half_open_calls` trial calls are admitted at once, and
//             no more. Their rates decide, over all of them: the circuit
//             closes if neither rate reaches its threshold, else it opens
//             again for another `open_ms`. It decides as soon as the
//             outcome is certain: when the failures (or slow calls) so far
//             already reach the threshold, or when they could not reach it
//             even if every trial still to end failed (or was slow).
//
// A failure is a call that did not get an answer (a retryable failure, a
// transport error, a timeout): a business failure is an answer and counts
// as a success. A slow call is one that timed out, or whose duration (from
// admission to the report of its end) reached `slow_call_ms`; fast or slow
// is judged independently of failed or not.
//
// Results of calls admitted before the latest transition are stale: they
// say nothing about the participant as it is now, so they change nothing
// (a failure from before the circuit opened does not re-open a recovering
// one). Each admission returns a Permit that names its generation.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "orchestrator/engine/call_window.h"

namespace saga::engine {

// The values are those of the saga_participant_circuit_state gauge.
enum class CircuitState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

const char* CircuitStateName(CircuitState state);

struct CircuitBreakerOptions {
  // false: every call is admitted and nothing is counted.
  bool enabled = true;
  // CLOSED: results count over the last window_ms, and only from
  // min_calls calls on.
  int64_t window_ms = 10000;
  int min_calls = 50;
  // Rates, in percent (1-100), that open the circuit when reached.
  int failure_rate_percent = 80;
  int slow_call_rate_percent = 100;
  // A call that lasted this long (or timed out) is slow.
  int64_t slow_call_ms = 5000;
  // How long the circuit stays OPEN before trial calls are admitted.
  int64_t open_ms = 2000;
  // Trial calls admitted at once in HALF_OPEN, whose rates decide.
  int half_open_calls = 2;
};

// How an admitted call ended, as the caller saw it.
struct CallEnd {
  // No answer: retryable failure, transport error or timeout.
  bool failure = false;
  // It ran into its deadline (slow, whatever its duration).
  bool timed_out = false;
};

class CircuitBreaker {
 public:
  // Names the admission a call's result belongs to, and when it was.
  struct Permit {
    uint64_t generation = 0;
    int64_t admitted_ms = 0;
  };
  struct Transition {
    CircuitState from;
    CircuitState to;
    int64_t now_ms;
    // "failure_rate" or "slow_call_rate" (to OPEN), "open_elapsed" (to
    // HALF_OPEN), "trials_passed" (to CLOSED).
    const char* reason;
    // What the decision was based on: the window's counts (from CLOSED) or
    // the trials that ended (from HALF_OPEN); zero from OPEN.
    CallCounts counts;
  };
  using OnTransition = std::function<void(const Transition&)>;

  explicit CircuitBreaker(CircuitBreakerOptions options,
                          OnTransition on_transition = nullptr);

  // Whether a call may be sent at `now_ms`. If it may, the caller MUST
  // report its end with OnResult exactly once, passing the returned permit.
  // May move OPEN -> HALF_OPEN.
  std::optional<Permit> TryAdmit(int64_t now_ms);

  // The end, at `now_ms`, of a call admitted with `permit`.
  void OnResult(Permit permit, CallEnd end, int64_t now_ms);

  CircuitState state() const { return state_; }
  // While OPEN: when trial calls become admissible. Otherwise nullopt.
  std::optional<int64_t> TrialsDueMs() const;
  // HALF_OPEN: trial calls admitted that have not ended.
  int trials_in_flight() const { return trials_admitted_ - trials_.calls; }

 private:
  // The decision on the results so far, if any: the next state and why.
  struct Verdict {
    CircuitState next;
    const char* reason;
  };
  std::optional<Verdict> JudgeWindow(const CallCounts& counts) const;
  std::optional<Verdict> JudgeTrials() const;
  void MoveTo(CircuitState next, const char* reason, const CallCounts& counts,
              int64_t now_ms);

  CircuitBreakerOptions options_;
  OnTransition on_transition_;
  CircuitState state_ = CircuitState::kClosed;
  uint64_t generation_ = 0;  // bumped on every transition
  CallWindow window_;        // CLOSED only
  int64_t opened_at_ms_ = 0;
  // HALF_OPEN only: trial calls admitted, and the counts of those ended.
  int trials_admitted_ = 0;
  CallCounts trials_;
};

}  // namespace saga::engine
