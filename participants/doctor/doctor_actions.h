// saga-doctor's actions.
//
// reserve_doctor {patient_id, specialty, preferred_date "YYYY-MM-DD"}
//   -> {reservation_id, doctor_id, doctor_name, doctor_email, date}
//   Books one slot with a doctor of that specialty on the preferred date,
//   or else on the closest date with room within kSearchWindowDays either
//   side (ties: the earlier date, then the lower doctor id). Never
//   overbooks under concurrency: the chosen day row is locked and
//   re-checked before it is incremented. Unknown specialty, no room or a
//   malformed date: business failure.
// release_reservation (compensation of reserve_doctor)
//   -> {compensated: true, released: bool, reservation_id, doctor_id, date}
//   Finds the reservation by the Execute's idempotency key, marks it
//   released and frees its slot; releasing twice frees it once.
#pragma once

#include "participants/common/action.h"

namespace saga::participants {

inline constexpr int kSearchWindowDays = 60;

void RegisterDoctorActions(ActionRegistry& registry);

}  // namespace saga::participants
