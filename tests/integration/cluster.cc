#include "tests/integration/cluster.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <pqxx/pqxx>
#include <sstream>

#include "tests/support/definitions.h"

namespace saga::testing {
namespace {

using Clock = std::chrono::steady_clock;
using saga::v1::Saga;
using saga::v1::SagaStatus;

constexpr std::chrono::milliseconds kStartTimeout{30000};
constexpr std::chrono::milliseconds kRpcTimeout{10000};
// How long one AwaitSaga call may wait before AwaitTerminal asks again; short
// enough to notice a restarted orchestrator quickly.
constexpr int64_t kAwaitSliceMs = 5000;
constexpr size_t kLogTailLines = 60;

std::string Address(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  if (!in) return "(no log)\n";
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::ostringstream out;
  size_t first = all.size() > lines ? all.size() - lines : 0;
  for (size_t i = first; i < all.size(); ++i) out << all[i] << "\n";
  return out.str();
}

}  // namespace

std::string DescribeSaga(const Saga& saga) {
  std::ostringstream out;
  out << "saga " << saga.saga_id() << " ("
      << saga::v1::SagaStatus_Name(saga.status()) << ", error \""
      << saga.error() << "\"; steps:";
  for (const auto& step : saga.steps()) {
    out << " " << step.name() << "=" << saga::v1::StepStatus_Name(step.status())
        << "/" << step.attempts() << "/" << step.compensation_attempts()
        << (step.outcome_unknown() ? "/unknown" : "");
  }
  out << ")";
  return out.str();
}

struct TestCluster::Connections {
  std::map<std::string, std::unique_ptr<pqxx::connection>> by_name;

  pqxx::connection& Get(const std::string& name, const std::string& dsn) {
    auto& connection = by_name[name];
    if (!connection) connection = std::make_unique<pqxx::connection>(dsn);
    return *connection;
  }
};

std::vector<ClusterParticipant> BookingParticipants() {
  std::vector<ClusterParticipant> specs;
  for (const std::string& name : kParticipants) {
    ClusterParticipant spec{name, "saga-" + name, "migrations/" + name, {}};
    // Tests book fixed dates: the doctor's "today" is pinned before them,
    // whatever the machine's clock says.
    if (name == "doctor") spec.default_flags = {{"--today", kTestToday}};
    specs.push_back(std::move(spec));
  }
  return specs;
}

ClusterParticipant PaymentParticipant() {
  return {"payment",
          "saga-payment",
          "migrations/payment",
          {{"--orchestrator", kOrchestratorAddress}}};
}

bool IsTerminal(SagaStatus status) {
  return status == saga::v1::SAGA_STATUS_COMPLETED ||
         status == saga::v1::SAGA_STATUS_COMPENSATED ||
         status == saga::v1::SAGA_STATUS_FAILED;
}

std::string BookingInput(const std::string& patient_id,
                         const std::string& preferred_date,
                         const std::string& specialty) {
  return "{\"patient_id\":\"" + patient_id + "\",\"preferred_date\":\"" +
         preferred_date + "\",\"specialty\":\"" + specialty + "\"}";
}

std::string AcceptedBookingInput(int n) {
  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  return BookingInput(kPatients[n % kPatients.size()],
                      "2027-02-" + std::to_string(10 + n % 18),
                      kSpecialties[n % kSpecialties.size()]);
}

const saga::v1::Step* FindStep(const Saga& saga, const std::string& name) {
  for (const auto& step : saga.steps()) {
    if (step.name() == name) return &step;
  }
  return nullptr;
}

TestCluster::TestCluster(ClusterOptions options)
    : options_(std::move(options)) {
  connections_ = std::make_unique<Connections>();
  if (options_.definitions_dir.empty()) {
    options_.definitions_dir = TestDefinitionDir("booking");
  }
  char dir_template[] = "/tmp/saga-it-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for the cluster's log directory";
    log_dir_ = "/tmp";
  } else {
    log_dir_ = dir;
  }
  orchestrator_dsn_ = options_.orchestrator_dsn;
  if (orchestrator_dsn_.empty()) {
    orchestrator_db_ = std::make_unique<TestDatabase>(
        "it_orch", options_.orchestrator_admin_dsn);
    orchestrator_dsn_ = orchestrator_db_->dsn();
  }
  // gRPC servers bind with SO_REUSEPORT, so two of ours given the same
  // port would both "listen" on it: every port must differ.
  std::set<int> ports;
  auto distinct_port = [&ports] {
    int port = FreePort();
    while (!ports.insert(port).second) port = FreePort();
    return port;
  };
  orchestrators_.resize(std::max<size_t>(1, options_.orchestrators));
  for (Orchestrator& orchestrator : orchestrators_) {
    orchestrator.port = distinct_port();
  }
  for (const ClusterParticipant& spec : options_.participants) {
    const std::string& name = spec.name;
    participant_order_.push_back(name);
    Participant& participant = participants_[name];
    participant.spec = spec;
    participant.db = std::make_unique<TestDatabase>(
        "it_" + name, options_.participants_admin_dsn);
    participant.port = distinct_port();
    auto flags = options_.participant_flags.find(name);
    if (flags != options_.participant_flags.end()) {
      participant.flags = flags->second;
    }
  }
}

