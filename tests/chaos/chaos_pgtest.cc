// Chaos soak (DESIGN.md invariants 1-3 under faults). Sagas are started in
// rounds while everything fails around them: every participant fails 20% of
// its calls with a retryable error and is slow at times (latency spikes),
// participants are SIGKILLed and restarted, the orchestrator is SIGKILLed
// and restarted every round (every few seconds), and PostgreSQL, which
// holds the orchestrator's and every participant's database, is crash-
// restarted once. At the end every saga must be terminal, the participants'
// databases must agree with it and no effect may have happened twice:
//   sagas=N lost=0 duplicate_effects=0 inconsistent=0
//
// Environment:
//   SAGA_CHAOS_SAGAS  sagas to run (default 400, the short form; the long
//                     form is 2000 or more)
//   SAGA_CHAOS_SEED   seed of every random choice (default: from the clock);
//                     printed, so a failing run can be replayed
//
// The test starts its own PostgreSQL cluster (scripts/pg.sh) so that
// restarting it disturbs no other test.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/consistency.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kSagaType[] = "appointment_booking_chaos";
constexpr double kFailRate = 0.2;
constexpr int kDefaultSagas = 400;
// How long one StartSaga may keep being retried (orchestrator or database
// restarting) before the test gives up on it.
constexpr milliseconds kStartDeadline{60000};
// How long a round waits for sagas in flight to drain to its target.
constexpr milliseconds kRoundDrainTimeout{8000};
constexpr milliseconds kAllTerminalDeadline{300000};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value == nullptr || *value == '\0' ? fallback
                                            : std::strtoll(value, nullptr, 10);
}

// A PostgreSQL cluster of the test's own (scripts/pg.sh), which the test may
// crash-restart. Sets SAGA_TEST_ADMIN_DSN for this process so TestCluster
// creates its databases there. Stopped and removed in the destructor.
class PrivatePostgres {
 public:
  PrivatePostgres() {
    char dir[] = "/tmp/saga-chaos-pg.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    dir_ = dir;
    // fsync off: the test kills PostgreSQL processes, not the machine, and
    // the WAL written before each commit is replayed from the OS cache.
    if (!Run("PG_FSYNC=off " + PgSh() + " start " + dir_)) return;
    std::ifstream env(dir_ + "/env");
    const std::string prefix = "export SAGA_TEST_ADMIN_DSN='";
    for (std::string line; std::getline(env, line);) {
      if (line.rfind(prefix, 0) == 0 && line.back() == '\'') {
        dsn_ = line.substr(prefix.size(), line.size() - prefix.size() - 1);
      }
    }
    if (dsn_.empty()) {
      ADD_FAILURE() << "no SAGA_TEST_ADMIN_DSN in " << dir_ << "/env";
      return;
    }
    setenv("SAGA_TEST_ADMIN_DSN", dsn_.c_str(), /*overwrite=*/1);
  }

