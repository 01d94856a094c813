#include "orchestrator/store/memory/memory_pauses.h"

#include <chrono>

namespace saga::store {

absl::StatusOr<PauseChange> MemoryPauses::Pause(const std::string& participant,
                                                const std::string& by,
                                                const std::string& reason) {
  std::lock_guard lock(mu_);
  auto [it, added] = pauses_.try_emplace(participant);
  if (added) {
    it->second = {participant, by, reason,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()};
    audit_.push_back("participant.paused " + participant + " by " + by + ": " +
                     reason);
  }
  return PauseChange{added, it->second};
}

absl::StatusOr<PauseChange> MemoryPauses::Resume(const std::string& participant,
                                                 const std::string& by,
                                                 const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = pauses_.find(participant);
  if (it == pauses_.end()) return PauseChange{};
  PauseChange change{true, it->second};
  pauses_.erase(it);
  audit_.push_back("participant.resumed " + participant + " by " + by + ": " +
                   reason);
  return change;
}

absl::StatusOr<std::vector<ParticipantPause>> MemoryPauses::List() {
  std::lock_guard lock(mu_);
  std::vector<ParticipantPause> all;
  for (const auto& [name, pause] : pauses_) all.push_back(pause);
  return all;
}

std::vector<std::string> MemoryPauses::Audit() const {
  std::lock_guard lock(mu_);
  return audit_;
}

}  // namespace saga::store
