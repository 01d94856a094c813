// A pool of PostgreSQL sessions to one database, shared by the store, the
// outbox readers and the participants.
//
// Sessions open lazily (or some at once with Fill) and are prepared by
// Options::prepare. A session that ended is dropped, and the idle ones with
// it (a restart or a failover most likely ended them too); a later call
// opens a new one. After a failed connect, callers fail fast with
// Unavailable until an exponential backoff has passed, so a database that
// is down (or read-only during a failover) is not hammered by every waiting
// thread, and one that is back is picked up again. An idle session the
// server already closed (its goodbye is waiting on the socket) is replaced
// before it is handed out; this assumes no session LISTENs.
//
// Failures are classified by errors.h.
//
// Thread-safe. REQUIRES: no Lease outlives the pool.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/pg/errors.h"
#include "orchestrator/sync/mutex.h"

namespace saga::pg {

using Deadline = std::chrono::system_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// `dsn` with connect_timeout=`seconds` unless it names one already: without
// it a host that drops packets holds a connect for the kernel's TCP timeout
// (minutes).
std::string WithConnectTimeout(const std::string& dsn, int seconds);

class ConnectionPool {
 public:
  struct Options {
    // A libpq connection string (key=value or URI).
    std::string dsn;
    // Most sessions open at once (>= 1).
    int size = 8;
    // 0: use the DSN as given; otherwise WithConnectTimeout.
    int connect_timeout_s = 0;
    std::chrono::milliseconds first_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
    // Runs on every new session before it is handed out (session settings,
    // prepared statements); may throw (the connect then fails).
    std::function<void(pqxx::connection&)> prepare;
  };

  // A session on loan; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();

    pqxx::connection& operator*() const { return *connection_; }

    // Classifies `error`, thrown while doing `what` on this session in
    // `phase` (errors.h); a failure that ended the session drops it and the
    // pool's idle sessions. Call from a catch block with
    // std::current_exception().
    Failure Fail(std::exception_ptr error, Phase phase,
                 const std::string& what);

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> connection);

    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool discard_ = false;
  };

  explicit ConnectionPool(Options options);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // Opens sessions now, all at once, until `sessions` (at most the pool's
  // size) are open; the rest open when first needed. Unavailable if one
  // cannot be opened.
  absl::Status Fill(int sessions);

  // A session, waiting until one is free or `deadline` (the caller's)
  // passes. Unavailable: the database cannot be reached (now, or at the
  // last connect attempt, within the backoff). DeadlineExceeded: the
  // deadline passed, before the call, while every session stayed busy or
  // while a new one was opened (no work is handed out for a caller that
  // stopped waiting).
  absl::StatusOr<Lease> Acquire(Deadline deadline = kNoDeadline);

  // Runs `fn(connection)` on a session and returns its result, or the
  // status of what failed (prefixed with `what`). `phase`: kStatement when
  // `fn` reads or commits a pqxx transaction itself (pqxx reports a COMMIT
  // cut off as in_doubt_error); kCommit when `fn` is one autocommitted
  // write, so a session lost while it ran leaves its outcome unknown.
  template <typename Fn>
  std::invoke_result_t<Fn, pqxx::connection&> Run(
      const std::string& what, Fn&& fn, Phase phase = Phase::kStatement) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) {
      return absl::Status(lease.status().code(),
                          what + ": " + std::string(lease.status().message()));
    }
    try {
      return fn(**lease);
    } catch (...) {
      return lease->Fail(std::current_exception(), phase, what).status;
    }
  }

  // Closes every idle session.
  void DiscardIdle();

 private:
  void Return(std::unique_ptr<pqxx::connection> connection, bool discard);
  // Opens and prepares a session; throws what libpqxx throws.
  std::unique_ptr<pqxx::connection> Connect() const;
  // Notes a connect's outcome for the backoff; returns the status to report.
  absl::Status ConnectFailed(const std::exception_ptr& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ConnectSucceeded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const std::string dsn_;
  sync::Mutex mu_;
  sync::CondVar released_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Idle + leased + being opened.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  // After a failed connect: how long to wait, until when, and why.
  std::chrono::milliseconds backoff_ ABSL_GUARDED_BY(mu_){0};
  std::chrono::steady_clock::time_point next_connect_ ABSL_GUARDED_BY(mu_);
  std::string last_connect_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace saga::pg
