// saga-patient: the patient registry participant.
#include "absl/status/status.h"
#include "participants/common/participant_main.h"
#include "participants/patient/patient_actions.h"

int main(int argc, char** argv) {
  saga::participants::ParticipantSpec spec;
  spec.name = "saga-patient";
  spec.description = "Patient registry participant (validate_patient)";
  spec.register_actions = [](saga::participants::ActionRegistry& registry) {
    saga::participants::RegisterPatientActions(registry);
    return absl::OkStatus();
  };
  return saga::participants::RunParticipant(argc, argv, spec);
}
