#include "participants/bookings_view/bookings_service.h"

#include <algorithm>
#include <string>

namespace saga::bookings {
namespace {

constexpr int kMaxLimit = 500;
// Longer ids are no one's: refused before they reach the database.
constexpr size_t kMaxIdLength = 200;

// absl and gRPC status codes are the same numbers.
grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::Status CheckId(const char* field, const std::string& value) {
  if (value.empty() || value.size() > kMaxIdLength) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(field) + " must be 1 to " +
                            std::to_string(kMaxIdLength) + " characters");
  }
  return grpc::Status::OK;
}

v1::BookingStatus ToProto(BookingStatus status) {
  switch (status) {
    case BookingStatus::kRequested:
      return v1::BOOKING_STATUS_REQUESTED;
    case BookingStatus::kReserved:
      return v1::BOOKING_STATUS_RESERVED;
    case BookingStatus::kConfirmed:
      return v1::BOOKING_STATUS_CONFIRMED;
    case BookingStatus::kReleased:
      return v1::BOOKING_STATUS_RELEASED;
    case BookingStatus::kRefused:
      return v1::BOOKING_STATUS_REFUSED;
    case BookingStatus::kFailed:
      return v1::BOOKING_STATUS_FAILED;
  }
  return v1::BOOKING_STATUS_UNSPECIFIED;
}

}  // namespace

v1::Booking ToProto(const Booking& booking) {
  v1::Booking proto;
  proto.set_saga_id(booking.saga_id);
  proto.set_saga_type(booking.saga_type);
  proto.set_patient_id(booking.patient_id);
  proto.set_status(ToProto(booking.status));
  proto.set_specialty(booking.specialty);
  proto.set_preferred_date(booking.preferred_date);
  proto.set_doctor_id(booking.doctor_id);
  proto.set_doctor_name(booking.doctor_name);
  proto.set_date(booking.day);
  proto.set_reservation_id(booking.reservation_id);
  proto.set_reason(booking.reason);
  proto.set_requested_unix_ms(booking.requested_ms);
  proto.set_confirmed_unix_ms(booking.confirmed_ms);
  proto.set_released_unix_ms(booking.released_ms);
  proto.set_updated_unix_ms(booking.updated_ms);
  return proto;
}

grpc::Status BookingsService::ListBookings(
    grpc::ServerContext*, const v1::ListBookingsRequest* request,
    v1::ListBookingsResponse* response) {
  if (grpc::Status valid = CheckId("patient_id", request->patient_id());
      !valid.ok()) {
    return valid;
  }
  if (request->limit() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "limit must not be negative (0: the default)");
  }
  int limit =
      request->limit() == 0 ? kMaxLimit : std::min(request->limit(), kMaxLimit);
  auto bookings = store_->List(request->patient_id(), limit);
  if (!bookings.ok()) return ToGrpc(bookings.status());
  for (const Booking& booking : *bookings) {
    *response->add_bookings() = ToProto(booking);
  }
  return grpc::Status::OK;
}

grpc::Status BookingsService::GetBooking(grpc::ServerContext*,
                                         const v1::GetBookingRequest* request,
                                         v1::Booking* response) {
  if (grpc::Status valid = CheckId("saga_id", request->saga_id());
      !valid.ok()) {
    return valid;
  }
  auto booking = store_->Get(request->saga_id());
  if (!booking.ok()) return ToGrpc(booking.status());
  *response = ToProto(*booking);
  return grpc::Status::OK;
}

}  // namespace saga::bookings
