#include "orchestrator/pg/connection_pool.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <utility>

#include "absl/time/time.h"

namespace saga::pg {
namespace {

absl::Status DeadlinePassed() {
  return absl::DeadlineExceededError(
      "the caller's deadline passed before a database connection was handed "
      "out");
}

// An idle session has nothing to read: the server talks only when asked.
// A readable socket means the server ended the session (restart,
// pg_terminate_backend) and sent its goodbye, so the caller gets a new
// session instead of a failure. (libpqxx 6.4 would also leak a result if a
// query met the dead session.)
bool LooksAlive(const pqxx::connection& connection) {
  if (!connection.is_open() || connection.sock() < 0) return false;
  pollfd pending{connection.sock(), POLLIN, 0};
  return ::poll(&pending, 1, 0) == 0;
}

}  // namespace

std::string WithConnectTimeout(const std::string& dsn, int seconds) {
  if (dsn.find("connect_timeout") != std::string::npos) return dsn;
  const std::string timeout = "connect_timeout=" + std::to_string(seconds);
  if (dsn.find("://") == std::string::npos) return dsn + " " + timeout;
  return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + timeout;
}

ConnectionPool::Lease::Lease(ConnectionPool* pool,
                             std::unique_ptr<pqxx::connection> connection)
    : pool_(pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      connection_(std::move(other.connection_)),
      discard_(other.discard_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_ != nullptr) {
    pool_->Return(std::move(connection_), discard_);
  }
}

Failure ConnectionPool::Lease::Fail(std::exception_ptr error, Phase phase,
                                    const std::string& what) {
  Failure failure = Classify(std::move(error), phase, what,
                             connection_ != nullptr && connection_->is_open());
  if (failure.EndsSession() && !discard_) {
    discard_ = true;
    spdlog::warn("dropping PostgreSQL sessions: {}",
                 std::string(failure.status.message()));
    pool_->DiscardIdle();
  }
  return failure;
}

ConnectionPool::ConnectionPool(Options options)
    : options_(std::move(options)),
      dsn_(options_.connect_timeout_s > 0
               ? WithConnectTimeout(options_.dsn, options_.connect_timeout_s)
               : options_.dsn) {}

ConnectionPool::~ConnectionPool() = default;

std::unique_ptr<pqxx::connection> ConnectionPool::Connect() const {
  auto connection = std::make_unique<pqxx::connection>(dsn_);
  if (options_.prepare) options_.prepare(*connection);
  return connection;
}

absl::Status ConnectionPool::ConnectFailed(const std::exception_ptr& error) {
  const Failure failure = Classify(error, Phase::kConnect, "connecting");
  backoff_ = std::clamp(backoff_ * 2, options_.first_backoff,
                        std::max(options_.first_backoff, options_.max_backoff));
  next_connect_ = std::chrono::steady_clock::now() + backoff_;
  last_connect_error_ = std::string(failure.status.message());
  spdlog::warn("cannot connect to PostgreSQL (next attempt in {} ms): {}",
               backoff_.count(), last_connect_error_);
  return failure.status;
}

void ConnectionPool::ConnectSucceeded() {
  if (backoff_.count() != 0) spdlog::info("PostgreSQL reachable again");
  backoff_ = std::chrono::milliseconds(0);
}

absl::Status ConnectionPool::Fill(int sessions) {
  sync::MutexLock lock(&mu_);
  // All at once: a session is a connect, an authentication exchange (SCRAM
  // is CPU work on both ends) and its prepares, some 30 ms, and opened one
  // after another they held every start-up for a quarter of a second.
  std::vector<std::future<std::unique_ptr<pqxx::connection>>> opening;
  for (int i = open_; i < std::min(sessions, options_.size); ++i) {
    opening.push_back(
        std::async(std::launch::async, [this] { return Connect(); }));
  }
  absl::Status status = absl::OkStatus();
  for (auto& session : opening) {
    try {
      idle_.push_back(session.get());
      ++open_;
      ConnectSucceeded();
    } catch (...) {
      if (status.ok()) status = ConnectFailed(std::current_exception());
    }
  }
  return status;
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire(
    Deadline deadline) {
  std::unique_ptr<pqxx::connection> closing;
  mu_.Lock();
  while (true) {
    // No work for a caller that stopped waiting, even with a session free;
    // and no wait past its deadline.
    if (std::chrono::system_clock::now() >= deadline) {
      mu_.Unlock();
      return DeadlinePassed();
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (LooksAlive(*connection)) {
        mu_.Unlock();
        return Lease(this, std::move(connection));
      }
      --open_;
      closing = std::move(connection);
      continue;
    }
    if (open_ < options_.size) break;
    if (deadline == kNoDeadline) {
      released_.Wait(&mu_);
    } else {
      released_.WaitUntil(&mu_, deadline);
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < next_connect_) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_connect_ - now);
    absl::Status backing_off = absl::UnavailableError(
        "database unreachable (" + last_connect_error_ + "); next attempt in " +
        std::to_string(wait.count()) + " ms");
    mu_.Unlock();
    return backing_off;
  }
  ++open_;
  mu_.Unlock();
  closing.reset();
  std::unique_ptr<pqxx::connection> connection;
  std::exception_ptr error;
  try {
    connection = Connect();
  } catch (...) {
    error = std::current_exception();
  }
  {
    sync::MutexLock lock(&mu_);
    if (connection == nullptr) {
      --open_;
      released_.Signal();
      return ConnectFailed(error);
    }
    ConnectSucceeded();
  }
  Lease lease(this, std::move(connection));
  // Connecting took a while: the new session waits in the pool instead.
  if (std::chrono::system_clock::now() >= deadline) return DeadlinePassed();
  return absl::StatusOr<Lease>(std::move(lease));
}

void ConnectionPool::DiscardIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    sync::MutexLock lock(&mu_);
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  released_.SignalAll();
}

void ConnectionPool::Return(std::unique_ptr<pqxx::connection> connection,
                            bool discard) {
  const bool keep = !discard && connection->is_open();
  std::unique_ptr<pqxx::connection> closing;
  {
    sync::MutexLock lock(&mu_);
    if (keep) {
      // Taken last-in first-out: the sessions used most stay warm.
      idle_.push_back(std::move(connection));
    } else {
      --open_;
      closing = std::move(connection);
    }
  }
  released_.Signal();
}

}  // namespace saga::pg