TestCluster::~TestCluster() {
  for (Orchestrator& orchestrator : orchestrators_) {
    orchestrator.stub.reset();
    orchestrator.process.reset();
  }
  for (auto& [name, participant] : participants_) participant.process.reset();
  connections_.reset();
  if (::testing::Test::HasFailure()) {
    DumpLogs();
  } else if (std::getenv("SAGA_TEST_KEEP_LOGS") != nullptr) {
    std::cerr << "cluster logs kept in " << log_dir_ << "\n";
  } else if (log_dir_ != "/tmp") {
    std::error_code ignored;
    std::filesystem::remove_all(log_dir_, ignored);
  }
}

std::string TestCluster::OrchestratorLogPath(size_t instance) const {
  return log_dir_ + "/orchestrator" +
         (instance == 0 ? "" : "-" + std::to_string(instance)) + ".log";
}

std::string TestCluster::OrchestratorLog(size_t instance) const {
  std::ifstream in(OrchestratorLogPath(instance));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string TestCluster::ParticipantLog(const std::string& name) const {
  std::ifstream in(log_dir_ + "/" + name + ".log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string TestCluster::InstanceId(size_t instance) {
  return "orch-" + std::to_string(instance);
}

void TestCluster::DumpLogs() const {
  std::cerr << "=== cluster logs kept in " << log_dir_ << " ===\n";
  std::vector<std::string> paths;
  for (size_t i = 0; i < orchestrators_.size(); ++i) {
    paths.push_back(OrchestratorLogPath(i));
  }
  for (const auto& name : participant_order_) {
    paths.push_back(log_dir_ + "/" + name + ".log");
  }
  for (const auto& path : paths) {
    std::cerr << "--- last lines of " << path << " ---\n"
              << Tail(path, kLogTailLines);
  }
}

const TestDatabase& TestCluster::database(const std::string& name) const {
  if (name != "orchestrator") return *participants_.at(name).db;
  if (!orchestrator_db_) {
    ADD_FAILURE() << "TestCluster::database(\"orchestrator\") with an "
                     "orchestrator_dsn: use orchestrator_dsn()";
    std::abort();
  }
  return *orchestrator_db_;
}

::testing::AssertionResult TestCluster::AwaitListening(
    ChildProcess& process, int port, const std::string& what,
    const std::string& log_path) {
  bool exited = false;
  bool up = PollUntil(
      [&] {
        if (!process.Running()) {
          exited = true;
          return true;
        }
        return WaitForPort(port, std::chrono::milliseconds(50));
      },
      kStartTimeout);
  if (exited || !up) {
    return ::testing::AssertionFailure()
           << what << " did not start listening on " << Address(port)
           << (exited ? " (it exited)" : " (timed out)") << "; log " << log_path
           << ":\n"
           << Tail(log_path, kLogTailLines);
  }
  return ::testing::AssertionSuccess();
}

void TestCluster::Prepare(grpc::ClientContext& context,
                          std::chrono::milliseconds timeout) const {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.token);
  }
}

