// Strict JSON parsing: the one function every place that takes JSON from
// outside calls (saga inputs, operator inputs, participant inputs and
// outputs). Pure.
//
// RFC 8259 leaves the meaning of an object with the same key twice
// undefined (most parsers, nlohmann included, keep the last value; others
// keep the first), and I-JSON (RFC 7493, section 2.3) forbids it. Two
// readers of one document could then disagree about what it says, so such
// a document is refused rather than read either way.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace saga::core {

// Longest excerpt of a parser message or a key quoted in an error: both can
// be as long as the document.
inline constexpr size_t kMaxQuotedBytes = 200;

// Parses `text` as one JSON value. InvalidArgument, with `what` (e.g.
// "input", "output of step 'reserve_doctor'") leading the message:
//   "<what> is not valid JSON: <parser message>" (malformed text, a number
//     out of range, invalid UTF-8, a raw NUL byte);
//   "<what> has the key 'k' twice (at a.b[2].k)" when an object, at any
//     depth, repeats a key; the path names the second occurrence.
// Nesting is bounded only by memory: callers that take untrusted text check
// its depth first (see input.h). Never throws.
absl::StatusOr<nlohmann::json> ParseStrictJson(std::string_view text,
                                               std::string_view what);

}  // namespace saga::core
