#include "orchestrator/core/retry_policy.h"

#include <algorithm>
#include <cmath>

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

bool MayRetry(const RetryPolicy& policy, bool retry_forever,
              int attempts_made) {
  return retry_forever || attempts_made < policy.max_attempts;
}

}  // namespace saga::core
