// Database failover: the orchestrator's database runs on a primary with a
// synchronous streaming standby (both private clusters on loopback, through
// scripts/pg.sh), and the orchestrator connects with a multi-host DSN and
// target_session_attrs=read-write. Mid-run the primary is stopped
// (immediate: as if its machine died) and, a while later, the standby is
// promoted. Checked:
//  - while no server is writable, StartSaga answers UNAVAILABLE (nothing is
//    acknowledged that is not committed);
//  - the orchestrator reconnects to the promoted standby by itself;
//  - every acknowledged saga (StartSaga returned OK) exists afterwards and
//    ends with the participants agreeing (invariants 1 and 3);
//  - the participants' databases (a third cluster) are restarted during the
//    outage and the participants reconnect by themselves.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/postgres/pg_store.h"
#include "tests/integration/cluster.h"
#include "tests/integration/pg_server.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kBooking[] = "appointment_booking";

struct Started {
  grpc::Status status;
  std::string saga_id;
};

Started TryStart(TestCluster& cluster, int i, const std::string& key) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(15));
  saga::v1::StartSagaRequest request;
  request.set_saga_type(kBooking);
  const std::string date = (i % 2 == 0 ? "2026-12-" : "2027-01-") +
                           std::to_string(10 + (i / 2) % 18);
  request.set_input_json(BookingInput(i % 3 == 0 ? "p-1001" : "p-1002", date,
                                      i % 4 < 2 ? "cardiology" : "neurology"));
  request.set_idempotency_key(key);
  saga::v1::StartSagaResponse response;
  Started started;
  started.status = cluster.Stub().StartSaga(&context, request, &response);
  started.saga_id = response.saga_id();
  return started;
}

// Retries StartSaga (same key) while the answer is not OK, until `timeout`;
// returns the last answer.
Started StartUntilAcknowledged(TestCluster& cluster, int i,
                               const std::string& key, milliseconds timeout) {
  Started started;
  PollUntil(
      [&] {
        started = TryStart(cluster, i, key);
        return started.status.ok();
      },
      timeout);
  return started;
}

TEST(FailoverTest, AcknowledgedSagasSurviveThePromotionOfTheStandby) {
  std::string error;
  std::unique_ptr<PgServer> primary = PgServer::StartPrimary(&error);
  ASSERT_NE(primary, nullptr) << error;
  std::unique_ptr<PgServer> standby = PgServer::StartStandby(*primary, &error);
  ASSERT_NE(standby, nullptr) << error;
  std::unique_ptr<PgServer> participants_server =
      PgServer::StartPrimary(&error);
  ASSERT_NE(participants_server, nullptr) << error;
  {
    pqxx::connection admin(primary->admin_dsn());
    pqxx::nontransaction tx(admin);
    tx.exec0("CREATE DATABASE saga_failover");
  }
  // Both hosts; libpq takes the first that accepts writes. The standby is a
  // copy of the primary, so the password file of either will do.
  const std::string dsn =
      "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary->port()) + "," +
      std::to_string(standby->port()) +
      " user=saga dbname=saga_failover target_session_attrs=read-write"
      " connect_timeout=5 passfile=" +
      primary->passfile();

  ClusterOptions options;
  options.orchestrator_dsn = dsn;
  options.participants_admin_dsn = participants_server->admin_dsn();
  // Slow reservations keep sagas in flight at the failover.
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=300"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  std::map<std::string, std::string> acknowledged;  // key -> saga id
  int next = 0;
  auto start_acknowledged = [&](const std::string& phase, int count) {
    for (int n = 0; n < count; ++n, ++next) {
      const std::string key = phase + "-" + std::to_string(next);
      Started started =
          StartUntilAcknowledged(cluster, next, key, milliseconds(60000));
      ASSERT_TRUE(started.status.ok())
          << key << ": " << started.status.error_code() << " "
          << started.status.error_message();
      acknowledged[key] = started.saga_id;
    }
  };
  ASSERT_NO_FATAL_FAILURE(start_acknowledged("before", 30));

  ASSERT_TRUE(primary->Stop("immediate"));
  const auto down_at = Clock::now();
  // No server accepts writes now (the standby is read-only): nothing may be
  // acknowledged, and the answer says to come back later.
  constexpr int kDownAttempts = 5;
  for (int n = 0; n < kDownAttempts; ++n) {
    const std::string key = "down-" + std::to_string(n);
    Started started = TryStart(cluster, 1000 + n, key);
    EXPECT_EQ(started.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << key << ": " << started.status.error_message();
  }
  // The participants' databases go down and up meanwhile.
  ASSERT_TRUE(participants_server->Restart());

  ASSERT_TRUE(standby->Promote());
  const auto promoted_at = Clock::now();
  ASSERT_NO_FATAL_FAILURE(start_acknowledged("after", 1));
  const auto writable_after =
      std::chrono::duration_cast<milliseconds>(Clock::now() - promoted_at);
  ASSERT_NO_FATAL_FAILURE(start_acknowledged("after", 19));

  // Every acknowledged saga is on the promoted standby and ends.
  const auto deadline = Clock::now() + milliseconds(180000);
  std::map<saga::v1::SagaStatus, int> by_status;
  for (const auto& [key, id] : acknowledged) {
    const auto remaining =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    saga::v1::Saga saga =
        cluster.AwaitTerminal(id, std::max(remaining, milliseconds(1000)));
    ASSERT_EQ(cluster.GetSaga(id).saga_id(), id) << "acknowledged saga lost";
    ++by_status[saga.status()];
    cluster.ExpectParticipantsAgree(cluster.GetSaga(id));
    EXPECT_LE(cluster.AllReservations(id), 1) << DescribeSaga(saga);
    EXPECT_LE(cluster.Mails(id), 2) << DescribeSaga(saga);
  }
  // Nothing was written for the refused starts.
  for (int n = 0; n < kDownAttempts; ++n) {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM sagas WHERE "
                              "idempotency_key = $1",
                              "down-" + std::to_string(n))[0]
                  .as<int64_t>(),
              0);
  }
  std::cout
      << "[ failover ] " << acknowledged.size()
      << " sagas acknowledged (30 before the primary stopped, "
      << acknowledged.size() - 30 << " after the promotion); " << kDownAttempts
      << " StartSaga calls while no server was writable, all "
         "UNAVAILABLE; outage "
      << std::chrono::duration_cast<milliseconds>(promoted_at - down_at).count()
      << " ms; first StartSaga acknowledged " << writable_after.count()
      << " ms after the promotion; ended: "
      << by_status[saga::v1::SAGA_STATUS_COMPLETED] << " COMPLETED, "
      << by_status[saga::v1::SAGA_STATUS_COMPENSATED] << " COMPENSATED, "
      << by_status[saga::v1::SAGA_STATUS_FAILED] << " FAILED\n";
}

