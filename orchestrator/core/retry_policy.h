// Backoff arithmetic and the retry budget. Pure: time and randomness arrive
// as arguments.
#pragma once

#include <cstdint>
#include <string>

#include "orchestrator/core/definition.h"

namespace saga::core {

// Delay before attempt `failed_attempt + 1`, after attempt `failed_attempt`
// (1-based) failed: base = min(max_backoff, initial * multiplier^(n-1)),
// then reduced by up to `jitter` of itself: base * (1 - jitter * unit_random).
// `unit_random` is in [0, 1).
int64_t BackoffMs(const RetryPolicy& policy, int failed_attempt,
                  double unit_random);

// Whether another attempt is allowed after `attempts_made` attempts, the
// first of which started `elapsed_ms` ago: unless `retry_forever`, the
// policy gives up once max_attempts attempts were made (0: no bound) or
// once give_up_after has passed since the first attempt (0: no bound),
// whichever comes first. The budget is judged when an attempt fails, not
// against the backoff's end, so that a jitter draw never decides it.
bool MayRetry(const RetryPolicy& policy, bool retry_forever, int attempts_made,
              int64_t elapsed_ms);

// "after 4 attempts" or "after 37 attempts in 1h (its give_up_after)": how
// a policy that gave up describes it in the saga's reason.
std::string DescribeGiveUp(const RetryPolicy& policy, int attempts_made,
                           int64_t elapsed_ms);

}  // namespace saga::core
