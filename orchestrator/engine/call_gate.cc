#include "orchestrator/engine/call_gate.h"

#include <utility>

namespace saga::engine {

CallGate::CallGate(CallGateOptions options,
                   CircuitBreaker::OnTransition on_transition)
    : options_(options), breaker_(options.breaker, std::move(on_transition)) {}

bool CallGate::Submit(Call call, int64_t now_ms) {
  const Priority priority{call.compensation ? 0 : 1, call.attempt,
                          call.saga_created_ms, parked_++};
  queue_.emplace(priority, std::move(call));
  Pump(now_ms);
  return queue_.count(priority) == 0;
}

void CallGate::Finished(CircuitBreaker::Permit permit, CallEnd end,
                        int64_t now_ms) {
  --in_flight_;
  last_minute_.Add(now_ms, end.failure, end.timed_out);
  breaker_.OnResult(permit, end, now_ms);
  Pump(now_ms);
}

void CallGate::Pump(int64_t now_ms) {
  while (!queue_.empty()) {
    auto first = queue_.begin();
    if (!first->second.wanted()) {
      queue_.erase(first);
      continue;
    }
    if (paused_) return;
    if (options_.max_in_flight > 0 && in_flight_ >= options_.max_in_flight) {
      return;
    }
    auto permit = breaker_.TryAdmit(now_ms);
    if (!permit) return;
    Call call = std::move(first->second);
    queue_.erase(first);
    ++in_flight_;
    call.send(*permit);
  }
}

void CallGate::SetPaused(bool paused, int64_t now_ms) {
  paused_ = paused;
  Pump(now_ms);
}

std::optional<int64_t> CallGate::WakeAtMs() const {
  if (queue_.empty() || paused_) return std::nullopt;
  return breaker_.TrialsDueMs();
}

}  // namespace saga::engine
