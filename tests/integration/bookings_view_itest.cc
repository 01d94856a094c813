// End-to-end tests of saga-bookings-view, the read model fed by the
// outbox stream: real orchestrator, participants and view processes on
// PostgreSQL. The view must agree with the participants' databases for
// every saga after its consumer is SIGKILLed mid-stream, after it was down
// while sagas ran, when its messages are delivered again, and after a
// rebuild from a pruned position.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/bookings_view.grpc.pb.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/scrape.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kFast[] = "appointment_booking_fast";
// Waits for a signal after reserving: cancelled there, it releases a slot.
constexpr char kApproval[] = "appointment_booking_approval";
constexpr milliseconds kSagaTimeout{60000};
constexpr milliseconds kCatchUp{60000};
constexpr int kExitCannotCatchUp = 3;

ClusterParticipant ViewProcess() {
  return {"view",
          "saga-bookings-view",
          "migrations/bookings_view",
          {{"--orchestrator", kOrchestratorAddress},
           {"--saga-type", kFast},
           {"--saga-type", kApproval}}};
}

ClusterOptions ViewCluster(std::vector<std::string> view_flags = {}) {
  ClusterOptions options;
  options.definitions_dir = SourcePath("tests/integration/sagas");
  options.participants.push_back(ViewProcess());
  options.participant_flags["view"] = std::move(view_flags);
  return options;
}

// What the test asked for, to compare the view with.
struct Started {
  std::string saga_id;
  std::string patient_id;
};

