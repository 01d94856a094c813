// When a delay step is due. Pure.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"

namespace saga::core {

// The Unix time in ms until which delay step `step`, started at
// `started_ms`, waits: started_ms + its duration, or the time found at its
// `until` source: an RFC 3339 string ("2026-12-06T10:00:00Z", an offset
// instead of Z, optional fractional seconds) or an integer of Unix
// milliseconds. A time in the past is due at once. FailedPrecondition when
// the source is missing or holds no such time (a definite failure of the
// step: asking again would read the same value).
absl::StatusOr<int64_t> DelayDueMs(const SagaDefinition& definition,
                                   const SagaState& state, int step,
                                   int64_t started_ms);

// Parses a time as `until` accepts it (JSON text: a string or an integer).
absl::StatusOr<int64_t> ParseTimeJson(const std::string& json_text);

}  // namespace saga::core
