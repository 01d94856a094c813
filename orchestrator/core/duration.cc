#include "orchestrator/core/duration.h"

namespace saga::core {

std::optional<int64_t> ParseDurationMs(const std::string& text) {
  size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) ++i;
  const size_t digits_start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  const size_t digits = i - digits_start;
  if (digits == 0 || digits > 12) return std::nullopt;
  int64_t value = std::stoll(text.substr(digits_start, digits));
  const std::string unit = text.substr(i);
  if (unit.empty() || unit == "ms") {
  } else if (unit == "s") {
    value *= 1000;
  } else if (unit == "m") {
    value *= 60 * 1000;
  } else if (unit == "h") {
    value *= 3600 * 1000;
  } else {
    return std::nullopt;
  }
  return negative ? -value : value;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) return "-" + FormatDurationMs(-ms);
  if (ms < 1000) return std::to_string(ms) + "ms";
  if (ms < 60 * 1000) {
    std::string text = std::to_string(ms / 1000);
    if (const int64_t rest = ms % 1000; rest != 0) {
      std::string fraction = std::to_string(1000 + rest).substr(1);
      while (fraction.back() == '0') fraction.pop_back();
      text += "." + fraction;
    }
    return text + "s";
  }
  const int64_t seconds = ms / 1000;
  std::string text;
  if (seconds >= 3600) text += std::to_string(seconds / 3600) + "h";
  if (seconds % 3600 >= 60) text += std::to_string(seconds % 3600 / 60) + "m";
  if (seconds % 60 != 0) text += std::to_string(seconds % 60) + "s";
  return text;
}

}  // namespace saga::core
