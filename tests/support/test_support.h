// Helpers for integration tests that run real PostgreSQL databases and real
// server processes. Tests get a PostgreSQL superuser connection string from
// the environment variable SAGA_TEST_ADMIN_DSN (scripts/test.sh sets it) and
// create their own databases from it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace saga::testing {

// SAGA_TEST_ADMIN_DSN; aborts the test binary with a clear message if unset.
std::string AdminDsn();

// A fresh, empty database with a unique name starting with `prefix`, in the
// cluster of `admin_dsn` (a superuser DSN; empty: AdminDsn()); dropped
// (WITH (FORCE)) or recycled in the destructor (see test_support.cc).
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& prefix,
                        const std::string& admin_dsn = "");
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // Connection string for this database (same host/user as the admin DSN).
  const std::string& dsn() const { return dsn_; }

 private:
  std::string admin_dsn_;
  std::string name_;
  std::string dsn_;
};

// The whole content of the file at `path`; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Polls until 127.0.0.1:port accepts a TCP connection.
bool WaitForPort(int port, std::chrono::milliseconds timeout);

// Polls `condition` every few milliseconds until it holds or time runs out.
bool PollUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout);

// Absolute path of a built executable: <build>/bin/<name>.
std::string BinaryPath(const std::string& name);
// Absolute path of a file in the source tree, e.g. "migrations/doctor".
std::string SourcePath(const std::string& relative);

// A child process. The destructor kills it (SIGKILL) and reaps it.
class ChildProcess {
 public:
  // Starts argv[0] with arguments; `extra_env` entries are "NAME=value"
  // added to the current environment. stdout and stderr go to `log_path`
  // (appended) when non-empty.
  ChildProcess(const std::vector<std::string>& argv,
               const std::vector<std::string>& extra_env = {},
               const std::string& log_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int signal);
  // Waits for exit; returns the exit status as from waitpid (or -1).
  int Wait();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
};

}  // namespace saga::testing
