// saga-doctor: the doctor scheduling participant.
#include "absl/status/status.h"
#include "participants/common/participant_main.h"
#include "participants/doctor/doctor_actions.h"

int main(int argc, char** argv) {
  saga::participants::ParticipantSpec spec;
  spec.name = "saga-doctor";
  spec.description =
      "Doctor scheduling participant (reserve_doctor, release_reservation)";
  spec.register_actions = [](saga::participants::ActionRegistry& registry) {
    saga::participants::RegisterDoctorActions(registry);
    return absl::OkStatus();
  };
  return saga::participants::RunParticipant(argc, argv, spec);
}
