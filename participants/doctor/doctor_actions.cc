#include "participants/doctor/doctor_actions.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

namespace saga::participants {
namespace {

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Y...-MM-DD with any number of year digits.
bool LooksLikeADate(std::string_view text) {
  const size_t dash = text.find('-');
  return dash != std::string_view::npos && text.size() == dash + 6 &&
         text[dash + 3] == '-' && AllDigits(text.substr(0, dash)) &&
         AllDigits(text.substr(dash + 1, 2)) &&
         AllDigits(text.substr(dash + 4, 2));
}

// A date in the form, but with a year outside 0001..9999: not a date
// PostgreSQL takes in this form (year 0 does not exist there).
bool YearOutOfRange(std::string_view text) {
  return LooksLikeADate(text) &&
         (text.find('-') != 4 || text.substr(0, 4) == "0000");
}

// The closest day with room between $3 (the later of today and the
// window's start) and the window's end, locked. Under READ COMMITTED a row that
// another booking filled while we waited for its lock is re-checked against
// `booked < capacity` and dropped, and the next candidate is taken.
constexpr char kPickDaySql[] =
    "SELECT dd.doctor_id, to_char(dd.day, 'YYYY-MM-DD') "
    "FROM doctor_days dd JOIN doctors d ON d.id = dd.doctor_id "
    "WHERE d.specialty = $1 "
    "  AND dd.day BETWEEN $3::date AND $2::date + $4::int "
    "  AND dd.booked < dd.capacity "
    "ORDER BY abs(dd.day - $2::date), dd.day, dd.doctor_id "
    "LIMIT 1 "
    "FOR UPDATE OF dd";

ActionResult ReserveDoctor(pqxx::work& tx, const ActionCall& call,
                           std::chrono::sys_days today) {
  std::string patient_id = RequireString(call.input, "patient_id");
  std::string specialty = RequireString(call.input, "specialty");
  std::string preferred_date = RequireString(call.input, "preferred_date");
  const std::optional<std::chrono::sys_days> preferred =
      ParseIsoDate(preferred_date);
  if (YearOutOfRange(preferred_date)) {
    throw InputError("preferred_date \"" + preferred_date +
                     "\" is not a date between 0001-01-01 and 9999-12-31");
  }
  if (!preferred) {
    throw InputError("preferred_date \"" + preferred_date +
                     "\" is not a date in YYYY-MM-DD form");
  }
  if (*preferred < today) {
    return ActionResult::BusinessFailure("preferred_date " + preferred_date +
                                         " is in the past (today is " +
                                         FormatIsoDate(today) + ")");
  }
  if (tx.exec_params("SELECT 1 FROM doctors WHERE specialty = $1 LIMIT 1",
                     specialty)
          .empty()) {
    return ActionResult::BusinessFailure("unknown specialty \"" + specialty +
                                         "\"");
  }
  const std::chrono::sys_days window_start =
      std::max(*preferred - std::chrono::days(kSearchWindowDays), today);
  // The UPDATE's own `booked < capacity` makes the slot count safe even if
  // the lock were ever lost; a miss just means picking again.
  for (int round = 0; round < 3; ++round) {
    pqxx::result picked =
        tx.exec_params(kPickDaySql, specialty, preferred_date,
                       FormatIsoDate(window_start), kSearchWindowDays);
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

std::chrono::sys_days UtcToday() {
  // The system clock counts Unix time, so whole days of it are UTC dates.
  return std::chrono::floor<std::chrono::days>(
      std::chrono::system_clock::now());
}

std::optional<std::chrono::sys_days> ParseIsoDate(std::string_view text) {
  if (text.size() != 10 || !LooksLikeADate(text)) return std::nullopt;
  const int year = std::stoi(std::string(text.substr(0, 4)));
  const auto month =
      static_cast<unsigned>(std::stoi(std::string(text.substr(5, 2))));
  const auto day =
      static_cast<unsigned>(std::stoi(std::string(text.substr(8, 2))));
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(month),
                                         std::chrono::day(day)};
  // Year 0 is a valid proleptic Gregorian year but not a PostgreSQL date.
  if (year < 1 || !date.ok()) return std::nullopt;
  return std::chrono::sys_days(date);
}

std::string FormatIsoDate(std::chrono::sys_days day) {
  const std::chrono::year_month_day date(day);
  char text[32];
  std::snprintf(
      text, sizeof(text), "%04d-%02u-%02u", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

void RegisterDoctorActions(ActionRegistry& registry, TodayClock today) {
  registry.AddExecute(
      "reserve_doctor",
      [today = std::move(today)](pqxx::work& tx, const ActionCall& call) {
        return ReserveDoctor(tx, call, today());
      });
  registry.AddCompensate("release_reservation", ReleaseReservation);
}

}  // namespace saga::participants
