// Several orchestrator instances on one database (README, "Running several
// instances" and guarantee 5): a killed instance's sagas finish on the
// others once its leases expire; a paused instance ("zombie") that wakes up
// after others took its sagas over is refused, calls no participant and
// lets go; SIGTERM drains, releases the leases and another instance resumes
// at once.
//
// How "no saga is ever driven by two instances at once" is proved from the
// database (ExpectOneDriverAtATime):
//  - Every event records the instance that appended it (saga_events.
//    written_by). An append commits only if the writer holds the saga's lease
//    and the expected seq is the last one, in the same UPDATE that inserts
//    the events, and a lease changes hands only when it has expired or was
//    released (FOR UPDATE on the saga row serialises both). So the history
//    is a sequence of commits by successive lease holders.
//  - Check 1: a saga's writers form runs that never interleave: once another
//    instance has written to a saga, the earlier writer never writes to it
//    again (in these tests a lease only moves away from the killed, paused
//    or stopped instance).
//  - Check 2: every call result is recorded by the instance that recorded the
//    call's start (StepStarted / CompensationStepStarted with the same step
//    and attempt), except "orchestrator restarted while the call was in
//    flight": the new holder settling its predecessor's call as unknown
//    without waiting for it. Together with the decider (a call is made only
//    after its start is committed by the caller), no instance acts on a call
//    another instance made.
//  - Participants apply each idempotency key once (invariant 2): at most one
//    reservation and one pair of mails per saga, whoever called.

#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "orchestrator/core/decider.h"
#include "tests/integration/cluster.h"
#include "tests/integration/zombie_calls.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kFast[] = "appointment_booking_fast";
constexpr milliseconds kAllEndedDeadline{180000};

std::vector<std::string> Column(const std::string& dsn, const std::string& sql,
                                const std::string& param) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  std::vector<std::string> values;
  for (const auto& row : tx.exec_params(sql, param)) {
    values.push_back(row[0].as<std::string>());
  }
  return values;
}

int64_t Count(const std::string& dsn, const std::string& sql,
              const std::string& param) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec_params1(sql, param)[0].as<int64_t>();
}

// Unfinished sagas leased to `instance`.
std::vector<std::string> UnfinishedLeasedTo(TestCluster& cluster,
                                            const std::string& instance) {
  return Column(cluster.orchestrator_dsn(),
                "SELECT saga_id FROM sagas WHERE lease_owner = $1 AND status "
                "IN ('RUNNING', 'COMPENSATING') ORDER BY saga_id",
                instance);
}

// Sagas whose reserve_doctor call (step 1), started by `instance`, has no
// result yet: calls in flight at that instance.
std::vector<std::string> ReservationsInFlight(TestCluster& cluster,
                                              const std::string& instance) {
  return Column(cluster.orchestrator_dsn(),
                "SELECT s.saga_id FROM saga_events s WHERE s.type = "
                "'StepStarted' AND s.step = 1 AND s.written_by = $1 AND NOT "
                "EXISTS (SELECT 1 FROM saga_events r WHERE r.saga_id = "
                "s.saga_id AND r.seq > s.seq) ORDER BY s.saga_id",
                instance);
}

