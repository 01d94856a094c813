#include "tests/integration/pg_server.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

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

::testing::AssertionResult PgServer::Script(
    const std::vector<std::string>& args) {
  if (dir_.empty()) {
    return ::testing::AssertionFailure() << "no directory for the cluster";
  }
  std::vector<std::string> argv = {"bash", SourcePath("scripts/pg.sh")};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = dir_ + ".pg.sh.log";
  ChildProcess script(argv, {}, log);
  const int status = script.Wait();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return ::testing::AssertionSuccess();
  }
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

}  // namespace saga::testing