// The n-th booking of a run: every 10th is refused (an inactive patient),
// the rest are bookings the participants accept.
Started StartBooking(TestCluster& cluster, int n) {
  std::string input = n % 10 == 3
                          ? BookingInput("p-1003", "2027-02-12", "cardiology")
                          : AcceptedBookingInput(n);
  std::string patient = n % 10 == 3 ? "p-1003" : "";
  if (patient.empty()) {
    static const std::vector<std::string> kPatients = {
        "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
    patient = kPatients[n % kPatients.size()];
  }
  return {cluster.StartSaga(kFast, input), patient};
}

// Starts approval bookings n in [from, to), waits until each holds a slot
// and waits for its signal, then cancels it: the slot is released.
std::vector<Started> StartReleasedBookings(TestCluster& cluster, int from,
                                           int to) {
  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  std::vector<Started> sagas;
  for (int n = from; n < to; ++n) {
    sagas.push_back({cluster.StartSaga(kApproval, AcceptedBookingInput(n)),
                     kPatients[n % kPatients.size()]});
  }
  for (const Started& saga : sagas) {
    bool waiting = PollUntil(
        [&] {
          const v1::Step* step =
              FindStep(cluster.GetSaga(saga.saga_id), "approval");
          return step != nullptr && step->status() == v1::STEP_STATUS_WAITING;
        },
        kSagaTimeout);
    EXPECT_TRUE(waiting) << DescribeSaga(cluster.GetSaga(saga.saga_id));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         milliseconds(10000));
    v1::CancelSagaRequest request;
    request.set_saga_id(saga.saga_id);
    request.set_reason("patient cancelled");
    v1::CancelSagaResponse response;
    grpc::Status status =
        cluster.Stub().CancelSaga(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  return sagas;
}

struct ViewRow {
  std::string status, patient_id, doctor_id, day, reservation_id, reason;
};

struct DoctorRow {
  std::string reservation_id, doctor_id, day, status;
};

std::string Text(const pqxx::field& field) {
  return field.is_null() ? "" : field.as<std::string>();
}

std::map<std::string, ViewRow> ViewRows(TestCluster& cluster) {
  pqxx::connection connection(cluster.database("view").dsn());
  pqxx::read_transaction tx(connection);
  std::map<std::string, ViewRow> rows;
  for (const auto& row :
       tx.exec("SELECT saga_id, status, patient_id, doctor_id, day, "
               "reservation_id, reason FROM bookings")) {
    rows[row[0].as<std::string>()] = {Text(row[1]), Text(row[2]), Text(row[3]),
                                      Text(row[4]), Text(row[5]), Text(row[6])};
  }
  return rows;
}

// Every row of the view, columns joined, to compare before and after.
std::vector<std::string> ViewSnapshot(TestCluster& cluster) {
  pqxx::connection connection(cluster.database("view").dsn());
  pqxx::read_transaction tx(connection);
  std::vector<std::string> rows;
  for (const auto& row :
       tx.exec("SELECT b::text FROM bookings b ORDER BY saga_id")) {
    rows.push_back(row[0].as<std::string>());
  }
  rows.push_back(
      "applied: " +
      tx.exec1("SELECT count(*) FROM applied_messages")[0].as<std::string>());
  return rows;
}

std::multimap<std::string, DoctorRow> DoctorRows(TestCluster& cluster) {
  pqxx::connection connection(cluster.database("doctor").dsn());
  pqxx::read_transaction tx(connection);
  std::multimap<std::string, DoctorRow> rows;
  for (const auto& row :
       tx.exec("SELECT saga_id, reservation_id, doctor_id, day::text, status "
               "FROM reservations")) {
    rows.emplace(
        row[0].as<std::string>(),
        DoctorRow{Text(row[1]), Text(row[2]), Text(row[3]), Text(row[4])});
  }
  return rows;
}

// Whether the view has a final status for every saga of `sagas`.
bool ViewSettled(TestCluster& cluster, const std::vector<Started>& sagas) {
  std::map<std::string, ViewRow> rows = ViewRows(cluster);
  for (const Started& saga : sagas) {
    auto it = rows.find(saga.saga_id);
    if (it == rows.end()) return false;
    const std::string& status = it->second.status;
    if (status != "confirmed" && status != "released" && status != "refused") {
      return false;
    }
  }
  return true;
}

// Waits for every saga to end and for the view to settle, then checks each
// booking against the orchestrator and the doctor's database:
//   COMPLETED   -> confirmed, the one active reservation's doctor and day;
//   COMPENSATED -> released (its reservation released) or refused (no
//                  reservation at all), with the saga's reason.
void ExpectViewAgrees(TestCluster& cluster, const std::vector<Started>& sagas) {
  for (const Started& saga : sagas) {
    v1::Saga end = cluster.AwaitTerminal(saga.saga_id, kSagaTimeout);
    ASSERT_TRUE(IsTerminal(end.status())) << DescribeSaga(end);
  }
  ASSERT_TRUE(PollUntil([&] { return ViewSettled(cluster, sagas); }, kCatchUp))
      << "the view did not settle; its log:\n"
      << cluster.ParticipantLog("view");
  std::map<std::string, ViewRow> view = ViewRows(cluster);
  std::multimap<std::string, DoctorRow> doctor = DoctorRows(cluster);
  std::map<std::string, int> statuses;
  for (const Started& saga : sagas) {
    const ViewRow& row = view.at(saga.saga_id);
    v1::Saga end = cluster.GetSaga(saga.saga_id);
    auto [first, last] = doctor.equal_range(saga.saga_id);
    std::vector<DoctorRow> reservations;
    for (auto it = first; it != last; ++it) reservations.push_back(it->second);
    SCOPED_TRACE(saga.saga_id + " view " + row.status + " saga " +
                 DescribeSaga(end));
    ++statuses[row.status];
    EXPECT_EQ(row.patient_id, saga.patient_id);
    if (end.status() == v1::SAGA_STATUS_COMPLETED) {
      EXPECT_EQ(row.status, "confirmed");
      ASSERT_EQ(reservations.size(), 1u);
      EXPECT_EQ(reservations[0].status, "active");
      EXPECT_EQ(row.reservation_id, reservations[0].reservation_id);
      EXPECT_EQ(row.doctor_id, reservations[0].doctor_id);
      EXPECT_EQ(row.day, reservations[0].day);
    } else {
      ASSERT_EQ(end.status(), v1::SAGA_STATUS_COMPENSATED);
      EXPECT_EQ(row.reason, end.error());  // the saga's own reason
      for (const DoctorRow& reservation : reservations) {
        EXPECT_EQ(reservation.status, "released");
      }
      if (reservations.empty()) {
        EXPECT_EQ(row.status, "refused");
      } else {
        EXPECT_EQ(row.status, "released");
        ASSERT_EQ(reservations.size(), 1u);
        EXPECT_EQ(row.reservation_id, reservations[0].reservation_id);
        EXPECT_EQ(row.doctor_id, reservations[0].doctor_id);
      }
    }
  }
  std::ostringstream summary;
  for (const auto& [status, count] : statuses) {
    summary << status << "=" << count << " ";
  }
  std::printf("view agrees for %zu sagas: %s\n", sagas.size(),
              summary.str().c_str());
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

int64_t ViewPosition(TestCluster& cluster) {
  pqxx::connection connection(cluster.database("view").dsn());
  pqxx::work tx(connection);
  return tx.exec1("SELECT position FROM consumer_position")[0].as<int64_t>();
}

void SetViewPosition(TestCluster& cluster, int64_t position) {
  pqxx::connection connection(cluster.database("view").dsn());
  pqxx::work tx(connection);
  tx.exec_params("UPDATE consumer_position SET position = $1", position);
  tx.commit();
}

// 500 bookings (confirmed, refused and released) while the view is started
// late and then SIGKILLed and restarted three times mid-stream.
TEST(BookingsViewTest, AgreesAfterABurstWithTheConsumerKilledThreeTimes) {
  TestCluster cluster(ViewCluster());
  ASSERT_TRUE(cluster.Start());
  cluster.StopParticipant("view");  // started late: builds from position 0
  std::vector<Started> sagas;
  for (int n = 0; n < 480; ++n) {
    sagas.push_back(StartBooking(cluster, n));
    if (n == 100 || n == 200 || n == 300 || n == 400) {
      // The first restart starts the view late; the next three SIGKILL it
      // while it applies the burst.
      ASSERT_TRUE(cluster.RestartParticipant("view", {}));
    }
  }
  for (Started& saga : StartReleasedBookings(cluster, 480, 500)) {
    sagas.push_back(std::move(saga));
  }
  ExpectViewAgrees(cluster, sagas);
}

// A view down while 200 sagas run catches up from its recorded position;
// the same messages delivered again change nothing; a pruned position is
// refused with OUT_OF_RANGE, and --rebuild reads what the outbox holds.
TEST(BookingsViewTest, CatchesUpDedupesAndRebuildsFromAPrunedPosition) {
  TestCluster cluster(ViewCluster({"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(cluster.Start());
  std::vector<Started> first;
  for (int n = 0; n < 10; ++n) first.push_back(StartBooking(cluster, n));
  ExpectViewAgrees(cluster, first);
  const int64_t first_position = ViewPosition(cluster);
  {
    Scrape scrape = ParseScrape(
        HttpGet(AwaitMetricsAddress(cluster.log_dir() + "/view.log", kCatchUp),
                "/metrics"));
    EXPECT_EQ(scrape.Value("saga_bookings_view_caught_up"), 1);
    EXPECT_GE(scrape
                  .Value("saga_bookings_view_messages_total",
                         {{"outcome", "applied"}})
                  .value_or(0),
              10 * 3);
    EXPECT_TRUE(scrape.Value("saga_bookings_view_lag_seconds").has_value());
  }

  // Down while 200 sagas run.
  cluster.StopParticipant("view");
  std::vector<Started> all = first;
  for (int n = 10; n < 210; ++n) all.push_back(StartBooking(cluster, n));
  for (const Started& saga : all) {
    ASSERT_TRUE(
        IsTerminal(cluster.AwaitTerminal(saga.saga_id, kSagaTimeout).status()));
  }
  ASSERT_TRUE(cluster.RestartParticipant("view", {}));
  ExpectViewAgrees(cluster, all);
  EXPECT_NE(cluster.ParticipantLog("view").find("catching up from position " +
                                                std::to_string(first_position)),
            std::string::npos);

  // "My appointments" from the CLI output mode.
  {
    std::string out = cluster.log_dir() + "/show.out";
    ChildProcess show(
        {BinaryPath("saga-bookings-view"), "--view",
         "127.0.0.1:" + std::to_string(cluster.participant_port("view")),
         "--show-patient", all[0].patient_id},
        {}, out);
    EXPECT_EQ(show.Wait(), 0);
    std::ifstream file(out);
    std::string text((std::istreambuf_iterator<char>(file)),
                     std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("SAGA"), std::string::npos) << text;
    EXPECT_NE(text.find(all[0].saga_id + "  CONFIRMED"), std::string::npos)
        << text;
  }

  // Every message again, from position 0: nothing changes.
  const std::vector<std::string> before = ViewSnapshot(cluster);
  cluster.StopParticipant("view");
  SetViewPosition(cluster, 0);
  const size_t caught_up = Count(cluster.ParticipantLog("view"), "caught up:");
  ASSERT_TRUE(cluster.RestartParticipant("view", {}));
  ASSERT_TRUE(PollUntil(
      [&] {
        return Count(cluster.ParticipantLog("view"), "caught up:") > caught_up;
      },
      kCatchUp));
  EXPECT_EQ(ViewSnapshot(cluster), before);

  // The view as it was after the first 10 sagas (say, restored from a
  // backup), while the outbox has pruned their messages.
  cluster.StopParticipant("view");
  SetViewPosition(cluster, first_position);
  {
    pqxx::connection connection(cluster.orchestrator_dsn());
    pqxx::work tx(connection);
    for (const Started& saga : first) {
      tx.exec_params("DELETE FROM outbox WHERE saga_id = $1", saga.saga_id);
    }
    tx.commit();
  }
  {
    std::string log = cluster.log_dir() + "/view-out-of-range.log";
    ChildProcess view(
        {BinaryPath("saga-bookings-view"), "--listen",
         "127.0.0.1:" + std::to_string(FreePort()), "--db",
         cluster.database("view").dsn(), "--migrations",
         SourcePath("migrations/bookings_view"), "--orchestrator",
         "127.0.0.1:" + std::to_string(cluster.orchestrator_port()),
         "--saga-type", kFast},
        {}, log);
    int status = view.Wait();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), kExitCannotCatchUp);
    std::ifstream file(log);
    std::string text((std::istreambuf_iterator<char>(file)),
                     std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("OUT_OF_RANGE"), std::string::npos) << text;
    EXPECT_NE(text.find("--rebuild"), std::string::npos) << text;
  }
  EXPECT_EQ(ViewPosition(cluster), first_position);  // nothing skipped

  ASSERT_TRUE(cluster.RestartParticipant("view", {"--rebuild"}));
  std::vector<Started> kept(all.begin() + 10, all.end());
  ExpectViewAgrees(cluster, kept);
  std::map<std::string, ViewRow> rows = ViewRows(cluster);
  EXPECT_EQ(rows.size(), kept.size());  // the pruned sagas are gone
}

}  // namespace
}  // namespace saga::testing
