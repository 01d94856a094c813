#include "participants/bookings_view/booking_store.h"

#include <pqxx/pqxx>
#include <utility>

#include "orchestrator/pg/connection_pool.h"

namespace saga::bookings {
namespace {

constexpr char kColumns[] =
    "saga_id, saga_type, patient_id, status, specialty, preferred_date, "
    "doctor_id, doctor_name, day, reservation_id, reason, last_seq, "
    "requested_ms, confirmed_ms, released_ms, updated_ms";

constexpr char kRecordMessageSql[] =
    "INSERT INTO applied_messages (message_id, position) VALUES ($1, $2) "
    "ON CONFLICT (message_id) DO NOTHING";

constexpr char kSetPositionSql[] =
    "UPDATE consumer_position SET position = $1 WHERE id = 1";

constexpr char kPositionSql[] =
    "SELECT position FROM consumer_position WHERE id = 1";

constexpr char kUpsertSql[] =
    "INSERT INTO bookings (saga_id, saga_type, patient_id, status, specialty, "
    "  preferred_date, doctor_id, doctor_name, day, reservation_id, reason, "
    "  last_seq, requested_ms, confirmed_ms, released_ms, updated_ms) "
    "VALUES ($1, $2, NULLIF($3, ''), $4, NULLIF($5, ''), NULLIF($6, ''), "
    "  NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), NULLIF($10, ''), "
    "  NULLIF($11, ''), $12, NULLIF($13::bigint, 0), NULLIF($14::bigint, 0),"
    "  NULLIF($15::bigint, 0), "
    "  $16) "
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

absl::StatusOr<ApplyOutcome> BookingStore::Apply(const ViewMessage& message,
                                                 int64_t position) {
  return pool_->Run(
      "apply message " + message.message_id,
      [&](pqxx::connection& c) -> absl::StatusOr<ApplyOutcome> {
        pqxx::work tx(c);
        auto record =
            tx.exec_params(kRecordMessageSql, message.message_id, position);
        ApplyOutcome outcome = ApplyOutcome::kDuplicate;
        if (record.affected_rows() == 1) {
          std::optional<Booking> current;
          auto rows = tx.exec_params(std::string("SELECT ") + kColumns +
                                         " FROM bookings WHERE saga_id = $1 "
                                         "FOR UPDATE",
                                     message.saga_id);
          if (!rows.empty()) {
            auto booking = ToBooking(rows[0]);
            if (!booking.ok()) return booking.status();
            current = *std::move(booking);
          }
          auto next = Project(current, message);
          if (!next.ok()) return next.status();
          outcome = ApplyOutcome::kStale;
          if (next->has_value()) {
            const Booking& b = **next;
            tx.exec_params(kUpsertSql, b.saga_id, b.saga_type, b.patient_id,
                           BookingStatusName(b.status), b.specialty,
                           b.preferred_date, b.doctor_id, b.doctor_name, b.day,
                           b.reservation_id, b.reason, b.last_seq,
                           b.requested_ms, b.confirmed_ms, b.released_ms,
                           b.updated_ms);
            outcome = ApplyOutcome::kApplied;
          }
        }
        tx.exec_params(kSetPositionSql, position);
        tx.commit();
        return outcome;
      });
}

absl::Status BookingStore::Skip(int64_t position) {
  return pool_->Run("record position",
                    [&](pqxx::connection& c) -> absl::Status {
                      pqxx::work tx(c);
                      tx.exec_params(kSetPositionSql, position);
                      tx.commit();
                      return absl::OkStatus();
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
