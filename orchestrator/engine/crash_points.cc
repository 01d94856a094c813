#include "orchestrator/engine/crash_points.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>

namespace saga::engine {
namespace {

struct Selection {
  CrashPoint point;
  long hit = 1;
};

// Parses SAGA_CRASH_POINT; nullopt when unset or invalid.
std::optional<Selection> ParseSelection(std::string* error) {
  const char* raw = std::getenv("SAGA_CRASH_POINT");
  if (raw == nullptr || *raw == '\0') return std::nullopt;
  std::string value(raw);
  Selection selection;
  std::string name = value;
  if (auto colon = value.find(':'); colon != std::string::npos) {
    name = value.substr(0, colon);
    char* end = nullptr;
    selection.hit = std::strtol(value.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || selection.hit < 1) {
      *error = "SAGA_CRASH_POINT '" + value +
               "': the count after ':' must "
               "be a positive integer";
      return std::nullopt;
    }
  }
  for (const auto& [point, known] : AllCrashPoints()) {
    if (known == name) {
      selection.point = point;
      return selection;
    }
  }
  *error =
      "SAGA_CRASH_POINT '" + value + "': unknown crash point '" + name + "'";
  return std::nullopt;
}

const std::optional<Selection>& Selected() {
  static const std::optional<Selection> selected = [] {
    std::string error;
    return ParseSelection(&error);
  }();
  return selected;
}

}  // namespace

const std::vector<std::pair<CrashPoint, std::string>>& AllCrashPoints() {
  static const std::vector<std::pair<CrashPoint, std::string>> points = {
      {CrashPoint::kAfterStartCommit, "after_start_commit"},
      {CrashPoint::kAfterStepStartedCommit, "after_step_started_commit"},
      {CrashPoint::kAfterReplyBeforeCommit, "after_reply_before_commit"},
      {CrashPoint::kAfterCompensationCommit, "after_compensation_commit"},
      {CrashPoint::kAfterTerminalCommit, "after_terminal_commit"},
  };
  return points;
}

absl::Status CheckCrashPointConfig() {
  std::string error;
  ParseSelection(&error);
  if (!error.empty()) return absl::InvalidArgumentError(error);
  if (Selected().has_value()) {
    spdlog::warn(
        "SAGA_CRASH_POINT={} is set: this process will kill itself "
        "there (recovery testing only)",
        std::getenv("SAGA_CRASH_POINT"));
  }
  return absl::OkStatus();
}

void MaybeCrash(CrashPoint point) {
  const std::optional<Selection>& selected = Selected();
  if (!selected.has_value() || selected->point != point) return;
  static std::atomic<long> hits{0};
  if (++hits != selected->hit) return;
  ::kill(::getpid(), SIGKILL);
}

}  // namespace saga::engine
