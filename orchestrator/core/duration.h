// Durations as saga definitions write them ("250ms", "2s", "5m", "1h") and
// as the saga's reasons print them. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace saga::core {

// "<digits><unit>" with unit ms, s, m or h, or a bare number of
// milliseconds; a leading '-' is kept (the caller refuses it with a message
// of its own). nullopt for anything else, and for more than 12 digits.
std::optional<int64_t> ParseDurationMs(const std::string& text);

// A compact form: "250ms", "1.5s", "2s", "1m30s", "1h", "1h5m"; from a
// minute on, the milliseconds are dropped.
std::string FormatDurationMs(int64_t ms);

}  // namespace saga::core
