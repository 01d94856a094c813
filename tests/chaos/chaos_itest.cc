// Chaos soak (the README's "Guarantees" 1-3 and 5, under faults). Sagas are
// started in rounds on two orchestrator instances while everything fails
// around them:
//  - every participant fails a share of its calls with a retryable error,
//    and each restart of one draws its mode: normal (20% failures), slow
//    (latencies drawn per call, a share of them past the steps' timeout,
//    whose calls the participant rolls back) or half-failing (50%);
//  - participants are SIGKILLed and restarted, and once one stays down for
//    tens of seconds while sagas keep arriving;
//  - an orchestrator instance is SIGKILLed and restarted every round, and
//    once an instance is paused (SIGSTOP) until the other has taken all its
//    sagas over, then woken up: it must send no call for them;
//  - cancels race every step, the pivot included (most are refused once
//    the pivot was called);
//  - one saga in five waits for a signal (then a delay) before the pivot;
//    the signal races the saga's start, its wait and its cancel;
//  - one saga in five charges the consultation through saga-payment, which
//    accepts the charge and completes it later (CompleteStep) at a moment
//    of its own per charge, racing kills, pauses, cancels and the wait's
//    timeout; saga-payment is restarted and taken down like the others,
//    and its charges must agree with the sagas too;
//  - one saga in five makes its reservation through a child saga, which the
//    parent starts, waits for, and rolls back when its own emails give up
//    or a cancel comes; the child's effects count as its parent's;
//  - PostgreSQL, which holds every database, is crash-restarted once.
// At the end every saga must be terminal, the participants' databases must
// agree with it, no effect may have happened twice and no instance may have
// called a participant for a saga another instance drove:
//   sagas=N lost=0 duplicate_effects=0 inconsistent=0 zombie_calls=0
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
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/consistency.h"
#include "tests/integration/zombie_calls.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kSagaType[] = "appointment_booking_chaos";
// One saga in five waits for a signal, then a delay, before the pivot.
constexpr char kApprovalSagaType[] = "appointment_booking_chaos_approval";
constexpr int kApprovalEvery = 5;
// Another one in five charges the consultation asynchronously; one charge
// in eight of those is above saga-payment's limit and declined.
constexpr char kPaymentSagaType[] = "appointment_booking_chaos_payment";
constexpr int kPaymentEvery = 5;
constexpr int kDeclinedEvery = 40;
constexpr int kDeclinedCents = 250000;  // saga-payment declines > 100000
// A charge settles (and is reported) at a moment drawn per charge within
// this long after saga-payment accepted it.
constexpr int kSettleWithinMs = 1500;
// Another one in five reserves the doctor through a child saga.
constexpr char kChildSagaType[] = "appointment_booking_chaos_child";
constexpr int kChildEvery = 5;
constexpr double kFailRate = 0.2;
constexpr int kDefaultSagas = 400;
constexpr size_t kInstances = 2;
constexpr int kLeaseTtlMs = 3000;
// A share of the sagas gets a cancel, at a random moment within this long
// after its start: early ones meet the first steps, late ones the pivot.
constexpr int kCancelPercent = 15;
constexpr int kCancelWithinMs = 1500;
// An approval saga gets its signal at a random moment within this long after
// its start: before it waits (kept), or while it waits.
constexpr int kSignalWithinMs = 1500;
// A signal refused for a passing reason (an instance down or restarting,
// or driving the saga) is sent again this many times, this far apart.
constexpr int kSignalTries = 40;
constexpr milliseconds kSignalRetryDelay{300};
// How long the paused instance's sagas may take to move to the other.
constexpr milliseconds kTakeoverDeadline{30000};
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
  std::string type = kSagaType;
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
  if (i % kApprovalEvery == 2) booking.type = kApprovalSagaType;
  if (i % kChildEvery == 1) booking.type = kChildSagaType;
  if (i % kPaymentEvery == 4) {
    booking.type = kPaymentSagaType;
    const bool declined = i % kDeclinedEvery == kDeclinedEvery - 1;
    if (declined) booking.valid = false;
    booking.input.pop_back();
    booking.input += ",\"amount_cents\":" +
                     std::to_string(declined ? kDeclinedCents : 4500) + "}";
  }
  return booking;
}