std::vector<std::string> TestCluster::ServerTlsFlags() const {
  if (options_.transport == Transport::kPlaintext) return {};
  const TestCertificates& certs = *options_.certificates;
  std::vector<std::string> flags = {"--tls-cert", certs.server_cert(),
                                    "--tls-key", certs.server_key()};
  if (options_.transport == Transport::kMutualTls) {
    flags.insert(flags.end(),
                 {"--tls-client-ca", certs.ca(), "--tls-require-client-cert"});
  }
  return flags;
}

std::shared_ptr<grpc::ChannelCredentials> TestCluster::ClientCredentials()
    const {
  if (options_.transport == Transport::kPlaintext) {
    return grpc::InsecureChannelCredentials();
  }
  const TestCertificates& certs = *options_.certificates;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(certs.ca());
  if (options_.transport == Transport::kMutualTls) {
    ssl.pem_cert_chain = ReadFile(certs.client_cert());
    ssl.pem_private_key = ReadFile(certs.client_key());
  }
  return grpc::SslCredentials(ssl);
}

::testing::AssertionResult TestCluster::StartParticipant(
    const std::string& name) {
  LaunchParticipant(name);
  return AwaitParticipant(name);
}

void TestCluster::LaunchParticipant(const std::string& name) {
  Participant& participant = participants_.at(name);
  std::vector<std::string> argv = {BinaryPath(participant.spec.binary),
                                   "--listen",
                                   Address(participant.port),
                                   "--db",
                                   participant.db->dsn(),
                                   "--migrations",
                                   SourcePath(participant.spec.migrations),
                                   "--log-level",
                                   "info"};
  const std::vector<std::string> tls = ServerTlsFlags();
  argv.insert(argv.end(), tls.begin(), tls.end());
  for (const auto& [flag, value] : participant.spec.default_flags) {
    if (std::find(participant.flags.begin(), participant.flags.end(), flag) ==
        participant.flags.end()) {
      std::string expanded = value;
      if (value == kOrchestratorAddress) {
        expanded.clear();
        for (const Orchestrator& orchestrator : orchestrators_) {
          if (!expanded.empty()) expanded += ",";
          expanded += Address(orchestrator.port);
        }
      }
      argv.insert(argv.end(), {flag, expanded});
    }
  }
  argv.insert(argv.end(), participant.flags.begin(), participant.flags.end());
  std::string log_path = log_dir_ + "/" + name + ".log";
  participant.process = std::make_unique<ChildProcess>(
      argv, std::vector<std::string>{}, log_path);
}

::testing::AssertionResult TestCluster::AwaitParticipant(
    const std::string& name) {
  Participant& participant = participants_.at(name);
  return AwaitListening(*participant.process, participant.port,
                        participant.spec.binary,
                        log_dir_ + "/" + name + ".log");
}

