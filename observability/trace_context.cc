#include "observability/trace_context.h"

#include <algorithm>
#include <cstdint>
#include <random>

namespace saga::observability {
namespace {

constexpr size_t kTraceIdLength = 32;
constexpr size_t kSpanIdLength = 16;
// "00-" + trace id + "-" + span id + "-" + flags.
constexpr size_t kVersion00Length =
    2 + 1 + kTraceIdLength + 1 + kSpanIdLength + 1 + 2;
constexpr size_t kMaxTraceStateLength = 512;

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool AllZero(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

std::string RandomHex(size_t digits) {
  // Seeded once per thread from the OS: ids must not repeat across
  // processes started at the same moment.
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digits);
  while (out.size() < digits) {
    uint64_t bits = random();
    for (int i = 0; i < 16 && out.size() < digits; ++i, bits >>= 4) {
      out.push_back(kDigits[bits & 0xf]);
    }
  }
  return out;
}

// A random id of `digits` hex digits that is not all zero (an invalid id).
std::string RandomId(size_t digits) {
  std::string id = RandomHex(digits);
  while (AllZero(id)) id = RandomHex(digits);
  return id;
}

}  // namespace

std::string TraceParent::ToString() const {
  return version + "-" + trace_id + "-" + span_id + "-" + flags;
}

std::optional<TraceParent> ParseTraceParent(std::string_view header) {
  if (header.size() < kVersion00Length) return std::nullopt;
  TraceParent parsed;
  parsed.version = std::string(header.substr(0, 2));
  if (!IsLowerHex(parsed.version) || parsed.version == "ff") {
    return std::nullopt;
  }
  // Version 00 has exactly four fields; a later version may append more
  // after another '-'.
  if (header.size() > kVersion00Length &&
      (parsed.version == "00" || header[kVersion00Length] != '-')) {
    return std::nullopt;
  }
  if (header[2] != '-' || header[3 + kTraceIdLength] != '-' ||
      header[4 + kTraceIdLength + kSpanIdLength] != '-') {
    return std::nullopt;
  }
  parsed.trace_id = std::string(header.substr(3, kTraceIdLength));
  parsed.span_id =
      std::string(header.substr(4 + kTraceIdLength, kSpanIdLength));
  parsed.flags =
      std::string(header.substr(5 + kTraceIdLength + kSpanIdLength, 2));
  if (!IsLowerHex(parsed.trace_id) || AllZero(parsed.trace_id) ||
      !IsLowerHex(parsed.span_id) || AllZero(parsed.span_id) ||
      !IsLowerHex(parsed.flags)) {
    return std::nullopt;
  }
  return parsed;
}

std::string SanitizeTraceState(std::string_view header) {
  if (header.size() > kMaxTraceStateLength ||
      !std::all_of(header.begin(), header.end(),
                   [](char c) { return c >= 0x20 && c <= 0x7e; })) {
    return "";
  }
  return std::string(header);
}

TraceParent NewTrace() {
  TraceParent trace;
  trace.trace_id = RandomId(kTraceIdLength);
  trace.span_id = RandomId(kSpanIdLength);
  return trace;
}

TraceParent NewChildSpan(const TraceParent& parent) {
  TraceParent child = parent;
  // A receiver of a later version sends what it understands: version 00.
  child.version = "00";
  do {
    child.span_id = RandomId(kSpanIdLength);
  } while (child.span_id == parent.span_id);
  return child;
}

}  // namespace saga::observability
