#include "participants/bookings_view/booking_projection.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace saga::bookings {
namespace {

using Json = nlohmann::json;

// The booking saga's step that holds a doctor's slot.
constexpr char kReserveStep[] = "reserve_doctor";

std::string Text(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const Json& Member(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

// Until the saga ends, the first reason given (the failure that started
// the roll-back); then the saga's own reason, when it gives one.
void NoteReason(Booking& booking, const std::string& reason) {
  if (booking.reason.empty()) booking.reason = reason;
}
void NoteFinalReason(Booking& booking, const std::string& reason) {
  if (!reason.empty()) booking.reason = reason;
}

}  // namespace

const char* BookingStatusName(BookingStatus status) {
  switch (status) {
    case BookingStatus::kRequested:
      return "requested";
    case BookingStatus::kReserved:
      return "reserved";
    case BookingStatus::kConfirmed:
      return "confirmed";
    case BookingStatus::kReleased:
      return "released";
    case BookingStatus::kRefused:
      return "refused";
    case BookingStatus::kFailed:
      return "failed";
  }
  return "requested";
}

std::optional<BookingStatus> ParseBookingStatus(const std::string& name) {
  for (BookingStatus status :
       {BookingStatus::kRequested, BookingStatus::kReserved,
        BookingStatus::kConfirmed, BookingStatus::kReleased,
        BookingStatus::kRefused, BookingStatus::kFailed}) {
    if (name == BookingStatusName(status)) return status;
  }
  return std::nullopt;
}

absl::StatusOr<ViewMessage> ReadHeader(ViewMessage message,
                                       const std::string& header_json) {
  Json header = Json::parse(header_json, nullptr, /*allow_exceptions=*/false);
  auto seq = header.is_object() ? header.find("seq") : header.end();
  if (!header.is_object() || seq == header.end() || !seq->is_number_integer() ||
      seq->get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(
        "message " + message.message_id +
        ": header has no positive seq: " + header_json);
  }
  message.seq = seq->get<int64_t>();
  message.step = Text(header, "step");
  return message;
}

absl::StatusOr<std::optional<Booking>> Project(
    const std::optional<Booking>& current, const ViewMessage& message) {
  if (current && message.seq <= current->last_seq) return std::nullopt;
  Json payload =
      Json::parse(message.payload_json, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) {
    return absl::InvalidArgumentError("message " + message.message_id +
                                      ": payload is not a JSON object");
  }
  Booking booking;
  if (current) {
    booking = *current;
  } else {
    booking.saga_id = message.saga_id;
    booking.saga_type = message.saga_type;
  }
  const std::string& type = message.type;
  if (type == "saga.started") {
    const Json& input = Member(payload, "input");
    booking.patient_id = Text(input, "patient_id");
    booking.specialty = Text(input, "specialty");
    booking.preferred_date = Text(input, "preferred_date");
    booking.requested_ms = message.at_ms;
  } else if (type == "saga.step.succeeded" && message.step == kReserveStep) {
    const Json& output = Member(payload, "output");
    booking.reservation_id = Text(output, "reservation_id");
    booking.doctor_id = Text(output, "doctor_id");
    booking.doctor_name = Text(output, "doctor_name");
    booking.day = Text(output, "date");
    booking.status = BookingStatus::kReserved;
  } else if (type == "saga.step.failed") {
    NoteReason(booking, Text(payload, "error"));
  } else if (type == "saga.compensation.started") {
    NoteReason(booking, Text(payload, "reason"));
  } else if (type == "saga.step.compensated" && message.step == kReserveStep) {
    booking.status = BookingStatus::kReleased;
    booking.released_ms = message.at_ms;
  } else if (type == "saga.completed") {
    booking.status = BookingStatus::kConfirmed;
    booking.confirmed_ms = message.at_ms;
  } else if (type == "saga.compensated") {
    NoteFinalReason(booking, Text(payload, "reason"));
    // Every compensation succeeded: a slot that was held (or a call that
    // may have held one, released without an answer) is free again.
    if (booking.reservation_id.empty() &&
        booking.status != BookingStatus::kReleased) {
      booking.status = BookingStatus::kRefused;
    } else {
      booking.status = BookingStatus::kReleased;
      if (booking.released_ms == 0) booking.released_ms = message.at_ms;
    }
  } else if (type == "saga.failed") {
    NoteFinalReason(booking, Text(payload, "reason"));
    booking.status = BookingStatus::kFailed;
  }
  booking.last_seq = message.seq;
  booking.updated_ms = message.at_ms;
  return std::optional<Booking>(std::move(booking));
}

}  // namespace saga::bookings