::testing::AssertionResult TestCluster::Start() {
  // The participants start side by side (each migrates its own database);
  // the orchestrators one after the other, as they share one.
  for (const auto& name : participant_order_) LaunchParticipant(name);
  for (const auto& name : participant_order_) {
    auto started = AwaitParticipant(name);
    if (!started) return started;
  }
  for (size_t i = 0; i < orchestrators_.size(); ++i) {
    auto started = StartOrchestrator({}, i);
    if (!started) return started;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TestCluster::StartOrchestrator(
    const std::vector<std::string>& extra_env, size_t instance) {
  Orchestrator& orchestrator = orchestrators_.at(instance);
  std::vector<std::string> argv = {BinaryPath("saga-orchestrator"),
                                   "--listen",
                                   Address(orchestrator.port),
                                   "--db",
                                   orchestrator_dsn_,
                                   "--instance-id",
                                   InstanceId(instance),
                                   "--definitions",
                                   options_.definitions_dir,
                                   "--migrations",
                                   SourcePath("migrations/orchestrator"),
                                   "--log-level",
                                   "info"};
  for (const auto& [name, participant] : participants_) {
    argv.push_back("--participant");
    argv.push_back(name + "=" + Address(participant.port));
  }
  const std::vector<std::string> tls = ServerTlsFlags();
  argv.insert(argv.end(), tls.begin(), tls.end());
  if (options_.transport != Transport::kPlaintext) {
    const TestCertificates& certs = *options_.certificates;
    argv.insert(argv.end(), {"--participant-tls-ca", certs.ca()});
    if (options_.transport == Transport::kMutualTls) {
      argv.insert(argv.end(), {"--participant-tls-cert", certs.client_cert(),
                               "--participant-tls-key", certs.client_key()});
    }
  }
  argv.insert(argv.end(), options_.orchestrator_flags.begin(),
              options_.orchestrator_flags.end());
  std::string log_path = OrchestratorLogPath(instance);
  ++orchestrator.starts;
  orchestrator.process =
      std::make_unique<ChildProcess>(argv, extra_env, log_path);
  auto listening =
      AwaitListening(*orchestrator.process, orchestrator.port,
                     "saga-orchestrator " + InstanceId(instance) + " (start #" +
                         std::to_string(orchestrator.starts) + ")",
                     log_path);
  if (!listening) return listening;
  // A fresh channel: the old one may sit in reconnect backoff after a kill.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  orchestrator.stub =
      saga::v1::SagaOrchestrator::NewStub(grpc::CreateCustomChannel(
          Address(orchestrator.port), ClientCredentials(), args));
  return ::testing::AssertionSuccess();
}

bool TestCluster::OrchestratorExited(std::chrono::milliseconds timeout,
                                     size_t instance, int* status) {
  ChildProcess* process = orchestrators_.at(instance).process.get();
  if (process == nullptr) return true;
  if (!PollUntil([&] { return !process->Running(); }, timeout)) return false;
  if (status != nullptr) *status = process->Wait();
  return true;
}

saga::v1::SagaOrchestrator::Stub& TestCluster::Stub() {
  return Stub(client_instance_);
}

saga::v1::SagaOrchestrator::Stub& TestCluster::Stub(size_t instance) {
  if (instance >= orchestrators_.size() || !orchestrators_[instance].stub) {
    ADD_FAILURE() << "TestCluster::Stub(" << instance
                  << ") before that orchestrator started";
    std::abort();
  }
  return *orchestrators_[instance].stub;
}

void TestCluster::KillOrchestrator(int signal, size_t instance) {
  std::unique_ptr<ChildProcess>& process = orchestrators_.at(instance).process;
  if (!process) return;
  process->Signal(signal);
  process->Wait();
  process.reset();
}

void TestCluster::SignalOrchestrator(int signal, size_t instance) {
  if (orchestrators_.at(instance).process) {
    orchestrators_[instance].process->Signal(signal);
  }
}

void TestCluster::StopParticipant(const std::string& name) {
  Participant& participant = participants_.at(name);
  if (participant.process) {
    participant.process->Signal(SIGKILL);
    participant.process->Wait();
    participant.process.reset();
  }
}

::testing::AssertionResult TestCluster::RestartParticipant(
    const std::string& name, const std::vector<std::string>& flags) {
  StopParticipant(name);
  participants_.at(name).flags = flags;
  return StartParticipant(name);
}

std::string TestCluster::StartSaga(const std::string& saga_type,
                                   const std::string& input_json,
                                   const std::string& idempotency_key) {
  grpc::ClientContext context;
  Prepare(context, kRpcTimeout);
  // As the reads below: a channel whose first connection attempt raced the
  // server's start is in backoff, and a fail-fast call would fail at once
  // (seen once over TLS under load). Waiting sends nothing twice.
  context.set_wait_for_ready(true);
  saga::v1::StartSagaRequest request;
  request.set_saga_type(saga_type);
  request.set_input_json(input_json);
  request.set_idempotency_key(idempotency_key);
  saga::v1::StartSagaResponse response;
  grpc::Status status = Stub().StartSaga(&context, request, &response);
  if (!status.ok()) {
    ADD_FAILURE() << "StartSaga(" << saga_type << ", " << input_json
                  << ") failed: " << status.error_code() << " "
                  << status.error_message();
    return "";
  }
  if (response.saga_id().empty()) {
    ADD_FAILURE() << "StartSaga returned an empty saga id";
  }
  return response.saga_id();
}

Saga TestCluster::GetSaga(const std::string& saga_id) {
  grpc::ClientContext context;
  Prepare(context, kRpcTimeout);
  context.set_wait_for_ready(true);
  saga::v1::GetSagaRequest request;
  request.set_saga_id(saga_id);
  saga::v1::GetSagaResponse response;
  grpc::Status status = Stub().GetSaga(&context, request, &response);
  if (!status.ok()) {
    ADD_FAILURE() << "GetSaga(" << saga_id
                  << ") failed: " << status.error_code() << " "
                  << status.error_message();
    return Saga();
  }
  return response.saga();
}

std::vector<saga::v1::SagaEvent> TestCluster::History(
    const std::string& saga_id) {
  grpc::ClientContext context;
  Prepare(context, kRpcTimeout);
  context.set_wait_for_ready(true);
  saga::v1::GetSagaHistoryRequest request;
  request.set_saga_id(saga_id);
  saga::v1::GetSagaHistoryResponse response;
  grpc::Status status = Stub().GetSagaHistory(&context, request, &response);
  if (!status.ok()) {
    ADD_FAILURE() << "GetSagaHistory(" << saga_id
                  << ") failed: " << status.error_code() << " "
                  << status.error_message();
    return {};
  }
  return {response.events().begin(), response.events().end()};
}

std::vector<std::string> TestCluster::HistoryTypes(const std::string& saga_id) {
  std::vector<std::string> types;
  for (const auto& event : History(saga_id)) types.push_back(event.type());
  return types;
}

Saga TestCluster::AwaitTerminal(const std::string& saga_id,
                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Saga last;
  last.set_saga_id(saga_id);
  while (Clock::now() < deadline) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    int64_t wait_ms = std::min<int64_t>(remaining.count(), kAwaitSliceMs);
    grpc::ClientContext context;
    Prepare(context, std::chrono::milliseconds(wait_ms + 5000));
    // While the orchestrator restarts, block in the channel instead of
    // spinning on UNAVAILABLE.
    context.set_wait_for_ready(true);
    saga::v1::AwaitSagaRequest request;
    request.set_saga_id(saga_id);
    request.set_timeout_ms(wait_ms);
    saga::v1::AwaitSagaResponse response;
    grpc::Status status = Stub().AwaitSaga(&context, request, &response);
    if (status.ok()) {
      last = response.saga();
      if (IsTerminal(last.status())) return last;
    } else if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
               status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      ADD_FAILURE() << "AwaitSaga(" << saga_id
                    << ") failed: " << status.error_code() << " "
                    << status.error_message();
      return last;
    }
  }
  return last;
}

