#include "participants/bookings_view/show_bookings.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "saga/v1/bookings_view.grpc.pb.h"

namespace saga::bookings {
namespace {

constexpr std::chrono::seconds kCallTimeout{10};

std::string StatusText(v1::BookingStatus status) {
  std::string name = v1::BookingStatus_Name(status);
  const std::string prefix = "BOOKING_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string OrDash(const std::string& text) {
  return text.empty() ? "-" : text;
}

void PrintTable(const std::vector<v1::Booking>& bookings, std::ostream& out) {
  char line[512];
  std::snprintf(line, sizeof line, "%-36s  %-9s  %-10s  %-30s  %-8s  %s\n",
                "SAGA", "STATUS", "DATE", "DOCTOR", "PATIENT", "REASON");
  out << line;
  for (const v1::Booking& b : bookings) {
    std::string doctor = b.doctor_name().empty()
                             ? OrDash(b.doctor_id())
                             : b.doctor_name() + " (" + b.doctor_id() + ")";
    std::string date = b.date().empty() ? OrDash(b.preferred_date()) : b.date();
    std::snprintf(line, sizeof line, "%-36s  %-9s  %-10s  %-30s  %-8s  %s\n",
                  b.saga_id().c_str(), StatusText(b.status()).c_str(),
                  date.c_str(), doctor.c_str(), OrDash(b.patient_id()).c_str(),
                  OrDash(b.reason()).c_str());
    out << line;
  }
}

}  // namespace

int ShowBookings(const std::string& address, const std::string& patient_id,
                 const std::string& saga_id, std::ostream& out,
                 std::ostream& err) {
  auto stub = v1::BookingsView::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  std::vector<v1::Booking> bookings;
  grpc::Status status;
  if (!saga_id.empty()) {
    v1::GetBookingRequest request;
    request.set_saga_id(saga_id);
    v1::Booking booking;
    status = stub->GetBooking(&context, request, &booking);
    bookings.push_back(booking);
  } else {
    v1::ListBookingsRequest request;
    request.set_patient_id(patient_id);
    v1::ListBookingsResponse response;
    status = stub->ListBookings(&context, request, &response);
    bookings.assign(response.bookings().begin(), response.bookings().end());
  }
  if (!status.ok()) {
    err << "saga-bookings-view at " << address << ": " << status.error_message()
        << " (code " << status.error_code() << ")\n";
    return 1;
  }
  PrintTable(bookings, out);
  return 0;
}

}  // namespace saga::bookings
