#include "tools/sagactl/duration.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "absl/status/status.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Milliseconds per unit, or 0 for an unknown unit.
int64_t UnitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 60 * 60 * 1000;
  return 0;
}

absl::Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError("invalid duration \"" + std::string(text) +
                                    "\": " + std::string(why) +
                                    " (examples: 500ms, 30s, 2m, 1h30m)");
}

std::tm UtcTime(int64_t unix_ms) {
  // Floor division keeps times before 1970 on the right second.
  int64_t seconds = unix_ms / 1000;
  if (unix_ms % 1000 < 0) --seconds;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

int Millis(int64_t unix_ms) {
  int64_t ms = unix_ms % 1000;
  return static_cast<int>(ms < 0 ? ms + 1000 : ms);
}

}  // namespace

absl::StatusOr<milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  if (text == "0") return milliseconds(0);
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && IsDigit(text[i])) ++i;
    }
    std::string_view number = text.substr(start, i - start);
    if (number.empty() || number == "." ||
        number.find_first_of("0123456789") == std::string_view::npos) {
      return Invalid(text, "expected a number");
    }
    size_t unit_start = i;
    while (i < text.size() && !IsDigit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) return Invalid(text, "missing unit");
    int64_t per_unit = UnitMillis(unit);
    if (per_unit == 0) {
      return Invalid(text, "unknown unit \"" + std::string(unit) + "\"");
    }
    // strtod, unlike stod, reports overflow as HUGE_VAL instead of throwing.
    total += std::strtod(std::string(number).c_str(), nullptr) *
             static_cast<double>(per_unit);
  }
  // A year is far beyond anything the API accepts; refusing more keeps the
  // conversion below from overflowing.
  if (!(total <= 365.0 * 24 * 3600 * 1000)) return Invalid(text, "too long");
  return milliseconds(static_cast<int64_t>(std::llround(total)));
}

std::string FormatDuration(milliseconds duration) {
  int64_t ms = duration.count();
  if (ms < 0) ms = 0;
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 10 * 1000) {
    int64_t tenths = (ms + 50) / 100;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) +
           "s";
  }
  int64_t s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) {
    std::string out = std::to_string(s / 60) + "m";
    if (s % 60 != 0) out += std::to_string(s % 60) + "s";
    return out;
  }
  std::string out = std::to_string(s / 3600) + "h";
  if ((s % 3600) / 60 != 0) out += std::to_string((s % 3600) / 60) + "m";
  return out;
}

std::string FormatAge(milliseconds age) {
  int64_t s = age.count() / 1000;
  if (s < 0) s = 0;
  if (s < 60) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) {
    return s % 60 == 0 ? std::to_string(m) + "m"
                       : std::to_string(m) + "m" + std::to_string(s % 60) + "s";
  }
  if (m < 60) return std::to_string(m) + "m";
  int64_t h = m / 60;
  if (h < 10) {
    return m % 60 == 0 ? std::to_string(h) + "h"
                       : std::to_string(h) + "h" + std::to_string(m % 60) + "m";
  }
  if (h < 24) return std::to_string(h) + "h";
  int64_t d = h / 24;
  if (d < 10 && h % 24 != 0) {
    return std::to_string(d) + "d" + std::to_string(h % 24) + "h";
  }
  return std::to_string(d) + "d";
}

std::string FormatTimestamp(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  std::tm tm = UtcTime(unix_ms);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, Millis(unix_ms));
  return buf;
}

std::string FormatTimeOfDay(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  std::tm tm = UtcTime(unix_ms);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
                tm.tm_sec, Millis(unix_ms));
  return buf;
}

}  // namespace saga::sagactl
