// saga-patient's actions.
//
// validate_patient {patient_id} -> {patient_id, name, email}. Read-only (no
// compensation). An unknown or inactive patient is a business failure
// ("only active patients may book: ...").
#pragma once

#include "participants/common/action.h"

namespace saga::participants {

void RegisterPatientActions(ActionRegistry& registry);

}  // namespace saga::participants
