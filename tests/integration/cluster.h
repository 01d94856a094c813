// TestCluster: a whole deployment for end-to-end tests. Fresh databases for
// the orchestrator and each participant, the participant processes (by
// default the booking saga's: saga-patient, saga-doctor, saga-email; any set
// through ClusterOptions::participants) and one or more saga-orchestrator
// instances on the one orchestrator database (instance i has the id
// "orch-<i>") loading the definitions of ClusterOptions::definitions_dir,
// each on a free port with its log in a temporary directory.
// The directory is printed
// and the logs' tails are dumped when the test fails; otherwise it is
// removed (kept if the environment variable SAGA_TEST_KEEP_LOGS is set).
// Everything is killed and dropped in the destructor.
//
// Not thread-safe: use one TestCluster from the test's main thread.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_support.h"

namespace saga::testing {

// The participants the booking saga talks to, in start order.
inline const std::vector<std::string> kParticipants = {"patient", "doctor",
                                                       "email"};

// How the cluster's processes talk to each other and to the test.
enum class Transport {
  kPlaintext,
  // Every server (orchestrator, participants) serves TLS; every client (the
  // orchestrator's participant channels, Stub()) verifies it.
  kTls,
  // kTls, and every server also requires a client certificate: the
  // orchestrator and Stub() present one.
  kMutualTls,
};

// The date saga-doctor takes as today in test clusters (unless a test
// passes its own --today): before every date the tests book, which the
// seed data (migrations/doctor/0002_seed.sql) covers from 2026-12-01.
inline constexpr char kTestToday[] = "2026-11-20";

// A participant process of a cluster: BinaryPath(binary) started with
// --listen, --db (a fresh database of its own), --migrations, --log-level
// info, TLS flags per the transport, then its default flags, then the test's.
struct ClusterParticipant {
  std::string name;        // as definitions name it (`participant: doctor`)
  std::string binary;      // e.g. "saga-doctor"
  std::string migrations;  // its migrations folder, relative to the sources
  // Flags with a value, each added unless the test's flags for this
  // participant name that flag, e.g. {"--today", kTestToday}.
  std::vector<std::pair<std::string, std::string>> default_flags;
};

// A default flag value that the cluster replaces with the addresses
// (HOST:PORT, comma-separated, instance 0 first) of its orchestrator
// instances, for participants that call the orchestrator back.
inline constexpr char kOrchestratorAddress[] = "{orchestrator}";

// saga-payment (the asynchronous payment provider), reporting to the
// cluster's orchestrator instances.
ClusterParticipant PaymentParticipant();

// The participants of the booking saga, in start order (kParticipants):
// saga-patient, saga-doctor (its today pinned to kTestToday) and saga-email.
std::vector<ClusterParticipant> BookingParticipants();

struct ClusterOptions {
  // The participant processes, started in this order.
  std::vector<ClusterParticipant> participants = BookingParticipants();
  // Extra flags per participant name, e.g. {"email", {"--fail-rate",
  // "send_notification=1"}}.
  std::map<std::string, std::vector<std::string>> participant_flags;
  // Extra flags for saga-orchestrator.
  std::vector<std::string> orchestrator_flags;
  // Where the orchestrator loads saga definitions from (every *.yaml file),
  // e.g. TestDefinitionDir("booking") or SourcePath("tests/integration/sagas");
  // empty means TestDefinitionDir("booking"), a frozen copy of the demo's
  // booking saga, so editing sagas/ never changes what these tests run.
  std::string definitions_dir;
  // Not kPlaintext: `certificates` (owned by the test, outliving the
  // cluster) provides the CA, the servers' and the clients' certificates.
  Transport transport = Transport::kPlaintext;
  const TestCertificates* certificates = nullptr;
  // Bearer token that Stub() calls made by the helpers below carry; empty:
  // none.
  std::string token;
  // Orchestrator instances sharing the orchestrator database.
  size_t orchestrators = 1;
  // The orchestrator database's DSN; empty: a fresh database on the cluster
  // of orchestrator_admin_dsn.
  std::string orchestrator_dsn;
  // Superuser DSN of the cluster for a fresh orchestrator database; empty:
  // SAGA_TEST_ADMIN_DSN.
  std::string orchestrator_admin_dsn;
  // Superuser DSN of the cluster for the participants' databases; empty:
  // SAGA_TEST_ADMIN_DSN.
  std::string participants_admin_dsn;
};

class TestCluster {
 public:
  explicit TestCluster(ClusterOptions options = {});
  ~TestCluster();
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // Starts the participants, then the orchestrators, and waits until each
  // accepts connections. On failure the message names the process and its
  // log file.
  ::testing::AssertionResult Start();

