#include "orchestrator/engine/circuit_breaker.h"

#include <utility>

namespace saga::engine {

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
    : options_(options), on_transition_(std::move(on_transition)) {}

std::optional<CircuitBreaker::Permit> CircuitBreaker::TryAdmit(int64_t now_ms) {
  if (state_ == CircuitState::kOpen) {
    if (now_ms < opened_at_ms_ + options_.open_for_ms) return std::nullopt;
    MoveTo(CircuitState::kHalfOpen, now_ms);
  }
  if (state_ == CircuitState::kHalfOpen) {
    if (in_flight_ >= stage_size_ - stage_successes_) return std::nullopt;
    ++in_flight_;
  }
  return Permit{generation_};
}

void CircuitBreaker::OnResult(Permit permit, bool breaker_failure,
                              int64_t now_ms) {
  if (permit.generation != generation_) return;  // stale
  switch (state_) {
    case CircuitState::kClosed:
      consecutive_failures_ = breaker_failure ? consecutive_failures_ + 1 : 0;
      if (options_.failure_threshold > 0 &&
          consecutive_failures_ >= options_.failure_threshold) {
        MoveTo(CircuitState::kOpen, now_ms);
      }
      return;
    case CircuitState::kHalfOpen:
      --in_flight_;
      if (breaker_failure) {
        MoveTo(CircuitState::kOpen, now_ms);
        return;
      }
      if (++stage_successes_ < stage_size_) return;
      if (stage_size_ * 2 >= options_.close_after_ramp_to) {
        MoveTo(CircuitState::kClosed, now_ms);
        return;
      }
      // Every call of the stage has ended (admitted = successes +
      // in flight), so the next stage starts empty.
      stage_size_ *= 2;
      stage_successes_ = 0;
      return;
    case CircuitState::kOpen:
      return;  // unreachable: OPEN admits nothing in its generation
  }
}

std::optional<int64_t> CircuitBreaker::ProbeDueMs() const {
  if (state_ != CircuitState::kOpen) return std::nullopt;
  return opened_at_ms_ + options_.open_for_ms;
}

void CircuitBreaker::MoveTo(CircuitState next, int64_t now_ms) {
  const CircuitState previous = state_;
  state_ = next;
  ++generation_;
  consecutive_failures_ = 0;
  stage_size_ = 1;
  stage_successes_ = 0;
  in_flight_ = 0;
  if (next == CircuitState::kOpen) opened_at_ms_ = now_ms;
  if (on_transition_) on_transition_(previous, next, now_ms);
}

}  // namespace saga::engine
