// ParticipantPauses over PostgreSQL: the participant_pauses table
// (migrations/orchestrator/0011) and the outbox. Each change is one
// statement, so the pause row and its audit message commit together. Opens
// a small pool of its own, lazily (or at Connect), so a database that is
// down at start-up only delays the first read.
#pragma once

#include <memory>
#include <string>

#include "orchestrator/store/participant_pauses.h"

namespace saga::pg {
class ConnectionPool;
}  // namespace saga::pg

namespace saga::store {

class PgParticipantPauses final : public ParticipantPauses {
 public:
  // `dsn`: a libpq connection string.
  explicit PgParticipantPauses(std::string dsn);
  ~PgParticipantPauses() override;
  PgParticipantPauses(const PgParticipantPauses&) = delete;
  PgParticipantPauses& operator=(const PgParticipantPauses&) = delete;

  absl::StatusOr<PauseChange> Pause(const std::string& participant,
                                    const std::string& by,
                                    const std::string& reason) override;
  absl::StatusOr<PauseChange> Resume(const std::string& participant,
                                     const std::string& by,
                                     const std::string& reason) override;
  absl::StatusOr<std::vector<ParticipantPause>> List() override;

  // Opens the pool's first session now rather than at the first read.
  absl::Status Connect();

 private:
  std::unique_ptr<pg::ConnectionPool> pool_;
};

}  // namespace saga::store
