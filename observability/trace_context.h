// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` and `tracestate` headers that carry a distributed trace
// across services. The orchestrator accepts them in StartSaga's metadata,
// records them with the saga and sends a child `traceparent` (same trace id,
// a new span id) on every participant call, so one trace follows a booking
// across services.
//
// Thread-safety: the functions are thread-safe; New*() draw from a
// thread-local random generator.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace saga::observability {

// gRPC metadata keys (lower case, as HTTP/2 requires).
inline constexpr char kTraceParentKey[] = "traceparent";
inline constexpr char kTraceStateKey[] = "tracestate";

struct TraceParent {
  std::string version = "00";  // 2 lower-case hex digits, never "ff"
  std::string trace_id;        // 32 lower-case hex digits, not all zero
  std::string span_id;         // 16 lower-case hex digits, not all zero
  std::string flags = "00";    // 2 lower-case hex digits; 01 = sampled

  // "<version>-<trace_id>-<span_id>-<flags>".
  std::string ToString() const;
};

// Parses a traceparent header. nullopt when it does not follow the W3C
// format; as the specification asks, callers then ignore it (and its
// tracestate) and start a new trace rather than fail the request. Versions
// above 00 are accepted if their first four fields are well formed (extra
// fields are dropped).
std::optional<TraceParent> ParseTraceParent(std::string_view header);

// A tracestate worth forwarding: the header unchanged if it is at most 512
// characters of printable ASCII, else empty (the specification lets a
// receiver drop what it cannot handle).
std::string SanitizeTraceState(std::string_view header);

// A new trace with a random trace id and span id, not sampled.
TraceParent NewTrace();

// `parent` with a new random span id: the context of a call made on its
// behalf.
TraceParent NewChildSpan(const TraceParent& parent);

}  // namespace saga::observability
