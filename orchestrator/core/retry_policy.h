// Backoff arithmetic. Pure: randomness arrives as an argument.
#pragma once

#include <cstdint>

#include "orchestrator/core/definition.h"

namespace saga::core {

// Delay before attempt `failed_attempt + 1`, after attempt `failed_attempt`
// (1-based) failed: base = min(max_backoff, initial * multiplier^(n-1)),
// then reduced by up to `jitter` of itself: base * (1 - jitter * unit_random).
// `unit_random` is in [0, 1).
int64_t BackoffMs(const RetryPolicy& policy, int failed_attempt,
                  double unit_random);

// Whether another attempt is allowed after `attempts_made` attempts.
bool MayRetry(const RetryPolicy& policy, bool retry_forever, int attempts_made);

}  // namespace saga::core
