// saga.v1.BookingsView over a BookingStore: the view's read API.
// Thread-safe (the store is).
#pragma once

#include "participants/bookings_view/booking_store.h"
#include "saga/v1/bookings_view.grpc.pb.h"

namespace saga::bookings {

// The proto form of a booking.
v1::Booking ToProto(const Booking& booking);

class BookingsService final : public v1::BookingsView::Service {
 public:
  // `store` must outlive the service.
  explicit BookingsService(BookingStore* store) : store_(store) {}

  grpc::Status ListBookings(grpc::ServerContext* context,
                            const v1::ListBookingsRequest* request,
                            v1::ListBookingsResponse* response) override;
  grpc::Status GetBooking(grpc::ServerContext* context,
                          const v1::GetBookingRequest* request,
                          v1::Booking* response) override;

 private:
  BookingStore* store_;
};

}  // namespace saga::bookings
