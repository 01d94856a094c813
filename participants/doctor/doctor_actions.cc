#include "participants/doctor/doctor_actions.h"

#include <chrono>
#include <string>

namespace saga::participants {
namespace {

// True for a real calendar date written exactly as YYYY-MM-DD. Checked here
// rather than by a ::date cast so a bad value is a business failure, not a
// database error.
bool IsIsoDate(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9')) return false;
  }
  int year = std::stoi(text.substr(0, 4));
  unsigned month = static_cast<unsigned>(std::stoi(text.substr(5, 2)));
  unsigned day = static_cast<unsigned>(std::stoi(text.substr(8, 2)));
  return std::chrono::year_month_day(std::chrono::year(year),
                                     std::chrono::month(month),
                                     std::chrono::day(day))
      .ok();
}

// The closest day with room, locked. Under READ COMMITTED a row that
// another booking filled while we waited for its lock is re-checked against
// `booked < capacity` and dropped, and the next candidate is taken.
constexpr char kPickDaySql[] =
    "SELECT dd.doctor_id, to_char(dd.day, 'YYYY-MM-DD') "
    "FROM doctor_days dd JOIN doctors d ON d.id = dd.doctor_id "
    "WHERE d.specialty = $1 "
    "  AND dd.day BETWEEN $2::date - $3::int AND $2::date + $3::int "
    "  AND dd.booked < dd.capacity "
    "ORDER BY abs(dd.day - $2::date), dd.day, dd.doctor_id "
    "LIMIT 1 "
    "FOR UPDATE OF dd";

ActionResult ReserveDoctor(pqxx::work& tx, const ActionCall& call) {
  std::string patient_id = RequireString(call.input, "patient_id");
  std::string specialty = RequireString(call.input, "specialty");
  std::string preferred_date = RequireString(call.input, "preferred_date");
  if (!IsIsoDate(preferred_date)) {
    throw InputError("preferred_date \"" + preferred_date +
                     "\" is not a date in YYYY-MM-DD form");
  }
  if (tx.exec_params("SELECT 1 FROM doctors WHERE specialty = $1 LIMIT 1",
                     specialty)
          .empty()) {
    return ActionResult::BusinessFailure("unknown specialty \"" + specialty +
                                         "\"");
  }
  // The UPDATE's own `booked < capacity` makes the slot count safe even if
  // the lock were ever lost; a miss just means picking again.
  for (int round = 0; round < 3; ++round) {
    pqxx::result picked = tx.exec_params(kPickDaySql, specialty, preferred_date,
                                         kSearchWindowDays);
    if (picked.empty()) {
      return ActionResult::BusinessFailure(
          "no " + specialty + " doctor has room within " +
          std::to_string(kSearchWindowDays) + " days of " + preferred_date);
    }
    std::string doctor_id = picked[0][0].as<std::string>();
    std::string date = picked[0][1].as<std::string>();
    if (tx.exec_params("UPDATE doctor_days SET booked = booked + 1 "
                       "WHERE doctor_id = $1 AND day = $2::date "
                       "AND booked < capacity RETURNING booked",
                       doctor_id, date)
            .empty()) {
      continue;
    }
    pqxx::result reservation = tx.exec_params(
        "INSERT INTO reservations (reservation_id, idempotency_key, saga_id, "
        "patient_id, doctor_id, day, status) "
        "VALUES ('r-' || nextval('reservation_numbers'), $1, $2, $3, $4, "
        "$5::date, 'active') RETURNING reservation_id",
        call.idempotency_key, call.saga_id, patient_id, doctor_id, date);
    pqxx::result doctor = tx.exec_params(
        "SELECT name, email FROM doctors WHERE id = $1", doctor_id);
    return ActionResult::Succeeded(
        {{"reservation_id", reservation[0][0].as<std::string>()},
         {"doctor_id", doctor_id},
         {"doctor_name", doctor[0][0].as<std::string>()},
         {"doctor_email", doctor[0][1].as<std::string>()},
         {"date", date}});
  }
  return ActionResult::RetryableFailure(
      "the chosen day filled up repeatedly while booking; try again");
}

ActionResult ReleaseReservation(pqxx::work& tx, const ActionCall& call) {
  pqxx::result released = tx.exec_params(
      "UPDATE reservations SET status = 'released', released_at = now() "
      "WHERE idempotency_key = $1 AND status = 'active' "
      "RETURNING reservation_id, doctor_id, to_char(day, 'YYYY-MM-DD')",
      call.original_idempotency_key);
  if (!released.empty()) {
    std::string doctor_id = released[0][1].as<std::string>();
    std::string date = released[0][2].as<std::string>();
    tx.exec_params(
        "UPDATE doctor_days SET booked = booked - 1 "
        "WHERE doctor_id = $1 AND day = $2::date",
        doctor_id, date);
    return ActionResult::Succeeded(
        {{"compensated", true},
         {"released", true},
         {"reservation_id", released[0][0].as<std::string>()},
         {"doctor_id", doctor_id},
         {"date", date}});
  }
  pqxx::result existing = tx.exec_params(
      "SELECT reservation_id, doctor_id, to_char(day, 'YYYY-MM-DD') "
      "FROM reservations WHERE idempotency_key = $1",
      call.original_idempotency_key);
  if (existing.empty()) {
    return ActionResult::Succeeded(
        {{"compensated", false},
         {"released", false},
         {"reason", "no reservation under the original key"}});
  }
  return ActionResult::Succeeded(
      {{"compensated", true},
       {"released", false},
       {"reason", "already released"},
       {"reservation_id", existing[0][0].as<std::string>()},
       {"doctor_id", existing[0][1].as<std::string>()},
       {"date", existing[0][2].as<std::string>()}});
}

}  // namespace

void RegisterDoctorActions(ActionRegistry& registry) {
  registry.AddExecute("reserve_doctor", ReserveDoctor);
  registry.AddCompensate("release_reservation", ReleaseReservation);
}

}  // namespace saga::participants
