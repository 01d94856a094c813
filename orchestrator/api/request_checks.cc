#include "orchestrator/api/request_checks.h"

#include <charconv>

namespace saga::api {
namespace {

constexpr size_t kShownBytes = 64;
// What a saga id looks like, for messages.
constexpr char kSagaIdExample[] = "123e4567-e89b-42d3-a456-426614174000";

bool IsLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool IsSagaId(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !IsLowerHex(id[i])) return false;
  }
  return true;
}

// Offset of the first byte that does not start a well-formed UTF-8
// sequence (RFC 3629, Table 3-7 of the Unicode standard), or npos.
size_t InvalidUtf8At(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80;  // bounds of the second byte
    unsigned char high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return i;
    for (size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

absl::Status Invalid(std::string_view field, const std::string& what) {
  return absl::InvalidArgumentError(std::string(field) + " " + what);
}

}  // namespace

std::string Shown(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < value.size() && i < kShownBytes; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += value.size() > kShownBytes ? "'..." : "'";
  return out;
}

absl::Status CheckSagaId(std::string_view field, std::string_view saga_id) {
  if (saga_id.empty()) return Invalid(field, "is required");
  if (!IsSagaId(saga_id)) {
    return Invalid(field, Shown(saga_id) +
                              " is not a saga id (expected a lowercase UUID "
                              "such as " +
                              kSagaIdExample + ")");
  }
  return absl::OkStatus();
}

absl::Status CheckText(std::string_view field, std::string_view value,
                       size_t max_bytes, bool required) {
  if (value.empty() && required) return Invalid(field, "is required");
  if (value.size() > max_bytes) {
    return Invalid(field, "is " + std::to_string(value.size()) +
                              " bytes; the limit is " +
                              std::to_string(max_bytes));
  }
  if (const size_t nul = value.find('\0'); nul != std::string_view::npos) {
    return Invalid(field, "contains a NUL byte at offset " +
                              std::to_string(nul) + ": " + Shown(value));
  }
  return absl::OkStatus();
}

absl::Status CheckUtf8(std::string_view field, std::string_view value) {
  const size_t at = InvalidUtf8At(value);
  if (at == std::string_view::npos) return absl::OkStatus();
  return Invalid(field, "is not valid UTF-8 (at byte " + std::to_string(at) +
                            ": " + Shown(value.substr(at)) + ")");
}

absl::Status CheckNotNegative(std::string_view field, int64_t value,
                              std::string_view note) {
  if (value >= 0) return absl::OkStatus();
  std::string what = std::to_string(value) + " must not be negative";
  if (!note.empty()) what += " (" + std::string(note) + ")";
  return Invalid(field, what);
}

namespace {
constexpr int64_t kYear2001Ms = 978307200000;
}  // namespace

absl::Status CheckStartAt(int64_t start_at_ms, int64_t now_ms) {
  if (absl::Status s = CheckNotNegative("start_at_unix_ms", start_at_ms);
      !s.ok()) {
    return s;
  }
  if (start_at_ms > 0 && start_at_ms < kYear2001Ms) {
    return Invalid("start_at_unix_ms",
                   std::to_string(start_at_ms) +
                       " is before 2001: Unix milliseconds are expected, "
                       "not seconds");
  }
  if (start_at_ms > now_ms + kMaxScheduleAheadMs) {
    return Invalid("start_at_unix_ms",
                   std::to_string(start_at_ms) + " is more than a year ahead");
  }
  return absl::OkStatus();
}

std::string EncodePageToken(const PageCursor& last) {
  return std::to_string(last.created_ms) + "." + last.saga_id;
}

absl::StatusOr<PageCursor> DecodePageToken(std::string_view token) {
  PageCursor cursor;
  const size_t dot = token.find('.');
  const char* end = token.data() + (dot == std::string_view::npos ? 0 : dot);
  const auto [parsed, error] =
      std::from_chars(token.data(), end, cursor.created_ms);
  // Only the canonical form EncodePageToken writes: no leading zeros, so
  // one cursor has one token.
  const bool leading_zero = dot > 1 && token[0] == '0';
  if (dot == std::string_view::npos || dot == 0 || parsed != end ||
      error != std::errc() || cursor.created_ms < 0 || leading_zero ||
      !IsSagaId(token.substr(dot + 1))) {
    return Invalid("page_token",
                   Shown(token) +
                       " is malformed: pass the next_page_token of the "
                       "previous ListSagas response unchanged");
  }
  cursor.saga_id = std::string(token.substr(dot + 1));
  return cursor;
}

absl::StatusOr<int> PageLimit(int64_t page_size, int default_size,
                              int max_size) {
  if (page_size < 0 || page_size > max_size) {
    return Invalid("page_size", std::to_string(page_size) +
                                    " is out of range: it must be between 0 "
                                    "(the default, " +
                                    std::to_string(default_size) + ") and " +
                                    std::to_string(max_size));
  }
  return page_size == 0 ? default_size : static_cast<int>(page_size);
}

absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& check : checks) {
    if (!check.ok()) return check;
  }
  return absl::OkStatus();
}

}  // namespace saga::api
