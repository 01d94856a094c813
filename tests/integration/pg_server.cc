#include "tests/integration/pg_server.h"

#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <vector>

#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

// The value of `export NAME=value` (quotes removed) in an env file.
std::string EnvValue(const std::string& env, const std::string& name) {
  std::istringstream lines(env);
  std::string line;
  const std::string prefix = "export " + name + "=";
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::string value = line.substr(prefix.size());
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return "";
}

// A new directory under /tmp: as root the server runs as `postgres`, which
// can reach /tmp but not /root, and pg.sh hands the directory over to it.
std::string NewDir() {
  char dir_template[] = "/tmp/saga-pgserver-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  return dir == nullptr ? "" : dir;
}

// Runs `bash scripts/<script> args...` with its output in `log`; true when
// it exited 0.
bool RunScript(const std::string& script, const std::vector<std::string>& args,
               const std::string& log) {
  std::vector<std::string> argv = {"bash", SourcePath("scripts/" + script)};
  argv.insert(argv.end(), args.begin(), args.end());
  std::filesystem::remove(log);
  ChildProcess process(argv, {}, log);
  const int status = process.Wait();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::unique_ptr<PgServer> PgServer::StartPrimary(std::string* error) {
  std::unique_ptr<PgServer> server(new PgServer(NewDir()));
  auto started = server->Script({"start", server->dir_});
  if (started) started = server->ReadEnv();
  if (!started) {
    *error = started.message();
    return nullptr;
  }
  return server;
}

std::unique_ptr<PgServer> PgServer::StartStandby(const PgServer& primary,
                                                 std::string* error) {
  std::unique_ptr<PgServer> server(new PgServer(NewDir()));
  auto started = server->Script({"standby", server->dir_, primary.dir_});
  if (started) started = server->ReadEnv();
  if (!started) {
    *error = started.message();
    return nullptr;
  }
  return server;
}

PgServer::~PgServer() {
  if (dir_.empty()) return;
  Script({"stop", dir_, "immediate"});
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::remove(dir_ + ".pg.sh.log", ignored);
}

::testing::AssertionResult PgServer::Stop(const std::string& mode) {
  return Script({"stop", dir_, mode});
}

::testing::AssertionResult PgServer::Restart() {
  return Script({"restart", dir_});
}

::testing::AssertionResult PgServer::Promote() {
  return Script({"promote", dir_});
}

bool PgServer::SessionWaitsForTheStandby(
    const std::string& database, std::chrono::milliseconds timeout) const {
  pqxx::connection admin(admin_dsn_);
  return PollUntil(
      [&] {
        pqxx::nontransaction tx(admin);
        return tx.exec_params1(
                     "SELECT count(*) FROM pg_stat_activity WHERE "
                     "wait_event = 'SyncRep' AND datname = $1",
                     database)[0]
                   .as<int>() > 0;
      },
      timeout);
}

::testing::AssertionResult PgServer::Script(
    const std::vector<std::string>& args) {
  if (dir_.empty()) {
    return ::testing::AssertionFailure() << "no directory for the cluster";
  }
  const std::string log = dir_ + ".pg.sh.log";
  if (RunScript("pg.sh", args, log)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "scripts/pg.sh " << args.front() << " " << dir_
         << " failed; its output:\n"
         << ReadFile(log) << "server log " << dir_ << "/log:\n"
         << ReadFile(dir_ + "/log");
}

::testing::AssertionResult PgServer::ReadEnv() {
  const std::string env = ReadFile(dir_ + "/env");
  port_ = std::atoi(EnvValue(env, "SAGA_PG_PORT").c_str());
  admin_dsn_ = EnvValue(env, "SAGA_TEST_ADMIN_DSN");
  passfile_ = EnvValue(env, "SAGA_PG_PASSFILE");
  if (port_ <= 0 || admin_dsn_.empty() || passfile_.empty()) {
    return ::testing::AssertionFailure()
           << "no port, DSN or password file in " << dir_ << "/env";
  }
  return ::testing::AssertionSuccess();
}

std::unique_ptr<HaPostgres> HaPostgres::Start(std::string* error) {
  std::unique_ptr<HaPostgres> cluster(new HaPostgres(NewDir()));
  const std::string log = cluster->dir_ + ".pg-ha.sh.log";
  ::testing::AssertionResult started = ::testing::AssertionFailure();
  if (cluster->dir_.empty()) {
    started << "no directory for the cluster";
  } else if (!RunScript("pg-ha.sh", {"start", cluster->dir_}, log)) {
    started << "scripts/pg-ha.sh start " << cluster->dir_
            << " failed; its output:\n"
            << ReadFile(log);
  } else {
    started = cluster->ReadEnv();
  }
  if (!started) {
    *error = started.message();
    return nullptr;
  }
  return cluster;
}

HaPostgres::~HaPostgres() {
  if (dir_.empty()) return;
  RunScript("pg-ha.sh", {"stop", dir_}, dir_ + ".pg-ha.sh.log");
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
  std::filesystem::remove(dir_ + ".pg-ha.sh.log", ignored);
}

std::string HaPostgres::Primary() const {
  for (const auto& [name, node] : nodes_) {
    try {
      pqxx::connection connection(
          "host=127.0.0.1 port=" + std::to_string(node.port) +
          " user=saga dbname=postgres connect_timeout=1 passfile=" + passfile_);
      pqxx::nontransaction tx(connection);
      if (!tx.exec1("SELECT pg_is_in_recovery()")[0].as<bool>()) return name;
    } catch (const std::exception&) {
      // Down, starting or refusing: not the primary.
    }
  }
  return "";
}

::testing::AssertionResult HaPostgres::KillPostmaster(
    const std::string& node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) {
    return ::testing::AssertionFailure() << "no node " << node;
  }
  const std::string pid_file = it->second.data_dir + "/postmaster.pid";
  const pid_t pid = std::atoi(ReadFile(pid_file).c_str());
  if (pid <= 0) {
    return ::testing::AssertionFailure() << "no pid in " << pid_file;
  }
  if (kill(pid, SIGKILL) != 0) {
    return ::testing::AssertionFailure()
           << "kill -KILL " << pid << " (" << pid_file
           << "): " << std::strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

std::string HaPostgres::Status() const {
  const std::string log = dir_ + ".status.log";
  RunScript("pg-ha.sh", {"status", dir_}, log);
  std::string status = ReadFile(log);
  std::error_code ignored;
  std::filesystem::remove(log, ignored);
  return status;
}

::testing::AssertionResult HaPostgres::ReadEnv() {
  const std::string env = ReadFile(dir_ + "/env");
  admin_dsn_ = EnvValue(env, "SAGA_HA_DSN");
  passfile_ = EnvValue(env, "SAGA_HA_PASSFILE");
  std::istringstream names(EnvValue(env, "SAGA_HA_NODES"));
  std::string name;
  while (names >> name) {
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(c));
    Node& node = nodes_[name];
    node.port = std::atoi(EnvValue(env, "SAGA_HA_" + upper + "_PORT").c_str());
    node.data_dir = EnvValue(env, "SAGA_HA_" + upper + "_DATA");
    if (node.port <= 0 || node.data_dir.empty()) {
      return ::testing::AssertionFailure() << "no port or data directory for "
                                           << name << " in " << dir_ << "/env";
    }
  }
  if (admin_dsn_.empty() || passfile_.empty() || nodes_.size() < 2) {
    return ::testing::AssertionFailure()
           << "no DSN, password file or nodes in " << dir_ << "/env";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace saga::testing
