// Durations as operators type and read them: "30s", "2m", "500ms", "1h30m".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace saga::sagactl {

// Parses a sequence of <number><unit> terms, units ms, s, m, h, e.g. "1m30s"
// or "1.5s". A bare "0" is accepted. Fails with InvalidArgument on anything
// else (negative values, a missing or unknown unit, trailing text).
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A compact rendering of an elapsed time: "450ms", "1.2s", "12s", "2m5s",
// "1h3m". Negative values render as "0ms".
std::string FormatDuration(std::chrono::milliseconds duration);

// An age in the style of kubectl: "45s", "3m20s", "42m", "3h5m", "20h",
// "2d3h", "40d".
std::string FormatAge(std::chrono::milliseconds age);

// "2024-05-01 12:00:00.123Z" (UTC); "-" for 0.
std::string FormatTimestamp(int64_t unix_ms);

// "12:00:00.123" (UTC time of day); "-" for 0.
std::string FormatTimeOfDay(int64_t unix_ms);

}  // namespace saga::sagactl
