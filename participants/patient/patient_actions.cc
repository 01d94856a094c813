#include "participants/patient/patient_actions.h"

namespace saga::participants {
namespace {

ActionResult ValidatePatient(pqxx::work& tx, const ActionCall& call) {
  std::string patient_id = RequireString(call.input, "patient_id");
  pqxx::result rows = tx.exec_params(
      "SELECT name, email, active FROM patients WHERE id = $1", patient_id);
  if (rows.empty()) {
    return ActionResult::BusinessFailure(
        "only active patients may book: patient " + patient_id +
        " does not exist");
  }
  if (!rows[0][2].as<bool>()) {
    return ActionResult::BusinessFailure(
        "only active patients may book: patient " + patient_id +
        " is inactive");
  }
  return ActionResult::Succeeded({{"patient_id", patient_id},
                                  {"name", rows[0][0].as<std::string>()},
                                  {"email", rows[0][1].as<std::string>()}});
}

}  // namespace

void RegisterPatientActions(ActionRegistry& registry) {
  registry.AddExecute("validate_patient", ValidatePatient);
}

}  // namespace saga::participants