// A commit waiting for the synchronous standby becomes visible anyway when
// its wait is cut short (the primary crashes, the session is cancelled). A
// StartSaga retried with the same key then found that saga and answered OK
// from a read-only transaction, whose commit waits for nobody: an
// acknowledgement of a saga the standby may not have, lost if the primary
// then dies. A replay now commits with a transaction id, so its
// acknowledgement waits until the standby has everything before it.
TEST(FailoverTest, AReplayedStartIsAcknowledgedOnlyOnceTheStandbyHasIt) {
  std::string error;
  std::unique_ptr<PgServer> primary = PgServer::StartPrimary(&error);
  ASSERT_NE(primary, nullptr) << error;
  std::unique_ptr<PgServer> standby = PgServer::StartStandby(*primary, &error);
  ASSERT_NE(standby, nullptr) << error;
  TestDatabase db("saga_replay", primary->admin_dsn());
  ASSERT_TRUE(
      pg::ApplyMigrations(db.dsn(), SourcePath("migrations/orchestrator"))
          .ok());
  auto opened = store::PgStore::Open(db.dsn(), 1);
  ASSERT_TRUE(opened.ok()) << opened.status();
  store::PgStore& pg = **opened;

  store::AppendBatch first;
  first.saga_id = "5a3e6c0e-0000-4000-8000-000000000001";
  first.writer = "orch-0";
  first.lease_ttl = milliseconds(60000);
  core::Event started;
  started.type = core::EventType::kSagaStarted;
  started.seq = 1;
  started.at_ms = 1700000000000;
  started.saga_type = "appointment_booking";
  started.definition_version = 2;
  started.input_json = R"({"patient_id":"p-1001"})";
  first.events.push_back(started);
  first.summary.saga_id = first.saga_id;
  first.summary.saga_type = started.saga_type;
  first.summary.definition_version = 2;
  first.summary.input_json = started.input_json;
  first.summary.idempotency_key = "replayed-key";
  first.summary.last_seq = 1;
  first.summary.created_ms = started.at_ms;
  first.summary.updated_ms = started.at_ms;
  auto created = pg.Create(first);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(created->created);

  // Without its standby the primary can acknowledge no commit.
  ASSERT_TRUE(standby->Stop("fast"));
  store::AppendBatch retry = first;
  retry.saga_id = "5a3e6c0e-0000-4000-8000-000000000002";
  retry.summary.saga_id = retry.saga_id;
  auto replay =
      std::async(std::launch::async, [&] { return pg.Create(retry); });
  const bool waited =
      primary->SessionWaitsForTheStandby(db.name(), milliseconds(30000));
  const bool answered_early =
      replay.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  // Back first, so that no failure below leaves a session waiting for it.
  ASSERT_TRUE(standby->Restart());
  EXPECT_TRUE(waited) << "the replay did not wait for the synchronous standby";
  EXPECT_FALSE(answered_early)
      << "the replay was acknowledged before the standby had the saga";
  auto replayed = replay.get();
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_FALSE(replayed->created);
  EXPECT_EQ(replayed->saga_id, first.saga_id);
}

}  // namespace
}  // namespace saga::testing
