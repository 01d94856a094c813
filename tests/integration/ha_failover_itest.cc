// Automatic database failover under an HA engine (Patroni with etcd,
// through scripts/pg-ha.sh): the orchestrator's and the participants'
// databases are separate databases on one HA cluster, a primary and its
// synchronous standby, reached through a multi-host DSN with
// target_session_attrs=read-write. Mid-burst the primary's postmaster is
// SIGKILLed, and nothing else is done by hand: Patroni promotes the
// synchronous standby, and the orchestrator and the participants reconnect
// by themselves. Checked (invariants 1-3):
//  - every saga of the burst is acknowledged (StartSaga retried with its
//    idempotency key until OK, as a client would), some of them by the new
//    primary;
//  - every acknowledged saga ends, and the participants' databases agree
//    with it: nothing lost, no effect applied twice, no inconsistency.
// The failover timeline (kill, promotion, first commit after) is printed.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/cluster.h"
#include "tests/integration/consistency.h"
#include "tests/integration/pg_server.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kSagas = 120;
constexpr int kClients = 4;
// The primary is killed once this many sagas were acknowledged, so the rest
// of the burst meets the failover.
constexpr int kKillAfter = 40;
// How long a client keeps retrying one StartSaga, and how long Patroni gets
// to promote the standby.
constexpr milliseconds kStartTimeout{90000};
constexpr milliseconds kPromotionTimeout{60000};
constexpr milliseconds kRetryPause{50};

struct Booking {
  grpc::Status status;
  std::string saga_id;
  // The answers of the attempts that were not acknowledged, by code.
  std::map<grpc::StatusCode, int> refusals;
  // When the attempt that was acknowledged began, and when it returned.
  Clock::time_point attempt_started;
  Clock::time_point acknowledged;
};

// StartSaga for booking `i`, retried with the same idempotency key, as a
// client would (pausing kRetryPause between attempts), until it is
// acknowledged or kStartTimeout passes.
Booking StartBooking(saga::v1::SagaOrchestrator::Stub& stub, int i) {
  saga::v1::StartSagaRequest request;
  request.set_saga_type("appointment_booking");
  const std::string date = (i % 2 == 0 ? "2026-12-" : "2027-01-") +
                           std::to_string(10 + (i / 2) % 18);
  request.set_input_json(BookingInput(i % 3 == 0 ? "p-1001" : "p-1002", date,
                                      i % 4 < 2 ? "cardiology" : "neurology"));
  request.set_idempotency_key("ha-burst-" + std::to_string(i));
  Booking booking;
  const auto deadline = Clock::now() + kStartTimeout;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(15));
    saga::v1::StartSagaResponse response;
    booking.attempt_started = Clock::now();
    booking.status = stub.StartSaga(&context, request, &response);
    booking.acknowledged = Clock::now();
    booking.saga_id = response.saga_id();
    if (booking.status.ok() || Clock::now() >= deadline) return booking;
    ++booking.refusals[booking.status.error_code()];
    std::this_thread::sleep_for(kRetryPause);
  }
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    default:
      return "code " + std::to_string(code);
  }
}

int64_t MillisBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

