// PgServer: a private PostgreSQL 15 cluster of the test's own, driven through
// scripts/pg.sh, for tests that stop, restart, replicate or promote a
// database server (which the shared SAGA_TEST_ADMIN_DSN cluster must never
// be). Each lives in a fresh directory under /tmp; the destructor stops it
// (immediate) and removes the directory.
//
// Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::testing {

class PgServer {
 public:
  // initdb + start a cluster on a free port.
  static std::unique_ptr<PgServer> StartPrimary(std::string* error);
  // A streaming standby of `primary` that the primary's commits wait for
  // (synchronous_standby_names): nothing the primary acknowledged is
  // missing on the standby.
  static std::unique_ptr<PgServer> StartStandby(const PgServer& primary,
                                                std::string* error);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // MODE "fast" or "immediate" (as if the machine died: no checkpoint, the
  // sessions are cut).
  ::testing::AssertionResult Stop(const std::string& mode);
  // Crash-restart (immediate) on the same port; starts a stopped cluster
  // again.
  ::testing::AssertionResult Restart();
  // Turns this standby into a primary that accepts writes.
  ::testing::AssertionResult Promote();

  int port() const { return port_; }
  // Superuser connection string for the `postgres` database.
  const std::string& admin_dsn() const { return admin_dsn_; }
  const std::string& passfile() const { return passfile_; }
  const std::string& dir() const { return dir_; }

 private:
  explicit PgServer(std::string dir) : dir_(std::move(dir)) {}

  // Runs scripts/pg.sh with `args`; its output goes to <dir>.pg.sh.log.
  ::testing::AssertionResult Script(const std::vector<std::string>& args);
  // Reads the port and DSN from <dir>/env.
  ::testing::AssertionResult ReadEnv();

  std::string dir_;
  int port_ = 0;
  std::string admin_dsn_;
  std::string passfile_;
};

}  // namespace saga::testing
