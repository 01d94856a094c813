// The circuit breaker's targets as scenarios on a whole deployment
// (TestCluster, with the booking saga of sagas/appointment_booking.yaml and
// its production timeouts and retry policies), shared by
// backpressure_itest, which asserts their outcomes, and bench/breaker.sh,
// which prints their times:
//   - saga-email fails half of its sends with a retryable error;
//   - reserve_doctor answers after 3 s, past its 2 s timeout, so every
//     execute times out while release_reservation answers at once;
//   - saga-doctor refuses every call for a while (it is down), then comes
//     back.
//
// Not thread-safe: use from the thread that owns the cluster.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "saga/v1/orchestrator.pb.h"
#include "tests/integration/cluster.h"

namespace saga::testing {

// The deployments: orchestrator logs in JSON, metrics on a free port.
// `breaker` false runs the orchestrator with --circuit-breaker=false, the
// reference for what the breaker costs.
ClusterOptions FlakyEmail(bool breaker);
ClusterOptions SlowDoctor(bool breaker);
ClusterOptions DownDoctor();

// Starts `count` distinct bookings (that the participants accept); fails
// the test for any that is refused.
std::vector<std::string> StartBookings(TestCluster& cluster, int count);

struct BookingRun {
  std::vector<saga::v1::Saga> sagas;  // as last seen
  // From the first saga's creation to the last one's end, by the
  // orchestrator's clock; nullopt while any has not ended.
  std::optional<double> seconds_to_end_all;

  int Count(saga::v1::SagaStatus status) const;
};

// Waits until every saga of `ids` has ended or `timeout` has passed.
BookingRun AwaitBookings(TestCluster& cluster,
                         const std::vector<std::string>& ids,
                         std::chrono::milliseconds timeout);

struct OutageRun {
  BookingRun bookings;
  bool circuit_opened = false;
  // Calls that reached saga-doctor from its circuit's first trials until
  // it came back, and over how many seconds.
  int calls_while_open = 0;
  double seconds_open = 0;
  // Sagas that had ended when the doctor came back.
  int ended_during_outage = 0;
  // From the doctor's return until the last saga ended; nullopt if some
  // did not.
  std::optional<double> seconds_to_recover;
};

// On a DownDoctor() cluster: starts `count` bookings, keeps the doctor down
// for `outage` from the first start, restarts it healthy and waits up to
// `timeout` for every saga to end.
OutageRun RunDoctorOutage(TestCluster& cluster, int count,
                          std::chrono::milliseconds outage,
                          std::chrono::milliseconds timeout);

// The JSON log lines of `service` whose fields include all of `match`.
int CountLogLines(const TestCluster& cluster, const std::string& service,
                  const std::map<std::string, std::string>& match);

// saga_participant_circuit_state{participant} from the orchestrator's
// metrics endpoint.
std::optional<double> CircuitStateOf(const TestCluster& cluster,
                                     const std::string& participant);

}  // namespace saga::testing
