// A small pool of PostgreSQL connections for one participant database.
// Connections open lazily; a broken one is dropped and replaced on a later
// call. After a failed connect, further connects wait for an exponential
// backoff (calls in between fail fast with Unavailable), so a database that
// is down is not hammered and a restarted one is picked up again.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::participants {

class ConnectionPool {
 public:
  struct Options {
    std::string dsn;
    // Most connections open at once.
    int size = 8;
    std::chrono::milliseconds initial_backoff{100};
    std::chrono::milliseconds max_backoff{2000};
  };

  // A connection on loan; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();

    pqxx::connection& operator*() const { return *connection_; }
    // The connection is broken or its state unknown: close it instead of
    // returning it to the pool.
    void Discard() { discard_ = true; }

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
  // REQUIRES: no Lease outlives the pool.
  ~ConnectionPool();

  // A connection, waiting until one is free or `deadline` (the caller's)
  // passes. Unavailable: the database cannot be reached (now or at the last
  // connect attempt, within the backoff). DeadlineExceeded: the deadline
  // has passed, whether before the call, while every connection stayed
  // busy or while a new one was opened (no work is handed out for a caller
  // that stopped waiting).
  absl::StatusOr<Lease> Acquire(std::chrono::system_clock::time_point deadline);

  // Closes every idle connection: after one connection broke, the others
  // were most likely cut by the same server restart.
  void DiscardIdle();

 private:
  void Return(std::unique_ptr<pqxx::connection> connection, bool discard);

  const Options options_;
  const std::string dsn_;
  std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // GUARDED_BY(mu_)
  int open_ = 0;  // GUARDED_BY(mu_): idle + leased + being opened.
  std::chrono::milliseconds backoff_{0};                // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point next_connect_;  // GUARDED_BY(mu_)
  std::string last_connect_error_;                      // GUARDED_BY(mu_)
};

// libpq's messages span several lines; logs and gRPC statuses want one.
std::string OneLine(std::string text);

// Opens and closes one connection: OK when the database accepts
// connections, Unavailable (with libpq's reason) otherwise.
absl::Status ProbeDatabase(const std::string& dsn);

}  // namespace saga::participants
