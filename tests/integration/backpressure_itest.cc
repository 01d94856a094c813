// Backpressure and circuit breaking end to end: saga-orchestrator against the
// real participants with the booking saga's production timeouts and retry
// policies, faults injected through the participants' flags. The circuit
// breaker's targets, as outcomes (bench/breaker.sh prints their times):
//   - a participant failing half of its calls: every booking ends, and its
//     circuit never opens;
//   - a compensatable step that always times out: every saga compensates
//     (release_reservation goes ahead of the executes bound to time out);
//   - a participant down for 30 s: the sagas waiting on it park without
//     ending, it sees at most one call per second while its circuit is
//     open, and once it is back they all complete.
// And past --max-backlog, StartSaga answers RESOURCE_EXHAUSTED and writes
// nothing.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/breaker_scenarios.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kFast[] = "appointment_booking_fast";
constexpr auto kSagaTimeout = 60s;

TEST(BackpressureTest, HalfTheCallsFailingEveryBookingEndsAndTheCircuitStays) {
  TestCluster cluster(FlakyEmail(/*breaker=*/true));
  ASSERT_TRUE(cluster.Start());
  const std::vector<std::string> ids = StartBookings(cluster, 100);
  ASSERT_EQ(ids.size(), 100u);
  // notify retries for up to an hour, its backoff doubling to 30 s: a saga
  // still failing after 11 attempts (one run in about 20 has one among 100
  // sagas) is past 120 s; after 16 (one run in about 650) past 240 s.
  const BookingRun run = AwaitBookings(cluster, ids, 240s);
  ASSERT_TRUE(run.seconds_to_end_all.has_value())
      << run.Count(saga::v1::SAGA_STATUS_RUNNING) << " still running";
  std::cout << "100 bookings with half the emails failing ended in "
            << *run.seconds_to_end_all << " s\n";
  int retried = 0;
  for (const auto& saga : run.sagas) {
    // Either end is consistent; with notify's hour-long budget every saga
    // completes in practice.
    EXPECT_TRUE(saga.status() == saga::v1::SAGA_STATUS_COMPLETED ||
                saga.status() == saga::v1::SAGA_STATUS_COMPENSATED)
        << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
    const saga::v1::Step* notify = FindStep(saga, "notify");
    retried += notify != nullptr && notify->attempts() > 1 ? 1 : 0;
  }
  EXPECT_GT(retried, 10) << "saga-email did not fail half of its sends";
  EXPECT_GT(run.Count(saga::v1::SAGA_STATUS_COMPLETED), 50);
  // 50% failures stay under the 80% that opens it (with the default 50
  // calls at least, 40 failures of 50 happen about once in 10^5 windows).
  EXPECT_EQ(CountLogLines(cluster, "orchestrator",
                          {{"msg", "participant circuit"},
                           {"participant", "email"},
                           {"to", "open"}}),
            0);
  EXPECT_EQ(CircuitStateOf(cluster, "email"), 0.0);
}

TEST(BackpressureTest, AStepThatAlwaysTimesOutCompensatesEverySaga) {
  TestCluster cluster(SlowDoctor(/*breaker=*/true));
  ASSERT_TRUE(cluster.Start());
  const std::vector<std::string> ids = StartBookings(cluster, 15);
  ASSERT_EQ(ids.size(), 15u);
  const BookingRun run = AwaitBookings(cluster, ids, 120s);
  ASSERT_TRUE(run.seconds_to_end_all.has_value())
      << run.Count(saga::v1::SAGA_STATUS_RUNNING) << " still running";
  std::cout << "15 sagas whose reserve_doctor times out compensated in "
            << *run.seconds_to_end_all << " s\n";
  for (const auto& saga : run.sagas) {
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
        << DescribeSaga(saga);
    const saga::v1::Step* reserve = FindStep(saga, "reserve_doctor");
    ASSERT_NE(reserve, nullptr);
    EXPECT_EQ(reserve->attempts(), 5) << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
  }
  // The timeouts opened the doctor's circuit: the compensations went ahead
  // of the executes parked there (they would otherwise wait for executes
  // bound to time out, one trial period after another).
  EXPECT_GE(CountLogLines(cluster, "orchestrator",
                          {{"msg", "participant circuit"},
                           {"participant", "doctor"},
                           {"to", "open"}}),
            1);
}

