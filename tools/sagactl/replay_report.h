// What `sagactl replay` and `sagactl definitions check` print: per history,
// OK or the first divergence from what the code now decides. Pure.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/replay.h"

namespace saga::sagactl {

// One replayed history.
struct ReplayOutcome {
  std::string name;     // the file, or the saga id for `definitions check`
  std::string saga_id;  // from the history; may be empty
  std::string status;   // the saga's status as recorded/reported
  // Not OK when the history could not be read or replayed; then `report`
  // is meaningless.
  absl::Status error;
  core::ReplayReport report;
  size_t events = 0;                // recorded events
  core::SagaDefinition definition;  // what it was replayed against
};

// "call reserve_doctor attempt 2", "compensate reserve_doctor attempt 1",
// "wait until 12:00:00.500", "finished"; "nothing" when empty; joined
// with "; ".
std::string DescribeCommands(const std::vector<core::Command>& commands,
                             const core::SagaDefinition& definition);

// `replay` as text, per history:
//   FILE: OK (12 events; ends COMPLETED; next: finished)
//   FILE: DIVERGES at event 4 (seq 5): REASON
//     recorded: {...}
//     decided:  {...}
//   FILE: ERROR: MESSAGE
std::string RenderReplayText(const std::vector<ReplayOutcome>& outcomes);

// `replay -o json`: {"histories": [{"file", "saga_id", "ok", "events",
// "matched", "final_status", "pending_commands", "divergence", "error",
// ...}]}, ending in '\n'. The divergence's "recorded" and "decided" are the
// events as in the history file (null for nothing).
std::string RenderReplayJson(const std::vector<ReplayOutcome>& outcomes);

// `definitions check`: a table of the unfinished sagas (id, status, the
// version they run, and OK / STRANDED at event N: reason / ERROR), then the
// recorded and decided events of each stranded one.
std::string RenderCheckText(const core::SagaDefinition& candidate,
                            const std::vector<ReplayOutcome>& outcomes);

// `definitions check -o json`: {"definition": {"saga_type", "version"},
// "sagas": [... as in RenderReplayJson, plus "stranded"]}.
std::string RenderCheckJson(const core::SagaDefinition& candidate,
                            const std::vector<ReplayOutcome>& outcomes);

}  // namespace saga::sagactl