// Whether orchestrator log `log` has the reserve_doctor call of `saga_id`
// as sent ("calling participant ... saga_id=<id> ... step=reserve_doctor").
bool ReservationSent(const std::string& log, const std::string& saga_id) {
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("calling participant saga_id=" + saga_id + " ") !=
            std::string::npos &&
        line.find(" step=reserve_doctor ") != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Checks 1 and 2 of the file comment over every saga in the database.
void ExpectOneDriverAtATime(TestCluster& cluster) {
  pqxx::connection conn(cluster.orchestrator_dsn());
  pqxx::nontransaction tx(conn);
  std::map<std::string, std::vector<std::string>> runs;
  for (const auto& row :
       tx.exec("SELECT saga_id, written_by FROM saga_events ORDER BY saga_id, "
               "seq")) {
    auto& writers = runs[row[0].as<std::string>()];
    const std::string writer = row[1].as<std::string>();
    if (writers.empty() || writers.back() != writer) writers.push_back(writer);
  }
  for (const auto& [saga_id, writers] : runs) {
    std::set<std::string> distinct(writers.begin(), writers.end());
    std::string sequence;
    for (const auto& writer : writers) sequence += writer + " ";
    EXPECT_EQ(distinct.size(), writers.size())
        << "saga " << saga_id << " has interleaved writers: " << sequence;
  }
  const pqxx::result foreign = tx.exec_params(
      "SELECT r.saga_id, r.seq, r.type, r.written_by, s.written_by"
      " FROM saga_events r JOIN saga_events s"
      "  ON s.saga_id = r.saga_id AND s.step = r.step"
      "  AND s.attempt = r.attempt AND s.seq < r.seq"
      "  AND s.type = CASE WHEN r.type LIKE 'Compensation%'"
      "   THEN 'CompensationStepStarted' ELSE 'StepStarted' END"
      " WHERE r.type IN ('StepSucceeded', 'StepFailed',"
      "  'CompensationStepSucceeded', 'CompensationStepFailed')"
      "  AND r.written_by <> s.written_by"
      "  AND r.data->>'error' IS DISTINCT FROM $1",
      std::string(core::kRestartedWhileInFlightError));
  for (const auto& row : foreign) {
    ADD_FAILURE() << "saga " << row[0].as<std::string>() << " seq "
                  << row[1].as<int64_t>() << ": " << row[2].as<std::string>()
                  << " recorded by " << row[3].as<std::string>()
                  << " for a call started by " << row[4].as<std::string>();
  }
}

// Starts `count` bookings with keys <prefix>-<i>, round-robin over
// `instances`; returns their ids.
std::vector<std::string> StartBookings(TestCluster& cluster, int count,
                                       const std::string& prefix,
                                       const std::vector<size_t>& instances) {
  static const std::vector<std::string> kPatients = {"p-1001", "p-1002",
                                                     "p-1004", "p-1005"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    cluster.UseOrchestrator(instances[i % instances.size()]);
    // Spread over two months so no doctor's day fills up.
    const std::string date = (i % 2 == 0 ? "2026-12-" : "2027-01-") +
                             std::to_string(10 + (i / 2) % 18);
    const std::string id = cluster.StartSaga(
        kFast,
        BookingInput(kPatients[i % kPatients.size()], date,
                     kSpecialties[(i / 4) % kSpecialties.size()]),
        prefix + "-" + std::to_string(i));
    if (!id.empty()) ids.push_back(id);
  }
  return ids;
}

// Waits (through instance `via`) until every saga has ended and checks that
// the participants agree with each (invariants 1-3).
void ExpectAllEndConsistently(TestCluster& cluster,
                              const std::vector<std::string>& ids, size_t via) {
  cluster.UseOrchestrator(via);
  const auto deadline = std::chrono::steady_clock::now() + kAllEndedDeadline;
  std::map<saga::v1::SagaStatus, int> by_status;
  for (const auto& id : ids) {
    const auto remaining = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    saga::v1::Saga saga =
        cluster.AwaitTerminal(id, std::max(remaining, milliseconds(1000)));
    ++by_status[saga.status()];
    cluster.ExpectParticipantsAgree(cluster.GetSaga(id));
    EXPECT_LE(cluster.AllReservations(id), 1) << DescribeSaga(saga);
    EXPECT_LE(cluster.Mails(id), 2) << DescribeSaga(saga);
  }
  std::cout << "[ leases   ] " << ids.size()
            << " sagas: " << by_status[saga::v1::SAGA_STATUS_COMPLETED]
            << " COMPLETED, " << by_status[saga::v1::SAGA_STATUS_COMPENSATED]
            << " COMPENSATED, " << by_status[saga::v1::SAGA_STATUS_FAILED]
            << " FAILED\n";
}

// Orchestrator flags: short leases so that the tests see expiry soon.
ClusterOptions SeveralInstances(size_t instances, int lease_ttl_ms) {
  ClusterOptions options;
  options.orchestrators = instances;
  options.definitions_dir = SourcePath("tests/integration/sagas");
  options.orchestrator_flags = {"--lease-ttl-ms", std::to_string(lease_ttl_ms),
                                "--claim-interval-ms", "200"};
  return options;
}

TEST(SeveralInstancesTest, KilledInstancesSagasFinishOnTheOthers) {
  ClusterOptions options = SeveralInstances(3, 2000);
  // Slow participants keep sagas in flight at the kill.
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=700"};
  options.participant_flags["email"] = {"--latency-ms",
                                        "send_notification=200"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::vector<std::string> ids =
      StartBookings(cluster, 45, "kill", {0, 1, 2});
  ASSERT_EQ(ids.size(), 45u);
  cluster.KillOrchestrator(SIGKILL, 0);
  const std::vector<std::string> orphans =
      UnfinishedLeasedTo(cluster, TestCluster::InstanceId(0));
  std::cout << "[ leases   ] orch-0 killed with " << orphans.size()
            << " unfinished sagas\n";
  ASSERT_FALSE(orphans.empty()) << "no saga was in flight at orch-0";

  ExpectAllEndConsistently(cluster, ids, 1);
  for (const auto& id : orphans) {
    EXPECT_GT(Count(cluster.orchestrator_dsn(),
                    "SELECT count(*) FROM saga_events WHERE saga_id = $1 AND "
                    "written_by IN ('orch-1', 'orch-2')",
                    id),
              0)
        << "orphan " << id << " was not finished by a live instance";
  }
  ExpectOneDriverAtATime(cluster);
}

TEST(SeveralInstancesTest, PausedInstanceIsFencedAndNoSagaHasTwoDrivers) {
  ClusterOptions options = SeveralInstances(2, 2000);
  // Calls take longer than the lease: a paused instance wakes up to results
  // of calls whose sagas moved on.
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=2500"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::vector<std::string> ids =
      StartBookings(cluster, 10, "zombie", {0});
  ASSERT_EQ(ids.size(), 10u);
  std::vector<std::string> in_flight;
  ASSERT_TRUE(PollUntil(
      [&] {
        in_flight = ReservationsInFlight(cluster, TestCluster::InstanceId(0));
        return in_flight.size() >= 3;
      },
      milliseconds(60000)));
  cluster.SignalOrchestrator(SIGSTOP, 0);

  // Its leases expire and orch-1 claims its sagas.
  EXPECT_TRUE(PollUntil(
      [&] {
        return UnfinishedLeasedTo(cluster, TestCluster::InstanceId(0)).empty();
      },
      milliseconds(60000)));
  cluster.SignalOrchestrator(SIGCONT, 0);

  // Its calls come back and it lets go of each of those sagas: its appends
  // are refused (or, where the database cut its session for idling in a
  // transaction while paused, its reload finds another holder).
  std::vector<std::string> held;
  EXPECT_TRUE(PollUntil(
      [&] {
        const std::string log = cluster.OrchestratorLog(0);
        held.clear();
        for (const auto& id : in_flight) {
          if (log.find("saga no longer driven here saga_id=" + id) ==
              std::string::npos) {
            held.push_back(id);
          }
        }
        return held.empty();
      },
      milliseconds(60000)))
      << "orch-0 still drives " << held.size() << " of the " << in_flight.size()
      << " sagas it had calls in flight for";
  const std::string log = cluster.OrchestratorLog(0);
  size_t refused = 0;
  for (const auto& id : in_flight) {
    if (log.find("saga fenced saga_id=" + id) != std::string::npos) ++refused;
  }
  EXPECT_GT(refused, 0u) << "no append of the paused instance was refused";

  ExpectAllEndConsistently(cluster, ids, 1);
  ExpectOneDriverAtATime(cluster);
  for (const auto& id : in_flight) {
    EXPECT_GT(Count(cluster.orchestrator_dsn(),
                    "SELECT count(*) FROM saga_events WHERE saga_id = $1 AND "
                    "written_by = 'orch-1'",
                    id),
              0)
        << id << " was not taken over";
  }
}

// A paused instance ("zombie") whose leases were taken over used to send
// the calls it had parked as soon as it woke up (44 of them in one run):
// each reached a participant for a saga another instance drove. Calls are
// now withheld while the instance cannot be sure of its leases, and after
// the next renewal each withheld saga's lease is read back first.
TEST(SeveralInstancesTest, ZombieSendsNoCallAfterTheTakeover) {
  ClusterOptions options = SeveralInstances(2, 2000);
  // Two calls in flight to the doctor at a time: the other bookings' calls
  // wait in the instance's gate, ready to go the moment it wakes up.
  options.orchestrator_flags.insert(options.orchestrator_flags.end(),
                                    {"--max-inflight-per-participant", "2"});
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=1500"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::vector<std::string> ids =
      StartBookings(cluster, 12, "withheld", {0});
  ASSERT_EQ(ids.size(), 12u);
  ASSERT_TRUE(PollUntil(
      [&] {
        return ReservationsInFlight(cluster, TestCluster::InstanceId(0))
                   .size() >= 6;
      },
      milliseconds(60000)))
      << "orch-0 never had calls parked";
  cluster.SignalOrchestrator(SIGSTOP, 0);
  const std::vector<std::string> held =
      UnfinishedLeasedTo(cluster, TestCluster::InstanceId(0));
  EXPECT_TRUE(PollUntil(
      [&] {
        return UnfinishedLeasedTo(cluster, TestCluster::InstanceId(0)).empty();
      },
      milliseconds(60000)));
  cluster.SignalOrchestrator(SIGCONT, 0);

  ExpectAllEndConsistently(cluster, ids, 1);
  // orch-0 lets go of every saga it held, by a refused append or by the
  // lease check of a withheld call.
  std::vector<std::string> still_driven;
  EXPECT_TRUE(PollUntil(
      [&] {
        const std::string log = cluster.OrchestratorLog(0);
        still_driven.clear();
        for (const auto& id : held) {
          if (log.find("saga no longer driven here saga_id=" + id) ==
              std::string::npos) {
            still_driven.push_back(id);
          }
        }
        return still_driven.empty();
      },
      milliseconds(60000)))
      << "orch-0 still drives " << still_driven.size() << " sagas";
  const std::string log = cluster.OrchestratorLog(0);
  EXPECT_NE(log.find("participant calls withheld"), std::string::npos)
      << "orch-0 had no parked call to withhold: the test proved nothing";
  const std::vector<ParticipantCall> zombies = ZombieCalls(cluster);
  std::cout << "[ leases   ] zombie_calls=" << zombies.size()
            << " (orch-0 held " << held.size()
            << " unfinished sagas when paused)\n";
  for (const auto& call : zombies)
    ADD_FAILURE() << "zombie call: " << call.line;
  ExpectOneDriverAtATime(cluster);
}

// SIGTERM: health NOT_SERVING and StartSaga UNAVAILABLE at once, the calls
// in flight land and commit, the leases are released and the process exits
// 0; the other instance resumes the sagas at once. The lease TTL (two
// minutes) is longer than the test waits, so only the release lets orch-1
// take the sagas over in time.
TEST(GracefulShutdownTest, SigtermDrainsReleasesAndAnotherInstanceResumes) {
  ClusterOptions options = SeveralInstances(2, 120000);
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=3000"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::vector<std::string> ids = StartBookings(cluster, 6, "term", {0});
  ASSERT_EQ(ids.size(), 6u);
  // In flight means sent: a reservation whose StepStarted has committed but
  // whose call the engine has not sent yet when SIGTERM comes is not drained
  // (orch-1 makes that call), so only sagas whose call orch-0 logged count.
  std::vector<std::string> in_flight;
  ASSERT_TRUE(PollUntil(
      [&] {
        const std::string log = cluster.OrchestratorLog(0);
        in_flight.clear();
        for (const auto& id :
             ReservationsInFlight(cluster, TestCluster::InstanceId(0))) {
          if (ReservationSent(log, id)) in_flight.push_back(id);
        }
        return !in_flight.empty();
      },
      milliseconds(60000)));
  cluster.SignalOrchestrator(SIGTERM, 0);

  // While the calls drain: not serving, and no new sagas.
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(cluster.orchestrator_port(0)),
      grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(PollUntil(
      [&] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        grpc::health::v1::HealthCheckResponse response;
        return health->Check(&context, {}, &response).ok() &&
               response.status() ==
                   grpc::health::v1::HealthCheckResponse::NOT_SERVING;
      },
      milliseconds(20000)))
      << "health never NOT_SERVING while orch-0 drained";
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::StartSagaRequest request;
    request.set_saga_type(kFast);
    request.set_input_json(BookingInput("p-1001", "2026-12-20", "cardiology"));
    saga::v1::StartSagaResponse response;
    const grpc::Status refused =
        cluster.Stub(0).StartSaga(&context, request, &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
        << refused.error_message();
  }

  int status = -1;
  ASSERT_TRUE(cluster.OrchestratorExited(milliseconds(60000), 0, &status));
  ASSERT_TRUE(WIFEXITED(status)) << "orch-0 did not exit by itself";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(UnfinishedLeasedTo(cluster, TestCluster::InstanceId(0)).empty())
      << "orch-0 kept leases";
  // The drained calls' results were committed by orch-0 itself.
  for (const auto& id : in_flight) {
    EXPECT_EQ(Count(cluster.orchestrator_dsn(),
                    "SELECT count(*) FROM saga_events WHERE saga_id = $1 AND "
                    "type = 'StepSucceeded' AND step = 1 AND written_by = "
                    "'orch-0'",
                    id),
              1)
        << id << ": the call in flight at SIGTERM did not land and commit";
  }

  // orch-1 resumes them well before orch-0's leases could have expired.
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(60000);
  cluster.UseOrchestrator(1);
  for (const auto& id : ids) {
    const auto remaining = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    saga::v1::Saga saga =
        cluster.AwaitTerminal(id, std::max(remaining, milliseconds(1)));
    EXPECT_TRUE(IsTerminal(saga.status())) << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(cluster.GetSaga(id));
  }
  ExpectOneDriverAtATime(cluster);
}

}  // namespace
}  // namespace saga::testing