TEST(HaFailoverTest,
     PatroniPromotesTheSyncStandbyAndEveryAcknowledgedSagaEnds) {
  std::string error;
  std::unique_ptr<HaPostgres> ha = HaPostgres::Start(&error);
  ASSERT_NE(ha, nullptr) << error;

  ClusterOptions options;
  options.orchestrator_admin_dsn = ha->admin_dsn();
  options.participants_admin_dsn = ha->admin_dsn();
  // Slow reservations keep sagas in flight when the primary dies.
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=300"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());
  EXPECT_NE(cluster.orchestrator_dsn().find("target_session_attrs=read-write"),
            std::string::npos)
      << cluster.orchestrator_dsn();

  const std::string old_primary = ha->Primary();
  ASSERT_FALSE(old_primary.empty()) << ha->Status();

  // The burst: kClients clients, each starting the next booking.
  auto stub = saga::v1::SagaOrchestrator::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(cluster.orchestrator_port()),
      cluster.ClientCredentials()));
  std::vector<Booking> bookings(kSagas);
  std::atomic<int> next{0};
  std::atomic<int> acknowledged{0};
  const auto burst_started = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = next++; i < kSagas; i = next++) {
        bookings[i] = StartBooking(*stub, i);
        if (bookings[i].status.ok()) ++acknowledged;
      }
    });
  }
  const bool reached =
      PollUntil([&] { return acknowledged >= kKillAfter; }, kStartTimeout);
  const auto killed_at = Clock::now();
  const int acknowledged_at_kill = acknowledged;
  const auto killed = ha->KillPostmaster(old_primary);
  std::string new_primary;
  const bool promoted =
      killed && PollUntil(
                    [&] {
                      new_primary = ha->Primary();
                      return !new_primary.empty() && new_primary != old_primary;
                    },
                    kPromotionTimeout);
  const auto promoted_at = Clock::now();
  for (std::thread& client : clients) client.join();
  const auto burst_ended = Clock::now();
  ASSERT_TRUE(reached) << "fewer than " << kKillAfter
                       << " sagas acknowledged before the kill";
  ASSERT_TRUE(killed);
  ASSERT_TRUE(promoted) << "no other node accepts writes "
                        << kPromotionTimeout.count()
                        << " ms after the kill; patronictl list:\n"
                        << ha->Status();

  // Every booking acknowledged, some by the new primary. A booking sent
  // after the kill may still be acknowledged before the promotion, by a
  // session of the killed postmaster that lived on for a moment.
  std::vector<std::string> ids;
  std::map<grpc::StatusCode, int> refusals;
  int before_promotion = 0;  // sent after the kill
  int after_promotion = 0;
  Clock::time_point first_after_promotion = Clock::time_point::max();
  for (int i = 0; i < kSagas; ++i) {
    const Booking& booking = bookings[i];
    ASSERT_TRUE(booking.status.ok())
        << "booking " << i
        << " never acknowledged: " << booking.status.error_code() << " "
        << booking.status.error_message();
    ids.push_back(booking.saga_id);
    for (const auto& [code, count] : booking.refusals) refusals[code] += count;
    if (booking.acknowledged >= promoted_at) {
      ++after_promotion;
      first_after_promotion =
          std::min(first_after_promotion, booking.acknowledged);
    } else if (booking.attempt_started >= killed_at) {
      ++before_promotion;
    }
  }
  ASSERT_GT(after_promotion, 0) << "the burst ended before the failover";
  // While no server accepted writes, StartSaga said to come back later
  // (UNAVAILABLE), or that its commit's outcome was unknown (UNKNOWN: the
  // retry with the same key finds the saga if it committed); never an
  // error that a client would not retry.
  std::string refused;
  for (const auto& [code, count] : refusals) {
    refused += " " + std::to_string(count) + " " + CodeName(code);
    EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE ||
                code == grpc::StatusCode::UNKNOWN)
        << count << " StartSaga answers " << CodeName(code);
  }

  const ConsistencyReport report =
      CheckConsistency(cluster, ids, milliseconds(120000));
  std::string problems;
  for (const std::string& problem : report.problems) {
    problems += "\n  " + problem;
  }
  EXPECT_TRUE(report.Clean()) << report.Line() << problems;

  std::cout << "[ ha-failover ] burst of " << kSagas << " sagas from "
            << kClients << " clients; " << acknowledged_at_kill
            << " acknowledged when " << old_primary
            << "'s postmaster was SIGKILLed at +"
            << MillisBetween(burst_started, killed_at) << " ms\n"
            << "[ ha-failover ] kill -> " << new_primary
            << " promoted by Patroni (accepts writes): "
            << MillisBetween(killed_at, promoted_at) << " ms\n"
            << "[ ha-failover ] kill -> first StartSaga acknowledged after "
               "the promotion: "
            << MillisBetween(killed_at, first_after_promotion) << " ms ("
            << after_promotion << " acknowledged after the promotion, "
            << before_promotion
            << " sent after the kill and acknowledged before it; refused "
               "attempts:"
            << (refused.empty() ? " none" : refused) << ")\n"
            << "[ ha-failover ] burst took "
            << MillisBetween(burst_started, burst_ended)
            << " ms; ended: " << report.StatusCounts() << "; " << report.Line()
            << "\n"
            << "[ ha-failover ] patronictl list after the test:\n"
            << ha->Status();
}

}  // namespace
}  // namespace saga::testing