  ~PrivatePostgres() {
    if (dir_.empty()) return;
    Run(PgSh() + " stop " + dir_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool ok() const { return !dsn_.empty(); }
  // Immediate shutdown (a crash to PostgreSQL) and start on the same port.
  bool CrashRestart() { return Run(PgSh() + " restart " + dir_); }

 private:
  static std::string PgSh() { return SourcePath("scripts/pg.sh"); }

  static bool Run(const std::string& command) {
    const int status = std::system((command + " >/dev/null").c_str());
    if (status != 0) {
      ADD_FAILURE() << "`" << command << "` failed with status " << status;
      return false;
    }
    return true;
  }

  std::string dir_;
  std::string dsn_;
};

// Booking inputs: mostly valid, some refused by the participants (an
// inactive patient, an unknown specialty), over 90 days and every doctor
// so no doctor's day fills up.
struct Booking {
  std::string input;
  bool valid = true;
};

Booking MakeBooking(int i) {
  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  std::string patient = kPatients[i % kPatients.size()];
  std::string specialty = kSpecialties[i % kSpecialties.size()];
  Booking booking;
  if (i % 20 == 3) {
    patient = "p-1003";  // inactive
    booking.valid = false;
  } else if (i % 20 == 11) {
    specialty = "astrology";
    booking.valid = false;
  }
  const int day = i % 90;  // 2026-12-01 .. 2027-02-28
  char date[16];
  if (day < 31) {
    std::snprintf(date, sizeof(date), "2026-12-%02d", day + 1);
  } else if (day < 62) {
    std::snprintf(date, sizeof(date), "2027-01-%02d", day - 30);
  } else {
    std::snprintf(date, sizeof(date), "2027-02-%02d", day - 61);
  }
  booking.input = BookingInput(patient, date, specialty);
  return booking;
}

class ChaosSoak {
 public:
  ChaosSoak(TestCluster& cluster, uint64_t seed)
      : cluster_(cluster), random_(seed) {}

  // Participant flags: 20% retryable failures, and either a little latency
  // or a spike (still under the steps' 5s timeout).
  std::vector<std::string> ParticipantFlags() {
    const bool spike = Uniform(0, 9) < 3;
    const int latency = spike ? Uniform(300, 1500) : Uniform(0, 20);
    spikes_ += spike ? 1 : 0;
    return {"--fail-rate", "*=" + std::to_string(kFailRate), "--latency-ms",
            "*=" + std::to_string(latency)};
  }

  // StartSaga with the saga's idempotency key, retried through restarts
  // until acknowledged: a retry after an unknown outcome gets the same saga.
  // "" (and a test failure) if it never is.
  std::string Start(int i, const std::string& input) {
    std::string id;
    grpc::Status last;
    bool retryable = true;
    PollUntil(
        [&] {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(10));
          context.set_wait_for_ready(true);
          saga::v1::StartSagaRequest request;
          request.set_saga_type(kSagaType);
          request.set_input_json(input);
          request.set_idempotency_key("chaos-" + std::to_string(i));
          saga::v1::StartSagaResponse response;
          last = cluster_.Stub().StartSaga(&context, request, &response);
          if (last.ok()) {
            id = response.saga_id();
            return true;
          }
          ++start_retries_;
          const auto code = last.error_code();
          retryable = code == grpc::StatusCode::UNAVAILABLE ||
                      code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                      code == grpc::StatusCode::UNKNOWN ||
                      code == grpc::StatusCode::INTERNAL;
          return !retryable;
        },
        kStartDeadline);
    if (id.empty()) {
      ADD_FAILURE() << "StartSaga " << i << " never acknowledged"
                    << (retryable ? "" : " (not retryable)") << ": "
                    << last.error_code() << " " << last.error_message();
    }
    return id;
  }

  // Sagas recorded but not ended, or -1 while the database is unreachable.
  int64_t InFlight() {
    try {
      if (!db_) {
        db_ = std::make_unique<pqxx::connection>(
            cluster_.database("orchestrator").dsn());
      }
      pqxx::nontransaction tx(*db_);
      return tx
          .exec1(
              "SELECT count(*) FROM sagas WHERE status IN "
              "('RUNNING', 'COMPENSATING')")[0]
          .as<int64_t>();
    } catch (const std::exception&) {
      db_.reset();
      return -1;
    }
  }

  // Waits until at most `target` sagas are in flight (or the round's time
  // is up), so the next fault hits sagas mid-way.
  void DrainTo(int64_t target) {
    PollUntil(
        [&] {
          const int64_t in_flight = InFlight();
          return in_flight >= 0 && in_flight <= target;
        },
        kRoundDrainTimeout);
  }

  void KillOrchestrator() {
    cluster_.KillOrchestrator(SIGKILL);
    ++kills_;
    ASSERT_TRUE(cluster_.StartOrchestrator());
  }

  void RestartRandomParticipant() {
    const std::string& name = kParticipants[Uniform(0, 2)];
    ASSERT_TRUE(cluster_.RestartParticipant(name, ParticipantFlags()));
    ++participant_restarts_;
  }

  int Uniform(int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(random_);
  }

  std::string Counters() const {
    return "orchestrator_kills=" + std::to_string(kills_) +
           " participant_restarts=" + std::to_string(participant_restarts_) +
           " latency_spikes=" + std::to_string(spikes_) +
           " start_retries=" + std::to_string(start_retries_);
  }

 private:
  TestCluster& cluster_;
  std::mt19937_64 random_;
  std::unique_ptr<pqxx::connection> db_;
  int kills_ = 0;
  int participant_restarts_ = 0;
  int spikes_ = 0;
  int start_retries_ = 0;
};

TEST(ChaosTest, EverySagaEndsConsistentlyUnderFaults) {
  const int sagas = static_cast<int>(EnvInt("SAGA_CHAOS_SAGAS", kDefaultSagas));
  const uint64_t seed = static_cast<uint64_t>(EnvInt(
      "SAGA_CHAOS_SEED", Clock::now().time_since_epoch().count() % 1000000007));
  std::cout << "[ chaos    ] seed=" << seed << " sagas=" << sagas
            << " (replay with SAGA_CHAOS_SEED=" << seed
            << " SAGA_CHAOS_SAGAS=" << sagas << ")" << std::endl;
  ASSERT_GT(sagas, 0);
  const auto started = Clock::now();

  PrivatePostgres postgres;
  ASSERT_TRUE(postgres.ok());
  ClusterOptions options;
  options.definitions_dir = SourcePath("tests/chaos/sagas");
  for (const auto& name : kParticipants) {
    options.participant_flags[name] = {
        "--fail-rate", "*=" + std::to_string(kFailRate), "--latency-ms", "*=5"};
  }
  auto cluster = std::make_unique<TestCluster>(options);
  ASSERT_TRUE(cluster->Start());
  ChaosSoak soak(*cluster, seed);

  std::vector<std::string> ids;
  std::vector<bool> valid;
  bool postgres_restarted = false;
  while (static_cast<int>(ids.size()) < sagas) {
    // A round: a batch of sagas, a partial drain, then faults. Once, past
    // 40%, PostgreSQL crash-restarts half-way through a batch: with sagas
    // in flight and more being started, whose StartSaga calls fail and are
    // retried until acknowledged.
    const int batch = soak.Uniform(20, 60);
    const bool restart_round =
        !postgres_restarted && ids.size() * 10 >= sagas * 4u;
    std::future<bool> postgres_restart;
    const auto restarting = [&postgres_restart] {
      return postgres_restart.valid() &&
             postgres_restart.wait_for(std::chrono::seconds(0)) !=
                 std::future_status::ready;
    };
    for (int k = 0;
         (k < batch || restarting()) && static_cast<int>(ids.size()) < sagas;
         ++k) {
      if (restart_round && k == batch / 2) {
        std::cout << "[ chaos    ] restarting PostgreSQL (immediate) with "
                  << soak.InFlight() << " sagas in flight" << std::endl;
        postgres_restart = std::async(std::launch::async, [&postgres] {
          return postgres.CrashRestart();
        });
        postgres_restarted = true;
      }
      const int i = static_cast<int>(ids.size());
      const Booking booking = MakeBooking(i);
      std::string id = soak.Start(i, booking.input);
      ASSERT_FALSE(id.empty()) << "saga " << i;
      ids.push_back(std::move(id));
      valid.push_back(booking.valid);
    }
    if (postgres_restart.valid()) {
      ASSERT_TRUE(postgres_restart.get());
    }
    soak.DrainTo(soak.Uniform(0, batch / 2));
    ASSERT_NO_FATAL_FAILURE(soak.RestartRandomParticipant());
    ASSERT_NO_FATAL_FAILURE(soak.KillOrchestrator());
  }
  EXPECT_TRUE(postgres_restarted);

  ConsistencyReport report =
      CheckConsistency(*cluster, ids, kAllTerminalDeadline);
  for (const auto& problem : report.problems) ADD_FAILURE() << problem;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = report.final.find(ids[i]);
    if (!valid[i] && it != report.final.end()) {
      EXPECT_EQ(it->second.status(), saga::v1::SAGA_STATUS_COMPENSATED)
          << "a booking the participants refuse: " << DescribeSaga(it->second);
    }
  }

  // Idempotency keys survived every restart: retrying a start returns the
  // same saga and creates nothing.
  int replayed_differently = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (soak.Start(static_cast<int>(i),
                   MakeBooking(static_cast<int>(i)).input) != ids[i]) {
      ++replayed_differently;
    }
  }
  EXPECT_EQ(replayed_differently, 0);

  const auto seconds =
      std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ chaos    ] " << report.StatusCounts() << "; "
            << soak.Counters() << " postgres_restarts=1 seconds=" << seconds
            << std::endl;
  std::cout << report.Line() << std::endl;
  EXPECT_EQ(report.sagas, sagas);
  EXPECT_EQ(report.lost, 0);
  EXPECT_EQ(report.duplicate_effects, 0);
  EXPECT_EQ(report.inconsistent, 0);
}

}  // namespace
}  // namespace saga::testing