TEST(BackpressureTest, ADownParticipantParksSagasAndSeesAtMostOneCallASecond) {
  TestCluster cluster(DownDoctor());
  ASSERT_TRUE(cluster.Start());
  const OutageRun run = RunDoctorOutage(cluster, 100, 30s, 120s);
  std::cout << run.calls_while_open << " calls reached the doctor in "
            << run.seconds_open << " s while its circuit was not closed\n";
  ASSERT_TRUE(run.circuit_opened);
  // Parked sagas wait without using their attempts: none ended.
  EXPECT_EQ(run.ended_during_outage, 0);
  // Two trials every two seconds; one trial period of slack for the
  // moments the count was taken.
  EXPECT_GE(run.calls_while_open, 1) << "no trial calls while open";
  EXPECT_LE(run.calls_while_open, run.seconds_open + 2);
  ASSERT_TRUE(run.bookings.seconds_to_end_all.has_value())
      << run.bookings.Count(saga::v1::SAGA_STATUS_RUNNING) << " still running";
  for (const auto& saga : run.bookings.sagas) {
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
  }
  EXPECT_GE(CountLogLines(cluster, "orchestrator",
                          {{"msg", "participant circuit"},
                           {"participant", "doctor"},
                           {"from", "half_open"},
                           {"to", "closed"}}),
            1);
  EXPECT_EQ(CircuitStateOf(cluster, "doctor"), 0.0);
}

TEST(BackpressureTest, StartPastTheBacklogIsResourceExhaustedAndWritesNothing) {
  ClusterOptions options;
  options.definitions_dir = SourcePath("tests/integration/sagas");
  // Slow enough that the first sagas are still running when the next start
  // arrives (reserve_doctor's timeout is 10 s).
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=5000"};
  options.orchestrator_flags = {"--max-backlog", "2", "--log-format", "json"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());
  const std::string first = cluster.StartSaga(kFast, AcceptedBookingInput(0));
  const std::string second = cluster.StartSaga(kFast, AcceptedBookingInput(1));
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  saga::v1::StartSagaRequest request;
  request.set_saga_type(kFast);
  request.set_input_json(AcceptedBookingInput(2));
  request.set_idempotency_key("refused-start");
  saga::v1::StartSagaResponse response;
  const grpc::Status status =
      cluster.Stub().StartSaga(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_NE(status.error_message().find("--max-backlog"), std::string::npos)
      << status.error_message();
  EXPECT_GE(
      CountLogLines(cluster, "orchestrator",
                    {{"msg", "saga start refused: backlog bound reached"}}),
      1);

  // Nothing was written for it: only the two accepted sagas exist.
  {
    grpc::ClientContext list_context;
    list_context.set_deadline(std::chrono::system_clock::now() + 30s);
    saga::v1::ListSagasRequest list;
    saga::v1::ListSagasResponse listed;
    ASSERT_TRUE(cluster.Stub().ListSagas(&list_context, list, &listed).ok());
    ASSERT_EQ(listed.sagas_size(), 2);
    for (const auto& saga : listed.sagas()) {
      EXPECT_TRUE(saga.saga_id() == first || saga.saga_id() == second)
          << saga.saga_id();
    }
  }

  // The accepted sagas finish, and then there is room again.
  for (const auto& id : {first, second}) {
    const saga::v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
  }
  grpc::StatusCode retried = grpc::StatusCode::UNKNOWN;
  EXPECT_TRUE(PollUntil(
      [&] {
        grpc::ClientContext again;
        again.set_deadline(std::chrono::system_clock::now() + 30s);
        saga::v1::StartSagaResponse accepted;
        retried =
            cluster.Stub().StartSaga(&again, request, &accepted).error_code();
        return retried != grpc::StatusCode::RESOURCE_EXHAUSTED;
      },
      30s));
  EXPECT_EQ(retried, grpc::StatusCode::OK);
}

}  // namespace
}  // namespace saga::testing
