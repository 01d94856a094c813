// Where operators' pauses of participants are kept (sagactl pause / resume):
// durable, and shared by every orchestrator instance on the database, which
// each read it once per claim interval (engine.h). A PostgreSQL
// implementation (postgres/pg_participant_pauses.h, table
// participant_pauses) and an in-memory one (memory/memory_pauses.h).
//
// Each change is audited: it commits in one transaction with an outbox
// message 'participant.paused' or 'participant.resumed' (saga_id empty;
// header {"participant"}; payload {"participant","by","reason", ...}).
//
// Thread-safety: implementations are safe to call from many threads. Calls
// block. Errors: Unavailable (database unreachable; nothing written),
// Unknown (the commit's outcome is in doubt).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace saga::store {

struct ParticipantPause {
  std::string participant;
  std::string paused_by;  // the operator, as authenticated
  std::string reason;
  int64_t since_ms = 0;  // Unix ms, the store's clock

  bool operator==(const ParticipantPause&) const = default;
};

// What Pause or Resume did.
struct PauseChange {
  // false: nothing was written (already paused, or not paused).
  bool changed = false;
  // Pause: the pause in force (the earlier one when unchanged). Resume: the
  // pause it ended; nullopt when the participant was not paused.
  std::optional<ParticipantPause> pause;
};

class ParticipantPauses {
 public:
  virtual ~ParticipantPauses() = default;

  // Pauses `participant`, recorded with `by` and `reason`, unless it is
  // paused already (idempotent: the earlier pause stays as it was).
  virtual absl::StatusOr<PauseChange> Pause(const std::string& participant,
                                            const std::string& by,
                                            const std::string& reason) = 0;
  // Ends the pause of `participant`, if any; the audit message names `by`
  // and `reason` along with the pause it ended.
  virtual absl::StatusOr<PauseChange> Resume(const std::string& participant,
                                             const std::string& by,
                                             const std::string& reason) = 0;
  // Every pause in force, by participant name.
  virtual absl::StatusOr<std::vector<ParticipantPause>> List() = 0;
};

}  // namespace saga::store
