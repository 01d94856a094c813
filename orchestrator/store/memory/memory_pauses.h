// ParticipantPauses in memory, for tests without a database. The audit
// messages are kept in a list of their own (Audit()).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "orchestrator/store/participant_pauses.h"

namespace saga::store {

class MemoryPauses final : public ParticipantPauses {
 public:
  absl::StatusOr<PauseChange> Pause(const std::string& participant,
                                    const std::string& by,
                                    const std::string& reason) override;
  absl::StatusOr<PauseChange> Resume(const std::string& participant,
                                     const std::string& by,
                                     const std::string& reason) override;
  absl::StatusOr<std::vector<ParticipantPause>> List() override;

  // "participant.paused <participant> by <by>: <reason>" (or resumed), one
  // per change, in order.
  std::vector<std::string> Audit() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, ParticipantPause> pauses_;  // GUARDED_BY(mu_)
  std::vector<std::string> audit_;                  // GUARDED_BY(mu_)
};

}  // namespace saga::store
