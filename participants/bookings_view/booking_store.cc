#include "participants/bookings_view/booking_store.h"

#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <utility>

#include "orchestrator/pg/connection_pool.h"

namespace saga::bookings {
namespace {

using Json = nlohmann::json;

constexpr char kColumns[] =
    "saga_id, saga_type, patient_id, status, specialty, preferred_date, "
    "doctor_id, doctor_name, day, reservation_id, reason, last_seq, "
    "requested_ms, confirmed_ms, released_ms, updated_ms";

// $1: [[message_id, position], ...]; returns the ids not applied before.
constexpr char kRecordMessagesSql[] =
    "INSERT INTO applied_messages (message_id, position) "
    "SELECT m->>0, (m->>1)::bigint FROM jsonb_array_elements($1::jsonb) m "
    "ON CONFLICT (message_id) DO NOTHING RETURNING message_id";

constexpr char kSetPositionSql[] =
    "UPDATE consumer_position SET position = $1 WHERE id = 1";

constexpr char kPositionSql[] =
    "SELECT position FROM consumer_position WHERE id = 1";

// $1: the batch's saga ids as a JSON array.
const std::string kLockBookingsSql =
    std::string("SELECT ") + kColumns +
    " FROM bookings WHERE saga_id IN "
    "(SELECT jsonb_array_elements_text($1::jsonb)) FOR UPDATE";

// $1: the changed bookings as a JSON array of objects (ToJson).
const std::string kUpsertSql =
    std::string("INSERT INTO bookings (") + kColumns + ") SELECT " + kColumns +
    " FROM jsonb_to_recordset($1::jsonb) AS r (saga_id text, saga_type text, "
    "patient_id text, status text, specialty text, preferred_date text, "
    "doctor_id text, doctor_name text, day text, reservation_id text, "
    "reason text, last_seq bigint, requested_ms bigint, confirmed_ms bigint, "
    "released_ms bigint, updated_ms bigint) "
    "ON CONFLICT (saga_id) DO UPDATE SET saga_type = EXCLUDED.saga_type, "
    "  patient_id = EXCLUDED.patient_id, status = EXCLUDED.status, "
    "  specialty = EXCLUDED.specialty, "
    "  preferred_date = EXCLUDED.preferred_date, "
    "  doctor_id = EXCLUDED.doctor_id, doctor_name = EXCLUDED.doctor_name, "
    "  day = EXCLUDED.day, reservation_id = EXCLUDED.reservation_id, "
    "  reason = EXCLUDED.reason, last_seq = EXCLUDED.last_seq, "
    "  requested_ms = EXCLUDED.requested_ms, "
    "  confirmed_ms = EXCLUDED.confirmed_ms, "
    "  released_ms = EXCLUDED.released_ms, updated_ms = EXCLUDED.updated_ms";

std::string DumpJson(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Empty text and zero times are stored as NULL.
Json ToJson(const Booking& b) {
  auto text = [](const std::string& value) {
    return value.empty() ? Json() : Json(value);
  };
  auto millis = [](int64_t value) { return value == 0 ? Json() : Json(value); };
  return {{"saga_id", b.saga_id},
          {"saga_type", b.saga_type},
          {"patient_id", text(b.patient_id)},
          {"status", BookingStatusName(b.status)},
          {"specialty", text(b.specialty)},
          {"preferred_date", text(b.preferred_date)},
          {"doctor_id", text(b.doctor_id)},
          {"doctor_name", text(b.doctor_name)},
          {"day", text(b.day)},
          {"reservation_id", text(b.reservation_id)},
          {"reason", text(b.reason)},
          {"last_seq", b.last_seq},
          {"requested_ms", millis(b.requested_ms)},
          {"confirmed_ms", millis(b.confirmed_ms)},
          {"released_ms", millis(b.released_ms)},
          {"updated_ms", b.updated_ms}};
}

std::string Column(const pqxx::row& row, const char* name) {
  return row[name].is_null() ? "" : row[name].as<std::string>();
}

int64_t Millis(const pqxx::row& row, const char* name) {
  return row[name].is_null() ? 0 : row[name].as<int64_t>();
}

absl::StatusOr<Booking> ToBooking(const pqxx::row& row) {
  Booking booking;
  booking.saga_id = Column(row, "saga_id");
  booking.saga_type = Column(row, "saga_type");
  booking.patient_id = Column(row, "patient_id");
  auto status = ParseBookingStatus(Column(row, "status"));
  if (!status) {
    return absl::InternalError("booking " + booking.saga_id +
                               ": unknown status " + Column(row, "status"));
  }
  booking.status = *status;
  booking.specialty = Column(row, "specialty");
  booking.preferred_date = Column(row, "preferred_date");
  booking.doctor_id = Column(row, "doctor_id");
  booking.doctor_name = Column(row, "doctor_name");
  booking.day = Column(row, "day");
  booking.reservation_id = Column(row, "reservation_id");
  booking.reason = Column(row, "reason");
  booking.last_seq = row["last_seq"].as<int64_t>();
  booking.requested_ms = Millis(row, "requested_ms");
  booking.confirmed_ms = Millis(row, "confirmed_ms");
  booking.released_ms = Millis(row, "released_ms");
  booking.updated_ms = Millis(row, "updated_ms");
  return booking;
}

}  // namespace

absl::StatusOr<int64_t> BookingStore::Position() {
  return pool_->Run("read the view's position",
                    [](pqxx::connection& c) -> absl::StatusOr<int64_t> {
                      pqxx::read_transaction tx(c);
                      return tx.exec1(kPositionSql)[0].as<int64_t>();
                    });
}

absl::StatusOr<BatchOutcome> BookingStore::Apply(
    const std::vector<StreamEntry>& entries) {
  BatchOutcome outcome;
  Json ids = Json::array();
  Json sagas = Json::array();
  for (const StreamEntry& entry : entries) {
    if (!entry.message) {
      ++outcome.skipped;
      continue;
    }
    ids.push_back({entry.message->message_id, entry.position});
    sagas.push_back(entry.message->saga_id);
  }
  return pool_->Run("apply " + std::to_string(entries.size()) + " messages",
                    [&](pqxx::connection& c) -> absl::StatusOr<BatchOutcome> {
                      pqxx::work tx(c);
                      std::multiset<std::string> fresh;
                      std::map<std::string, Booking> bookings;
                      std::set<std::string> changed;
                      if (!ids.empty()) {
                        for (const auto& row : tx.exec_params(
                                 kRecordMessagesSql, DumpJson(ids))) {
                          fresh.insert(row[0].as<std::string>());
                        }
                        for (const auto& row : tx.exec_params(
                                 kLockBookingsSql, DumpJson(sagas))) {
                          auto booking = ToBooking(row);
                          if (!booking.ok()) return booking.status();
                          bookings[booking->saga_id] = *std::move(booking);
                        }
                      }
                      for (const StreamEntry& entry : entries) {
                        if (!entry.message) continue;
                        const ViewMessage& message = *entry.message;
                        auto it = fresh.find(message.message_id);
                        if (it == fresh.end()) {
                          ++outcome.duplicate;
                          continue;
                        }
                        fresh.erase(it);
                        auto found = bookings.find(message.saga_id);
                        std::optional<Booking> current;
                        if (found != bookings.end()) current = found->second;
                        auto next = Project(current, message);
                        if (!next.ok()) return next.status();
                        if (!next->has_value()) {
                          ++outcome.stale;
                          continue;
                        }
                        bookings[message.saga_id] = **next;
                        changed.insert(message.saga_id);
                        ++outcome.applied;
                      }
                      if (!changed.empty()) {
                        Json rows = Json::array();
                        for (const std::string& saga_id : changed) {
                          rows.push_back(ToJson(bookings.at(saga_id)));
                        }
                        tx.exec_params(kUpsertSql, DumpJson(rows));
                      }
                      tx.exec_params(kSetPositionSql, entries.back().position);
                      tx.commit();
                      return outcome;
                    });
}

absl::Status BookingStore::Rebuild() {
  return pool_->Run("rebuild the view", [](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("TRUNCATE bookings, applied_messages");
    tx.exec_params(kSetPositionSql, 0);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<Booking> BookingStore::Get(const std::string& saga_id) {
  return pool_->Run("read booking " + saga_id,
                    [&](pqxx::connection& c) -> absl::StatusOr<Booking> {
                      pqxx::read_transaction tx(c);
                      auto rows = tx.exec_params(
                          std::string("SELECT ") + kColumns +
                              " FROM bookings WHERE saga_id = $1",
                          saga_id);
                      if (rows.empty()) {
                        return absl::NotFoundError("no booking for saga " +
                                                   saga_id + " (yet)");
                      }
                      return ToBooking(rows[0]);
                    });
}

absl::StatusOr<std::vector<Booking>> BookingStore::List(
    const std::string& patient_id, int limit) {
  return pool_->Run(
      "list bookings of " + patient_id,
      [&](pqxx::connection& c) -> absl::StatusOr<std::vector<Booking>> {
        pqxx::read_transaction tx(c);
        auto rows = tx.exec_params(
            std::string("SELECT ") + kColumns +
                " FROM bookings WHERE patient_id = $1 "
                "ORDER BY requested_ms DESC NULLS LAST, saga_id LIMIT $2",
            patient_id, limit);
        std::vector<Booking> bookings;
        for (const auto& row : rows) {
          auto booking = ToBooking(row);
          if (!booking.ok()) return booking.status();
          bookings.push_back(*std::move(booking));
        }
        return bookings;
      });
}

}  // namespace saga::bookings
