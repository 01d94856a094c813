#include "orchestrator/engine/call_gate.h"

#include <utility>

namespace saga::engine {

CallGate::CallGate(CallGateOptions options,
                   CircuitBreaker::OnTransition on_transition)
    : options_(options), breaker_(options.breaker, std::move(on_transition)) {}

bool CallGate::Submit(Call call, int64_t now_ms) {
  queue_.push_back(std::move(call));
  Pump(now_ms);
  // Pump goes from the front, so ours left iff nothing is left.
  return queue_.empty();
}

void CallGate::Finished(CircuitBreaker::Permit permit, bool breaker_failure,
                        int64_t now_ms) {
  --in_flight_;
  breaker_.OnResult(permit, breaker_failure, now_ms);
  Pump(now_ms);
}

void CallGate::Pump(int64_t now_ms) {
  while (!queue_.empty()) {
    if (!queue_.front().wanted()) {
      queue_.pop_front();
      continue;
    }
    if (options_.max_in_flight > 0 && in_flight_ >= options_.max_in_flight) {
      return;
    }
    auto permit = breaker_.TryAdmit(now_ms);
    if (!permit) return;
    Call call = std::move(queue_.front());
    queue_.pop_front();
    ++in_flight_;
    call.send(*permit);
  }
}

std::optional<int64_t> CallGate::WakeAtMs() const {
  if (queue_.empty()) return std::nullopt;
  return breaker_.ProbeDueMs();
}

}  // namespace saga::engine
