// Self-contained saga history documents: what `sagactl export` writes and
// `sagactl replay` reads. One JSON object holds the saga, the source of the
// definition it ran with and every event:
//
//   {"format": "saga-history/v1",
//    "saga": {"saga_id", "saga_type", "definition_version", "status",
//             "input": {...}},
//    "definition": {"saga_type", "version", "source_yaml"},
//    "events": [{"seq": 1, "type": "SagaStarted", "step": null,
//                "attempt": 0, "at_ms": 1714564800000, "data": {...}}, ...]}
//
// An event's "step" is the step's name (null for saga-level events) and its
// "data" the payload of core::EncodeEventData. Pure: text in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"

namespace saga::core {

inline constexpr char kHistoryFormat[] = "saga-history/v1";

// The saga as the API reported it when exported. Informational: replay
// trusts the events, not this summary.
struct HistorySaga {
  std::string saga_id;
  std::string saga_type;
  int definition_version = 0;
  std::string status;      // e.g. "COMPLETED" (SagaStatusName)
  std::string input_json;  // the saga input; empty when unknown
};

struct History {
  HistorySaga saga;
  // The YAML text of the definition version the saga ran with, and that
  // text parsed with ParseDefinition.
  std::string definition_source;
  SagaDefinition definition;
  // In order; each event's `step` indexes `definition.steps`.
  std::vector<Event> events;
};

// One event as it appears in a history file, as compact JSON. A step index
// outside `definition` is written as its number (the file could not be read
// back, but a report can still show it).
std::string EncodeHistoryEvent(const Event& event,
                               const SagaDefinition& definition);

// The document for `history`, pretty-printed with two-space indents and
// ending in '\n'. InvalidArgument when an event's step is not a step of
// history.definition.
absl::StatusOr<std::string> EncodeHistory(const History& history);

// The same document on one line (compact, ending in '\n'): a line of a
// JSON-lines archive (the retention job's), which DecodeHistory reads too.
absl::StatusOr<std::string> EncodeHistoryLine(const History& history);

// Parses a document written by EncodeHistory. The definition is parsed from
// "source_yaml" (core::ParseDefinition) and must agree with the document's
// saga type and version; event steps are mapped from names to indexes of
// that definition. Errors are InvalidArgument and start with `source_name`
// (usually the file path), and with the 0-based event index when an event is
// at fault: "saga.json: event 3 (seq 4): unknown event type 'Foo'".
absl::StatusOr<History> DecodeHistory(const std::string& json_text,
                                      const std::string& source_name);

}  // namespace saga::core
