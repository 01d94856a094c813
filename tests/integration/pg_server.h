// Private PostgreSQL 15 servers of the test's own, for tests that stop,
// restart, replicate, promote or crash a database server (which the shared
// SAGA_TEST_ADMIN_DSN cluster must never be):
//  - PgServer: one cluster, driven through scripts/pg.sh;
//  - HaPostgres: a primary and its synchronous standby under Patroni (with a
//    three-member etcd), driven through scripts/pg-ha.sh.
// Each lives in a fresh directory under /tmp; the destructor stops it and
// removes the directory.
//
// Not thread-safe.
#pragma once

#include <chrono>
#include <map>
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
  // Polls (up to `timeout`) until a session of `database` on this primary
  // waits for its synchronous standby to confirm a commit (wait event
  // SyncRep); whether one did.
  bool SessionWaitsForTheStandby(const std::string& database,
                                 std::chrono::milliseconds timeout) const;

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

class HaPostgres {
 public:
  // Starts etcd and both Patroni nodes; returns once one node is the
  // primary and the other its synchronous standby (about 15 s).
  static std::unique_ptr<HaPostgres> Start(std::string* error);
  ~HaPostgres();
  HaPostgres(const HaPostgres&) = delete;
  HaPostgres& operator=(const HaPostgres&) = delete;

  // Superuser connection string for the `postgres` database naming every
  // node, with target_session_attrs=read-write: libpq connects to whichever
  // node accepts writes.
  const std::string& admin_dsn() const { return admin_dsn_; }
  // The node whose PostgreSQL accepts writes now (asked over a connection
  // of its own to each node), or "" when none does.
  std::string Primary() const;
  // SIGKILLs the postmaster of `node` (the pid in its postmaster.pid), as
  // when the server crashes; Patroni is left running to fail over.
  ::testing::AssertionResult KillPostmaster(const std::string& node) const;
  // `patronictl list`: members, roles, timelines, lag.
  std::string Status() const;

 private:
  struct Node {
    int port = 0;
    std::string data_dir;
  };
  explicit HaPostgres(std::string dir) : dir_(std::move(dir)) {}

  ::testing::AssertionResult ReadEnv();

  std::string dir_;
  std::string admin_dsn_;
  std::string passfile_;
  std::map<std::string, Node> nodes_;
};

}  // namespace saga::testing
