// The bookings read model's one rule: how an outbox message changes a
// booking. Pure: no I/O, no clock; times come from the messages.
//
// The view knows the booking sagas by their messages' payloads only:
//   saga.started                 input {patient_id, specialty, preferred_date}
//   saga.step.succeeded          of reserve_doctor: output {reservation_id,
//                                doctor_id, doctor_name, date}
//   saga.step.failed             {error}: why the saga will roll back (the
//   saga.compensation.started    {reason}  first reason given, until the
//                                saga's end gives its own)
//   saga.step.compensated        of reserve_doctor: the slot was released
//   saga.completed               the booking is confirmed
//   saga.compensated             {reason}: released (a slot was held) or
//                                refused (none was)
//   saga.failed                  {reason}: an operator must look
// Other messages (signals, operator actions, ...) only move last_seq.
//
// Order: the stream delivers a saga's messages in the order of its events
// (their header seq increases), and nothing more is assumed: not the order
// between sagas, nor that positions increase, nor that saga.started comes
// first (the view may have started after it was pruned). A message about a
// saga without a booking creates one from what it carries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace saga::bookings {

enum class BookingStatus {
  kRequested,
  kReserved,
  kConfirmed,
  kReleased,
  kRefused,
  kFailed,
};

// "requested", "reserved", ... (the bookings.status column).
const char* BookingStatusName(BookingStatus status);
std::optional<BookingStatus> ParseBookingStatus(const std::string& name);

struct Booking {
  std::string saga_id;
  std::string saga_type;
  std::string patient_id;  // empty until saga.started is applied
  BookingStatus status = BookingStatus::kRequested;
  std::string specialty;
  std::string preferred_date;
  std::string doctor_id;
  std::string doctor_name;
  std::string day;
  std::string reservation_id;
  std::string reason;
  int64_t last_seq = 0;
  int64_t requested_ms = 0;
  int64_t confirmed_ms = 0;
  int64_t released_ms = 0;
  int64_t updated_ms = 0;

  bool operator==(const Booking&) const = default;
};

// An outbox message as the view reads it.
struct ViewMessage {
  std::string message_id;
  std::string saga_id;
  std::string saga_type;
  std::string type;  // e.g. "saga.completed"
  std::string step;  // the header's step name; empty if none
  int64_t seq = 0;   // the header's seq
  std::string payload_json;
  int64_t at_ms = 0;
};

// The message's step and seq from its header JSON ({"seq", "step"}).
// InvalidArgument when the header is not a JSON object with a positive seq.
absl::StatusOr<ViewMessage> ReadHeader(ViewMessage message,
                                       const std::string& header_json);

// The booking after `message`, given the booking so far (nullopt: none
// yet). nullopt when the message is older than what the booking already
// reflects (seq <= last_seq), which the stream's order rules out; it
// changes nothing. InvalidArgument when the payload is not a JSON object.
absl::StatusOr<std::optional<Booking>> Project(
    const std::optional<Booking>& current, const ViewMessage& message);

}  // namespace saga::bookings