// Sends the cancels and the approval signals on a thread of its own, each
// at its due time, to an instance that is not paused, over channels of its
// own (TestCluster is single-threaded). Counts what the orchestrator
// answered.
class RacingCalls {
 public:
  explicit RacingCalls(TestCluster& cluster) {
    for (size_t i = 0; i < kInstances; ++i) {
      stubs_.push_back(saga::v1::SagaOrchestrator::NewStub(grpc::CreateChannel(
          "127.0.0.1:" + std::to_string(cluster.orchestrator_port(i)),
          cluster.ClientCredentials())));
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~RacingCalls() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void Schedule(const std::string& saga_id, Clock::time_point due) {
    Add({due, saga_id, 0});
  }
  // The approval signal of an approval saga.
  void ScheduleSignal(const std::string& saga_id, Clock::time_point due) {
    Add({due, saga_id, kSignalTries});
  }
  // Cancels go to the other instance while `instance` is paused (-1: none).
  void Avoid(int instance) { avoid_ = instance; }

  std::string Counters() {
    std::lock_guard lock(mu_);
    return "cancels=" + std::to_string(sent_) +
           " (accepted=" + std::to_string(accepted_) +
           " refused=" + std::to_string(refused_) +
           ") signals=" + std::to_string(signals_) +
           " (accepted=" + std::to_string(signals_accepted_) +
           " given_up=" + std::to_string(signals_given_up_) + ")";
  }

 private:
  struct Due {
    Clock::time_point at;
    std::string saga_id;
    int signal_tries_left = 0;  // 0: a cancel
    bool operator>(const Due& other) const { return at > other.at; }
  };

  void Add(Due due) {
    {
      std::lock_guard lock(mu_);
      due_.push(std::move(due));
    }
    wake_.notify_all();
  }

  void Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (due_.empty()) {
        wake_.wait(lock);
        continue;
      }
      if (Clock::now() < due_.top().at) {
        wake_.wait_until(lock, due_.top().at);
        continue;
      }
      Due due = due_.top();
      due_.pop();
      lock.unlock();
      const bool signal = due.signal_tries_left > 0;
      const grpc::StatusCode code =
          signal ? Signal(due.saga_id) : Cancel(due.saga_id);
      lock.lock();
      if (!signal) {
        ++sent_;
        if (code == grpc::StatusCode::OK) ++accepted_;
        if (code == grpc::StatusCode::FAILED_PRECONDITION) ++refused_;
        continue;
      }
      ++signals_;
      if (code == grpc::StatusCode::OK) {
        ++signals_accepted_;
      } else if (--due.signal_tries_left == 0) {
        // The saga was cancelled or ended meanwhile, or the instances
        // stayed away: its wait times out and it rolls back.
        ++signals_given_up_;
      } else {
        due.at = Clock::now() + kSignalRetryDelay;
        due_.push(std::move(due));
      }
    }
  }

  size_t NextInstance() {
    const int avoid = avoid_.load();
    size_t instance = next_++ % kInstances;
    if (static_cast<int>(instance) == avoid) {
      instance = (instance + 1) % kInstances;
    }
    return instance;
  }

  grpc::StatusCode Cancel(const std::string& saga_id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    saga::v1::CancelSagaRequest request;
    request.set_saga_id(saga_id);
    request.set_reason("chaos: the patient changed plans");
    saga::v1::CancelSagaResponse response;
    return stubs_[NextInstance()]
        ->CancelSaga(&context, request, &response)
        .error_code();
  }

  // The same key every time: a resend after an unknown outcome is harmless.
  grpc::StatusCode Signal(const std::string& saga_id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    saga::v1::SignalSagaRequest request;
    request.set_saga_id(saga_id);
    request.set_name("approval");
    request.set_payload_json(R"({"approved_by":"chaos"})");
    request.set_idempotency_key("chaos-approval-" + saga_id);
    saga::v1::SignalSagaResponse response;
    return stubs_[NextInstance()]
        ->SignalSaga(&context, request, &response)
        .error_code();
  }

