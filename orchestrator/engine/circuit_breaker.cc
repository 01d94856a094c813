#include "orchestrator/engine/circuit_breaker.h"

#include <utility>

namespace saga::engine {

namespace {

// Whether `part` is at least `percent`% of `whole`.
bool Reaches(int64_t part, int64_t whole, int percent) {
  return part * 100 >= whole * percent;
}

}  // namespace

const char* CircuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options,
                               OnTransition on_transition)
    : options_(options),
      on_transition_(std::move(on_transition)),
      window_(options.window_ms) {}

std::optional<CircuitBreaker::Permit> CircuitBreaker::TryAdmit(int64_t now_ms) {
  if (state_ == CircuitState::kOpen) {
    if (now_ms < opened_at_ms_ + options_.open_ms) return std::nullopt;
    MoveTo(CircuitState::kHalfOpen, "open_elapsed", {}, now_ms);
  }
  if (state_ == CircuitState::kHalfOpen) {
    if (trials_admitted_ >= options_.half_open_calls) return std::nullopt;
    ++trials_admitted_;
  }
  return Permit{generation_, now_ms};
}

void CircuitBreaker::OnResult(Permit permit, CallEnd end, int64_t now_ms) {
  if (!options_.enabled || permit.generation != generation_) return;
  const bool slow =
      end.timed_out || now_ms - permit.admitted_ms >= options_.slow_call_ms;
  std::optional<Verdict> verdict;
  CallCounts counts;
  switch (state_) {
    case CircuitState::kClosed:
      window_.Add(now_ms, end.failure, slow);
      counts = window_.CountsAt(now_ms);
      verdict = JudgeWindow(counts);
      break;
    case CircuitState::kHalfOpen:
      ++trials_.calls;
      trials_.failures += end.failure ? 1 : 0;
      trials_.slow += slow ? 1 : 0;
      counts = trials_;
      verdict = JudgeTrials();
      break;
    case CircuitState::kOpen:
      return;  // unreachable: OPEN admits nothing in its generation
  }
  if (verdict) MoveTo(verdict->next, verdict->reason, counts, now_ms);
}

std::optional<CircuitBreaker::Verdict> CircuitBreaker::JudgeWindow(
    const CallCounts& counts) const {
  if (counts.calls < options_.min_calls) return std::nullopt;
  if (Reaches(counts.failures, counts.calls, options_.failure_rate_percent)) {
    return Verdict{CircuitState::kOpen, "failure_rate"};
  }
  if (Reaches(counts.slow, counts.calls, options_.slow_call_rate_percent)) {
    return Verdict{CircuitState::kOpen, "slow_call_rate"};
  }
  return std::nullopt;
}

std::optional<CircuitBreaker::Verdict> CircuitBreaker::JudgeTrials() const {
  // Rates are over every trial the state admits, ended or not: the ones
  // still to end can only add to the counts.
  const int64_t all = options_.half_open_calls;
  const int64_t pending = all - trials_.calls;
  if (Reaches(trials_.failures, all, options_.failure_rate_percent)) {
    return Verdict{CircuitState::kOpen, "failure_rate"};
  }
  if (Reaches(trials_.slow, all, options_.slow_call_rate_percent)) {
    return Verdict{CircuitState::kOpen, "slow_call_rate"};
  }
  if (!Reaches(trials_.failures + pending, all,
               options_.failure_rate_percent) &&
      !Reaches(trials_.slow + pending, all, options_.slow_call_rate_percent)) {
    return Verdict{CircuitState::kClosed, "trials_passed"};
  }
  return std::nullopt;
}

std::optional<int64_t> CircuitBreaker::TrialsDueMs() const {
  if (state_ != CircuitState::kOpen) return std::nullopt;
  return opened_at_ms_ + options_.open_ms;
}

void CircuitBreaker::MoveTo(CircuitState next, const char* reason,
                            const CallCounts& counts, int64_t now_ms) {
  const CircuitState previous = state_;
  state_ = next;
  ++generation_;
  window_.Clear();
  trials_admitted_ = 0;
  trials_ = {};
  if (next == CircuitState::kOpen) opened_at_ms_ = now_ms;
  if (on_transition_) {
    on_transition_({previous, next, now_ms, reason, counts});
  }
}

}  // namespace saga::engine