  // A stub on the orchestrator instance that client calls go to (see
  // UseOrchestrator), or on instance `instance`. Replaced by
  // StartOrchestrator(), so do not keep the reference across a restart.
  saga::v1::SagaOrchestrator::Stub& Stub();
  // What Stub() connects with (TLS per the options' transport), for tests
  // that make channels of their own.
  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials() const;
  saga::v1::SagaOrchestrator::Stub& Stub(size_t instance);
  // Sends this class's client calls (StartSaga, GetSaga, AwaitTerminal, ...)
  // to orchestrator instance `instance` from now on (initially 0).
  void UseOrchestrator(size_t instance) { client_instance_ = instance; }

  // Sends `signal` to an orchestrator instance and reaps it.
  void KillOrchestrator(int signal = SIGKILL, size_t instance = 0);
  // Sends `signal` (e.g. SIGSTOP, SIGCONT, SIGTERM) without waiting.
  void SignalOrchestrator(int signal, size_t instance = 0);
  // Starts an orchestrator instance again on the same port, id and
  // database, with `extra_env` ("NAME=value") added to its environment.
  ::testing::AssertionResult StartOrchestrator(
      const std::vector<std::string>& extra_env = {}, size_t instance = 0);
  // Whether the instance exited (and was reaped) within `timeout`; its
  // wait status goes to `status` when given.
  bool OrchestratorExited(std::chrono::milliseconds timeout,
                          size_t instance = 0, int* status = nullptr);
  // "orch-<instance>", the instance's --instance-id.
  static std::string InstanceId(size_t instance);
  // The instance's log so far.
  std::string OrchestratorLog(size_t instance = 0) const;
  // Participant `name`'s log so far (every start appends to it).
  std::string ParticipantLog(const std::string& name) const;
  // The participants' names, in start order.
  const std::vector<std::string>& ParticipantNames() const {
    return participant_order_;
  }
  // Kills (SIGKILL) participant `name`: its port refuses connections until
  // RestartParticipant.
  void StopParticipant(const std::string& name);
  // Kills (SIGKILL) and starts participant `name` on the same port and
  // database with `flags` instead of the options' flags.
  ::testing::AssertionResult RestartParticipant(
      const std::string& name, const std::vector<std::string>& flags);

  // StartSaga; fails the test (ADD_FAILURE) and returns "" on error.
  std::string StartSaga(const std::string& saga_type,
                        const std::string& input_json,
                        const std::string& idempotency_key = "");
  // GetSaga; fails the test and returns an empty Saga on error.
  saga::v1::Saga GetSaga(const std::string& saga_id);
  // Event types of the saga's history, in order.
  std::vector<std::string> HistoryTypes(const std::string& saga_id);
  std::vector<saga::v1::SagaEvent> History(const std::string& saga_id);

  // Waits with AwaitSaga (retrying while the orchestrator is unreachable)
  // until the saga is COMPLETED, COMPENSATED or FAILED, and returns it as
  // last seen (check its status: it may still be running on timeout).
  saga::v1::Saga AwaitTerminal(const std::string& saga_id,
                               std::chrono::milliseconds timeout);

  // Participant database probes (of the booking participants).
  int ActiveReservations(const std::string& saga_id);
  int AllReservations(const std::string& saga_id);
  int Mails(const std::string& saga_id);
  // Saga ids that appear in the doctor's reservations / the email log.
  std::set<std::string> ReservationSagaIds();
  std::set<std::string> MailSagaIds();
  // Runs a query returning one integer against a participant's database.
  int64_t QueryInt(const std::string& participant, const std::string& sql);
  // The same with one parameter ($1).
  int64_t QueryInt(const std::string& participant, const std::string& sql,
                   const std::string& param);