int64_t TestCluster::QueryInt(const std::string& participant,
                              const std::string& sql) {
  pqxx::nontransaction tx(
      connections_->Get(participant, database(participant).dsn()));
  return tx.exec1(sql)[0].as<int64_t>();
}

int64_t TestCluster::QueryInt(const std::string& participant,
                              const std::string& sql,
                              const std::string& param) {
  pqxx::nontransaction tx(
      connections_->Get(participant, database(participant).dsn()));
  return tx.exec_params(sql, param)[0][0].as<int64_t>();
}

int TestCluster::ActiveReservations(const std::string& saga_id) {
  pqxx::nontransaction tx(
      connections_->Get("doctor", database("doctor").dsn()));
  return tx
      .exec_params(
          "SELECT count(*) FROM reservations "
          "WHERE saga_id = $1 AND status = 'active'",
          saga_id)[0][0]
      .as<int>();
}

int TestCluster::AllReservations(const std::string& saga_id) {
  pqxx::nontransaction tx(
      connections_->Get("doctor", database("doctor").dsn()));
  return tx
      .exec_params("SELECT count(*) FROM reservations WHERE saga_id = $1",
                   saga_id)[0][0]
      .as<int>();
}

int TestCluster::Mails(const std::string& saga_id) {
  pqxx::nontransaction tx(connections_->Get("email", database("email").dsn()));
  return tx
      .exec_params("SELECT count(*) FROM mail_log WHERE saga_id = $1",
                   saga_id)[0][0]
      .as<int>();
}

