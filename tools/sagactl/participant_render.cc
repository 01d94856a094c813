#include "tools/sagactl/participant_render.h"

#include <chrono>

#include "tools/sagactl/duration.h"
#include "tools/sagactl/table.h"

namespace saga::sagactl {
namespace {

std::string Ago(int64_t since_unix_ms, int64_t now_unix_ms) {
  return FormatAge(std::chrono::milliseconds(now_unix_ms - since_unix_ms)) +
         " ago";
}

std::string PauseText(const v1::ParticipantPause& pause, int64_t now_unix_ms) {
  return Ago(pause.since_unix_ms(), now_unix_ms) + " by " + pause.paused_by() +
         ": " + pause.reason();
}

}  // namespace

std::string CircuitStateName(v1::CircuitState state) {
  switch (state) {
    case v1::CIRCUIT_STATE_CLOSED:
      return "CLOSED";
    case v1::CIRCUIT_STATE_OPEN:
      return "OPEN";
    case v1::CIRCUIT_STATE_HALF_OPEN:
      return "HALF_OPEN";
    default:
      return std::to_string(static_cast<int>(state));
  }
}

std::string RenderParticipantsTable(const v1::ListParticipantsResponse& list,
                                    int64_t now_unix_ms) {
  if (list.participants().empty()) return "No participants configured.\n";
  Table table({"PARTICIPANT", "ADDRESS", "CIRCUIT", "IN-FLIGHT", "PARKED",
               "CALLS/1M", "ERRORS/1M", "PAUSED"});
  for (const v1::ParticipantInfo& info : list.participants()) {
    const int percent =
        static_cast<int>(info.error_rate_last_minute() * 100.0 + 0.5);
    table.AddRow(
        {info.name(), info.address(), CircuitStateName(info.circuit()),
         std::to_string(info.calls_in_flight()),
         std::to_string(info.calls_parked()),
         std::to_string(info.calls_last_minute()),
         std::to_string(info.failures_last_minute()) + " (" +
             std::to_string(percent) + "%)",
         info.has_pause() ? PauseText(info.pause(), now_unix_ms) : ""});
  }
  return table.Render();
}

std::string RenderPauseChange(const v1::ParticipantInfo& participant,
                              bool changed, bool paused, int64_t now_unix_ms) {
  const std::string name = "participant " + participant.name();
  if (paused) {
    const std::string pause = PauseText(participant.pause(), now_unix_ms);
    return changed
               ? name + " paused: no call goes to it until resumed (" + pause +
                     "); " + std::to_string(participant.calls_parked()) +
                     " calls parked here\n"
               : name + " was already paused (" + pause + ")\n";
  }
  return changed ? name + " resumed: parked calls go now\n"
                 : name + " was not paused\n";
}

}  // namespace saga::sagactl