  // Checks invariant 3 for a saga the test believes has ended:
  //   COMPLETED   -> exactly one active reservation and exactly two mails;
  //   COMPENSATED -> no active reservation and no mail (the pivot never
  //                  succeeded, so nothing was sent);
  //   and, with saga-payment in the cluster, for a saga with a `charge`
  //   step: at most one charge, settled if and only if COMPLETED, none
  //   pending;
  //   FAILED / still running -> a test failure with the saga's error.
  // Failures are non-fatal (EXPECT) and name the saga.
  // `reservations_of`: the saga whose reservation counts (a child saga's,
  // for a parent whose hold is a child); empty: the saga's own.
  void ExpectParticipantsAgree(const saga::v1::Saga& saga,
                               const std::string& reservations_of = "");

  int orchestrator_port(size_t instance = 0) const {
    return orchestrators_.at(instance).port;
  }
  const std::string& orchestrator_dsn() const { return orchestrator_dsn_; }
  int participant_port(const std::string& name) const {
    return participants_.at(name).port;
  }
  const std::string& log_dir() const { return log_dir_; }
  // The database of "orchestrator" or of a participant. REQUIRES: for
  // "orchestrator", that no orchestrator_dsn was given (then use
  // orchestrator_dsn()).
  const TestDatabase& database(const std::string& name) const;

 private:
  struct Participant {
    ClusterParticipant spec;
    std::unique_ptr<TestDatabase> db;
    int port = 0;
    std::vector<std::string> flags;
    std::unique_ptr<ChildProcess> process;
  };

  struct Orchestrator {
    int port = 0;
    std::unique_ptr<ChildProcess> process;
    int starts = 0;
    std::unique_ptr<saga::v1::SagaOrchestrator::Stub> stub;
  };

  ::testing::AssertionResult StartParticipant(const std::string& name);
  // Starts the participant's process without waiting for it to listen.
  void LaunchParticipant(const std::string& name);
  ::testing::AssertionResult AwaitParticipant(const std::string& name);
  // A deadline `timeout` from now, and the options' token.
  void Prepare(grpc::ClientContext& context,
               std::chrono::milliseconds timeout) const;
  // --tls-* flags for a server per the options' transport.
  std::vector<std::string> ServerTlsFlags() const;
  ::testing::AssertionResult AwaitListening(ChildProcess& process, int port,
                                            const std::string& what,
                                            const std::string& log_path);
  std::string OrchestratorLogPath(size_t instance) const;
  void DumpLogs() const;

  ClusterOptions options_;
  std::string log_dir_;
  std::unique_ptr<TestDatabase> orchestrator_db_;  // unless options' DSN
  std::string orchestrator_dsn_;
  std::vector<Orchestrator> orchestrators_;
  size_t client_instance_ = 0;
  std::map<std::string, Participant> participants_;
  std::vector<std::string> participant_order_;  // names, in start order
  // Lazily opened libpqxx connections to the participants' databases
  // (defined in cluster.cc to keep libpqxx out of this header).
  struct Connections;
  std::unique_ptr<Connections> connections_;
};

// True for COMPLETED, COMPENSATED and FAILED.
bool IsTerminal(saga::v1::SagaStatus status);

// The booking saga's input as JSON.
std::string BookingInput(const std::string& patient_id,
                         const std::string& preferred_date,
                         const std::string& specialty);

// The n-th of a series of distinct bookings the participants accept (active
// patients, days with free slots, every specialty in turn).
std::string AcceptedBookingInput(int n);

// One line for failure messages: id, status, error and each step's
// status/attempts/compensation attempts.
std::string DescribeSaga(const saga::v1::Saga& saga);

// The step named `name` of a saga returned by GetSaga, or nullptr.
const saga::v1::Step* FindStep(const saga::v1::Saga& saga,
                               const std::string& name);

}  // namespace saga::testing
