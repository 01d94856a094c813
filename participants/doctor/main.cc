// saga-doctor: the doctor scheduling participant.
#include <CLI/CLI.hpp>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "participants/common/participant_main.h"
#include "participants/doctor/doctor_actions.h"

int main(int argc, char** argv) {
  using saga::participants::ParseIsoDate;
  std::string today;
  saga::participants::ParticipantSpec spec;
  spec.name = "saga-doctor";
  spec.description =
      "Doctor scheduling participant (reserve_doctor, release_reservation)";
  spec.add_flags = [&today](CLI::App& app) {
    app.add_option("--today", today,
                   "For tests: the date (YYYY-MM-DD) taken as "
                   "today, instead of the system clock's date in UTC; no "
                   "booking lands before it");
  };
  spec.register_actions =
      [&today](saga::participants::ActionRegistry& registry) -> absl::Status {
    saga::participants::TodayClock clock = saga::participants::UtcToday;
    if (!today.empty()) {
      const auto fixed = ParseIsoDate(today);
      if (!fixed) {
        return absl::InvalidArgumentError("--today \"" + today +
                                          "\" is not a date in YYYY-MM-DD "
                                          "form");
      }
      clock = [day = *fixed] { return day; };
    }
    saga::participants::RegisterDoctorActions(registry, std::move(clock));
    return absl::OkStatus();
  };
  return saga::participants::RunParticipant(argc, argv, spec);
}