std::set<std::string> TestCluster::ReservationSagaIds() {
  pqxx::nontransaction tx(
      connections_->Get("doctor", database("doctor").dsn()));
  std::set<std::string> ids;
  for (const auto& row : tx.exec("SELECT DISTINCT saga_id FROM reservations")) {
    ids.insert(row[0].as<std::string>());
  }
  return ids;
}

std::set<std::string> TestCluster::MailSagaIds() {
  pqxx::nontransaction tx(connections_->Get("email", database("email").dsn()));
  std::set<std::string> ids;
  for (const auto& row : tx.exec("SELECT DISTINCT saga_id FROM mail_log")) {
    ids.insert(row[0].as<std::string>());
  }
  return ids;
}

void TestCluster::ExpectParticipantsAgree(const Saga& saga,
                                          const std::string& reservations_of) {
  const std::string& id = saga.saga_id();
  int active =
      ActiveReservations(reservations_of.empty() ? id : reservations_of);
  int mails = Mails(id);
  switch (saga.status()) {
    case saga::v1::SAGA_STATUS_COMPLETED:
      EXPECT_EQ(active, 1) << "active reservations of COMPLETED "
                           << DescribeSaga(saga);
      EXPECT_EQ(mails, 2) << "mails of COMPLETED " << DescribeSaga(saga);
      break;
    case saga::v1::SAGA_STATUS_COMPENSATED:
      EXPECT_EQ(active, 0) << "active reservations of COMPENSATED "
                           << DescribeSaga(saga);
      // The pivot (notify) never succeeded, so no mail may exist: a mail
      // here means the saga rolled back after the point of no return.
      EXPECT_EQ(mails, 0) << "mails of COMPENSATED " << DescribeSaga(saga);
      break;
    case saga::v1::SAGA_STATUS_FAILED:
      ADD_FAILURE() << "FAILED (needs an operator): " << DescribeSaga(saga)
                    << "; active reservations " << active << ", mails "
                    << mails;
      break;
    default:
      ADD_FAILURE() << "not terminal: " << DescribeSaga(saga)
                    << "; active reservations " << active << ", mails "
                    << mails;
  }
  if (!participants_.count("payment") || FindStep(saga, "charge") == nullptr) {
    return;
  }
  // One charge at most (one idempotency key); it stands (settled) exactly
  // when the saga completed, and none may still be pending once it ended.
  const std::string count = "SELECT count(*) FROM charges WHERE saga_id = $1";
  const int64_t charges = QueryInt("payment", count, id);
  const int64_t settled =
      QueryInt("payment", count + " AND status = 'settled'", id);
  const int64_t pending =
      QueryInt("payment", count + " AND status = 'pending'", id);
  EXPECT_LE(charges, 1) << "charges of " << DescribeSaga(saga);
  EXPECT_EQ(settled, saga.status() == saga::v1::SAGA_STATUS_COMPLETED ? 1 : 0)
      << "settled charges of " << DescribeSaga(saga);
  EXPECT_EQ(pending, 0) << "pending charges of " << DescribeSaga(saga);
}

}  // namespace saga::testing
