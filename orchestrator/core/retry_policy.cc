#include "orchestrator/core/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "orchestrator/core/duration.h"

namespace saga::core {
namespace {

// Clamps to [0, 1]; NaN becomes 0 so the result stays a number.
double UnitInterval(double x) { return x >= 0 ? std::min(x, 1.0) : 0.0; }

}  // namespace

int64_t BackoffMs(const RetryPolicy& policy, int failed_attempt,
                  double unit_random) {
  const int exponent = std::max(failed_attempt, 1) - 1;
  const double cap = static_cast<double>(policy.max_backoff_ms);
  // Doubles saturate at infinity instead of overflowing, and the cap is
  // applied before converting back, so huge attempt numbers are harmless.
  double base = static_cast<double>(policy.initial_backoff_ms) *
                std::pow(policy.multiplier, exponent);
  if (!(base < cap)) base = cap;
  if (base < 0) base = 0;
  const double jitter = UnitInterval(policy.jitter);
  const double draw = UnitInterval(unit_random);
  const double delay = base * (1.0 - jitter * draw);
  return std::max<int64_t>(0, std::llround(delay));
}

bool MayRetry(const RetryPolicy& policy, bool retry_forever, int attempts_made,
              int64_t elapsed_ms) {
  if (retry_forever) return true;
  if (policy.max_attempts > 0 && attempts_made >= policy.max_attempts) {
    return false;
  }
  return policy.give_up_after_ms <= 0 || elapsed_ms < policy.give_up_after_ms;
}

std::string DescribeGiveUp(const RetryPolicy& policy, int attempts_made,
                           int64_t elapsed_ms) {
  std::string text = "after " + std::to_string(attempts_made) + " attempts";
  const bool by_count =
      policy.max_attempts > 0 && attempts_made >= policy.max_attempts;
  if (!by_count && policy.give_up_after_ms > 0 &&
      elapsed_ms >= policy.give_up_after_ms) {
    text += " in " + FormatDurationMs(elapsed_ms) + " (its give_up_after is " +
            FormatDurationMs(policy.give_up_after_ms) + ")";
  }
  return text;
}

}  // namespace saga::core
