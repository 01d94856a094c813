// saga-doctor's actions.
//
// reserve_doctor {patient_id, specialty, preferred_date "YYYY-MM-DD"}
//   -> {reservation_id, doctor_id, doctor_name, doctor_email, date}
//   Books one slot with a doctor of that specialty on the preferred date,
//   or else on the closest date with room within kSearchWindowDays either
//   side (ties: the earlier date, then the lower doctor id), never before
//   today: "closest" counts from today on. Never overbooks under
//   concurrency: the chosen day row is locked and re-checked before it is
//   incremented. Business failures, at once: unknown specialty, no room, a
//   malformed date, a date outside 0001-01-01..9999-12-31 (what the form
//   and the database hold), a preferred date before today.
// release_reservation (compensation of reserve_doctor)
//   -> {compensated: true, released: bool, reservation_id, doctor_id, date}
//   Finds the reservation by the Execute's idempotency key, marks it
//   released and frees its slot; releasing twice frees it once.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "participants/common/action.h"

namespace saga::participants {

inline constexpr int kSearchWindowDays = 60;

// What the service takes as today; called once per booking.
using TodayClock = std::function<std::chrono::sys_days()>;

// Today's date in UTC, from the system clock (production).
std::chrono::sys_days UtcToday();

// A date written exactly as YYYY-MM-DD, year 0001 to 9999; nullopt
// otherwise.
std::optional<std::chrono::sys_days> ParseIsoDate(std::string_view text);
std::string FormatIsoDate(std::chrono::sys_days day);

// `today` decides which dates are in the past (tests pin it).
void RegisterDoctorActions(ActionRegistry& registry, TodayClock today);

}  // namespace saga::participants