  std::vector<std::unique_ptr<saga::v1::SagaOrchestrator::Stub>> stubs_;
  std::atomic<int> avoid_{-1};
  size_t next_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  bool stopping_ = false;
  int sent_ = 0;
  int accepted_ = 0;
  int refused_ = 0;
  int signals_ = 0;
  int signals_accepted_ = 0;
  int signals_given_up_ = 0;
  std::thread thread_;
};

class ChaosSoak {
 public:
  ChaosSoak(TestCluster& cluster, uint64_t seed)
      : cluster_(cluster), random_(seed) {}

  // Participant flags for a restart, in a mode drawn at random: normal (20%
  // retryable failures, a little latency), slow (each call's latency drawn
  // from 100ms to 1.6s, so about a third outlast the steps' 1s timeout) or
  // half-failing (50% retryable failures); saga-payment's settle delays
  // in every mode.
  std::vector<std::string> ParticipantFlags(const std::string& name) {
    const int mode = Uniform(0, 9);
    std::vector<std::string> flags;
    if (mode < 3) {
      ++slow_;
      flags = {"--fail-rate", "*=" + std::to_string(kFailRate), "--latency-ms",
               "*=100-1600"};
    } else if (mode < 5) {
      ++half_failing_;
      flags = {"--fail-rate", "*=0.5", "--latency-ms", "*=0-20"};
    } else {
      flags = {"--fail-rate", "*=" + std::to_string(kFailRate), "--latency-ms",
               "*=0-20"};
    }
    if (name == "payment") {
      const std::vector<std::string> settle = SettleFlags();
      flags.insert(flags.end(), settle.begin(), settle.end());
    }
    return flags;
  }

  static std::vector<std::string> SettleFlags() {
    return {"--settle-after-ms", "0", "--settle-jitter-ms",
            std::to_string(kSettleWithinMs)};
  }

