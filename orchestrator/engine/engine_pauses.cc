// Operators' pauses of participants: kept in the store, polled, applied to
// the gates (see "Pauses" in engine.h).
#include <utility>
//
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

#include "observability/logging.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/engine_internal.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;

void Engine::ListParticipants(
    std::function<void(std::vector<ParticipantView>)> done) {
  asio::post(threads_->io, [this, done = std::move(done)] {
    std::vector<ParticipantView> views;
    for (const auto& [name, address] : participants_->Addresses()) {
      views.push_back(ViewOf(name, address));
    }
    done(std::move(views));
  });
}

void Engine::PauseParticipant(
    const std::string& participant, bool pause, const std::string& by,
    const std::string& reason,
    std::function<void(absl::StatusOr<PauseResult>)> done) {
  const std::map<std::string, std::string> addresses =
      participants_->Addresses();
  auto address = addresses.find(participant);
  if (address == addresses.end()) {
    std::string known;
    for (const auto& [name, unused] : addresses) {
      known += (known.empty() ? "" : ", ") + name;
    }
    done(absl::NotFoundError("no participant named '" + participant +
                             "' is configured (known: " + known + ")"));
    return;
  }
  if (options_.pauses == nullptr) {
    done(absl::FailedPreconditionError(
        "this orchestrator keeps no participant pauses (no pause store)"));
    return;
  }
  asio::post(threads_->db, [this, participant, pause, by, reason,
                            address = address->second,
                            done = std::move(done)]() mutable {
    absl::StatusOr<store::PauseChange> change =
        pause ? options_.pauses->Pause(participant, by, reason)
              : options_.pauses->Resume(participant, by, reason);
    asio::post(
        threads_->io, [this, participant, pause, by, reason, address,
                       change = std::move(change), done = std::move(done)] {
          const char* what = pause ? "pause" : "resume";
          if (!change.ok()) {
            Log(spdlog::level::warn, "participant pause not changed",
                {{"participant", participant},
                 {"action", what},
                 {"by", by},
                 {"error", change.status().ToString()}});
            done(change.status());
            return;
          }
          // The audit line: who did what, and whether it changed anything.
          Log(spdlog::level::warn,
              pause ? "participant paused by operator"
                    : "participant resumed by operator",
              {{"participant", participant},
               {"by", by},
               {"reason", reason},
               {"changed", change->changed ? "true" : "false"}});
          ++pause_changes_;
          std::vector<store::ParticipantPause> now;
          for (const auto& [name, held] : pauses_) {
            if (name != participant) now.push_back(held);
          }
          if (pause && change->pause) now.push_back(*change->pause);
          ApplyPauses(now, nullptr);
          done(PauseResult{change->changed, ViewOf(participant, address)});
        });
  });
}

void Engine::PollPauses() {
  if (stopping_) return;
  const uint64_t changes = pause_changes_;
  asio::post(threads_->db, [this, changes] {
    absl::StatusOr<std::vector<store::ParticipantPause>> pauses =
        options_.pauses->List();
    asio::post(threads_->io, [this, changes, pauses = std::move(pauses)] {
      if (!pauses.ok()) {
        Log(spdlog::level::warn, "participant pauses not read",
            {{"error", pauses.status().ToString()}});
      } else if (changes == pause_changes_) {
        // Else a change made here since the read is newer than it.
        ApplyPauses(*pauses, "database");
      }
      threads_->pause_poll.expires_after(options_.leases.claim_interval);
      threads_->pause_poll.async_wait(
          [this](const boost::system::error_code& error) {
            if (!error) PollPauses();
          });
    });
  });
}

void Engine::ApplyPauses(const std::vector<store::ParticipantPause>& pauses,
                         const char* source) {
  std::map<std::string, store::ParticipantPause> next;
  for (const store::ParticipantPause& pause : pauses) {
    next.emplace(pause.participant, pause);
  }
  for (const auto& [name, pause] : next) {
    if (pauses_.count(name) > 0) continue;
    gates_->SetPaused(name, true);
    if (source != nullptr) {
      Log(spdlog::level::warn, "participant paused",
          {{"participant", name},
           {"paused_by", pause.paused_by},
           {"reason", pause.reason},
           {"source", source}});
    }
  }
  for (const auto& [name, pause] : pauses_) {
    if (next.count(name) > 0) continue;
    gates_->SetPaused(name, false);
    if (source != nullptr) {
      Log(spdlog::level::info, "participant resumed",
          {{"participant", name}, {"source", source}});
    }
  }
  pauses_ = std::move(next);
}

ParticipantView Engine::ViewOf(const std::string& participant,
                               const std::string& address) {
  ParticipantView view;
  view.name = participant;
  view.address = address;
  view.gate = gates_->ViewOf(participant);
  auto pause = pauses_.find(participant);
  if (pause != pauses_.end()) view.pause = pause->second;
  return view;
}

}  // namespace saga::engine
