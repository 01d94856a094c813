// The view's small CLI output mode: asks a running saga-bookings-view over
// gRPC and prints a table, one booking a line:
//   SAGA  STATUS  DATE  DOCTOR  PATIENT  REASON
#pragma once

#include <ostream>
#include <string>

namespace saga::bookings {

// Prints the bookings of `patient_id` (or, when `saga_id` is not empty, the
// one booking of that saga) from the view at `address` (HOST:PORT,
// plaintext). Returns the process exit code: 0, or 1 with the error on
// `err` (e.g. NOT_FOUND, UNAVAILABLE).
int ShowBookings(const std::string& address, const std::string& patient_id,
                 const std::string& saga_id, std::ostream& out,
                 std::ostream& err);

}  // namespace saga::bookings