  // StartSaga with the saga's idempotency key, retried through restarts
  // until acknowledged: a retry after an unknown outcome gets the same saga.
  // "" (and a test failure) if it never is.
  std::string Start(int i, const Booking& booking) {
    std::string id;
    grpc::Status last;
    bool retryable = true;
    size_t instance = static_cast<size_t>(i) % kInstances;
    PollUntil(
        [&] {
          // Round-robin over the instances, never to a paused one; a
          // retry goes to the other instance.
          if (static_cast<int>(instance) == paused_) {
            instance = (instance + 1) % kInstances;
          }
          cluster_.UseOrchestrator(instance);
          instance = (instance + 1) % kInstances;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(10));
          context.set_wait_for_ready(true);
          saga::v1::StartSagaRequest request;
          request.set_saga_type(booking.type);
          request.set_input_json(booking.input);
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
  int64_t InFlight() { return CountUnfinished(""); }

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
    const size_t instance = static_cast<size_t>(Uniform(0, kInstances - 1));
    cluster_.KillOrchestrator(SIGKILL, instance);
    ++kills_;
    ASSERT_TRUE(cluster_.StartOrchestrator({}, instance));
  }

  // Restarts a participant other than the one that is down.
  void RestartRandomParticipant() {
    const std::string name = RandomParticipant();
    if (name == down_) return;
    ASSERT_TRUE(cluster_.RestartParticipant(name, ParticipantFlags(name)));
    ++participant_restarts_;
  }

  // A participant goes down for 10-20s; sagas keep arriving meanwhile.
  void TakeAParticipantDown() {
    down_ = RandomParticipant();
    up_again_ = Clock::now() + milliseconds(Uniform(10000, 20000));
    std::cout << "[ chaos    ] " << down_ << " down for "
              << std::chrono::duration_cast<milliseconds>(up_again_ -
                                                          Clock::now())
                     .count()
              << " ms" << std::endl;
    cluster_.StopParticipant(down_);
    ++outages_;
  }
  // Brings the participant that is down back once its time is up (or now,
  // with `now`).
  void MaybeBringItBack(bool now = false) {
    if (down_.empty() || (!now && Clock::now() < up_again_)) return;
    ASSERT_TRUE(cluster_.RestartParticipant(down_, ParticipantFlags(down_)));
    down_.clear();
  }

  // Pauses an instance until the other has taken every saga it held over,
  // then wakes it: a zombie whose calls the participants would see.
  void PauseAnInstancePastItsLeases(RacingCalls& racing_calls) {
    const size_t instance = static_cast<size_t>(Uniform(0, kInstances - 1));
    const std::string id = TestCluster::InstanceId(instance);
    paused_ = static_cast<int>(instance);
    racing_calls.Avoid(paused_);
    cluster_.SignalOrchestrator(SIGSTOP, instance);
    const auto paused_at = Clock::now();
    const bool taken_over =
        PollUntil([&] { return LeasedTo(id) == 0; }, kTakeoverDeadline);
    std::cout << "[ chaos    ] " << id << " paused for "
              << std::chrono::duration_cast<milliseconds>(Clock::now() -
                                                          paused_at)
                     .count()
              << " ms" << (taken_over ? "; its sagas were taken over" : "")
              << std::endl;
    EXPECT_TRUE(taken_over) << id << "'s sagas were not taken over";
    cluster_.SignalOrchestrator(SIGCONT, instance);
    paused_ = -1;
    racing_calls.Avoid(-1);
    ++pauses_;
  }

  // Unfinished sagas leased to `instance`, or -1 while the database is
  // unreachable.
  int64_t LeasedTo(const std::string& instance) {
    return CountUnfinished(instance);
  }

  // Unfinished sagas leased to `owner` ("": to anyone, or none), or -1
  // while the orchestrator's database is unreachable (it restarts during
  // the soak).
  int64_t CountUnfinished(const std::string& owner) {
    try {
      if (!db_) {
        db_ = std::make_unique<pqxx::connection>(
            cluster_.database("orchestrator").dsn());
      }
      pqxx::nontransaction tx(*db_);
      return tx
          .exec_params1(
              "SELECT count(*) FROM sagas WHERE status IN ('RUNNING', "
              "'COMPENSATING') AND ($1 = '' OR lease_owner = $1)",
              owner)[0]
          .as<int64_t>();
    } catch (const std::exception&) {
      db_.reset();
      return -1;
    }
  }

  int Uniform(int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(random_);
  }

  std::string RandomParticipant() {
    const std::vector<std::string>& names = cluster_.ParticipantNames();
    return names[Uniform(0, static_cast<int>(names.size()) - 1)];
  }

  std::string Counters() const {
    return "orchestrator_kills=" + std::to_string(kills_) +
           " participant_restarts=" + std::to_string(participant_restarts_) +
           " (slow=" + std::to_string(slow_) +
           " half_failing=" + std::to_string(half_failing_) +
           ") participant_outages=" + std::to_string(outages_) +
           " instance_pauses=" + std::to_string(pauses_) +
           " start_retries=" + std::to_string(start_retries_);
  }

 private:
  TestCluster& cluster_;
  std::mt19937_64 random_;
  std::unique_ptr<pqxx::connection> db_;
  // The participant that is down until up_again_ ("" when none), and the
  // paused instance (-1 when none).
  std::string down_;
  Clock::time_point up_again_;
  int paused_ = -1;
  int kills_ = 0;
  int participant_restarts_ = 0;
  int slow_ = 0;
  int half_failing_ = 0;
  int outages_ = 0;
  int pauses_ = 0;
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
  options.orchestrators = kInstances;
  options.orchestrator_flags = {"--lease-ttl-ms", std::to_string(kLeaseTtlMs),
                                "--claim-interval-ms", "300"};
  options.participants.push_back(PaymentParticipant());
  for (const auto& participant : options.participants) {
    options.participant_flags[participant.name] = {
        "--fail-rate", "*=" + std::to_string(kFailRate), "--latency-ms", "*=5"};
  }
  for (const std::string& flag : ChaosSoak::SettleFlags()) {
    options.participant_flags["payment"].push_back(flag);
  }
  auto cluster = std::make_unique<TestCluster>(options);
  ASSERT_TRUE(cluster->Start());
  ChaosSoak soak(*cluster, seed);
  auto racing_calls = std::make_unique<RacingCalls>(*cluster);

  std::vector<std::string> ids;
  std::vector<bool> valid;
  int payment_sagas = 0;
  int child_sagas = 0;
  bool postgres_restarted = false;
  bool outage_done = false;
  bool pause_done = false;
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
      std::string id = soak.Start(i, booking);
      ASSERT_FALSE(id.empty()) << "saga " << i;
      if (booking.type == kApprovalSagaType) {
        racing_calls->ScheduleSignal(
            id, Clock::now() + milliseconds(soak.Uniform(0, kSignalWithinMs)));
      }
      if (soak.Uniform(1, 100) <= kCancelPercent) {
        racing_calls->Schedule(
            id, Clock::now() + milliseconds(soak.Uniform(0, kCancelWithinMs)));
      }
      if (booking.type == kPaymentSagaType) ++payment_sagas;
      if (booking.type == kChildSagaType) ++child_sagas;
      ids.push_back(std::move(id));
      valid.push_back(booking.valid);
    }
    if (postgres_restart.valid()) {
      ASSERT_TRUE(postgres_restart.get());
    }
    soak.DrainTo(soak.Uniform(0, batch / 2));
    ASSERT_NO_FATAL_FAILURE(soak.MaybeBringItBack());
    if (!outage_done && ids.size() * 10 >= sagas * 2u) {
      soak.TakeAParticipantDown();
      outage_done = true;
    } else if (!pause_done && ids.size() * 10 >= sagas * 6u) {
      ASSERT_NO_FATAL_FAILURE(soak.PauseAnInstancePastItsLeases(*racing_calls));
      pause_done = true;
    } else {
      ASSERT_NO_FATAL_FAILURE(soak.RestartRandomParticipant());
      ASSERT_NO_FATAL_FAILURE(soak.KillOrchestrator());
    }
  }
  ASSERT_NO_FATAL_FAILURE(soak.MaybeBringItBack(/*now=*/true));
  EXPECT_TRUE(postgres_restarted);
  EXPECT_TRUE(outage_done);
  EXPECT_TRUE(pause_done);

  cluster->UseOrchestrator(0);
  ConsistencyReport report =
      CheckConsistency(*cluster, ids, kAllTerminalDeadline);
  const std::string cancels = racing_calls->Counters();
  racing_calls.reset();
  const std::vector<ParticipantCall> zombies = ZombieCalls(*cluster);
  for (const auto& call : zombies) {
    ADD_FAILURE() << "zombie call: " << call.line;
  }
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
    if (soak.Start(static_cast<int>(i), MakeBooking(static_cast<int>(i))) !=
        ids[i]) {
      ++replayed_differently;
    }
  }
  EXPECT_EQ(replayed_differently, 0);

  const auto seconds =
      std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[ chaos    ] " << report.StatusCounts() << "; "
            << soak.Counters() << " " << cancels
            << " async_charges=" << payment_sagas << " (settled="
            << cluster->QueryInt("payment",
                                 "SELECT count(*) FROM charges "
                                 "WHERE status = 'settled'")
            << ") with_child_saga=" << child_sagas
            << " postgres_restarts=1 seconds=" << seconds << std::endl;
  std::cout << report.Line() << " zombie_calls=" << zombies.size()
            << " seed=" << seed << std::endl;
  EXPECT_EQ(report.sagas, sagas);
  EXPECT_EQ(report.lost, 0);
  EXPECT_EQ(report.duplicate_effects, 0);
  EXPECT_EQ(report.inconsistent, 0);
}

}  // namespace
}  // namespace saga::testing
