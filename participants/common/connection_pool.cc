#include "participants/common/connection_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/except>
#include <utility>

namespace saga::participants {
namespace {

// Without a connect timeout a host that drops packets would hold a call for
// the kernel's TCP timeout (minutes). Only key=value DSNs can be extended;
// URIs are used as given.
std::string WithConnectTimeout(const std::string& dsn) {
  if (dsn.find("://") != std::string::npos ||
      dsn.find("connect_timeout") != std::string::npos) {
    return dsn;
  }
  return dsn + " connect_timeout=5";
}

absl::Status DeadlinePassed() {
  return absl::DeadlineExceededError(
      "the caller's deadline passed before a database connection was handed "
      "out");
}

}  // namespace

std::string OneLine(std::string text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
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

ConnectionPool::ConnectionPool(Options options)
    : options_(std::move(options)), dsn_(WithConnectTimeout(options_.dsn)) {}

ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire(
    std::chrono::system_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // No work for a caller that stopped waiting, even with a connection
    // free; and no wait past its deadline.
    if (std::chrono::system_clock::now() >= deadline) return DeadlinePassed();
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    if (open_ < options_.size) break;
    released_.wait_until(lock, deadline);
  }
  auto now = std::chrono::steady_clock::now();
  if (now < next_connect_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_connect_ - now);
    return absl::UnavailableError("database unreachable (" +
                                  last_connect_error_ + "); next attempt in " +
                                  std::to_string(wait.count()) + " ms");
  }
  ++open_;
  lock.unlock();
  std::string error;
  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = std::make_unique<pqxx::connection>(dsn_);
  } catch (const std::exception& e) {
    error = e.what();
  }
  lock.lock();
  if (connection == nullptr) {
    --open_;
    released_.notify_one();
    backoff_ = backoff_.count() == 0
                   ? options_.initial_backoff
                   : std::min(backoff_ * 2, options_.max_backoff);
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    error = OneLine(error);
    last_connect_error_ = error;
    spdlog::warn("cannot connect to the database (retry in {} ms): {}",
                 backoff_.count(), error);
    return absl::UnavailableError("cannot connect to the database: " + error);
  }
  if (backoff_.count() != 0) {
    spdlog::info("database connection restored");
  }
  backoff_ = std::chrono::milliseconds(0);
  lock.unlock();
  Lease lease(this, std::move(connection));
  // Connecting took a while: the new connection waits in the pool instead.
  if (std::chrono::system_clock::now() >= deadline) return DeadlinePassed();
  return absl::StatusOr<Lease>(std::move(lease));
}

void ConnectionPool::DiscardIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  released_.notify_all();
}

void ConnectionPool::Return(std::unique_ptr<pqxx::connection> connection,
                            bool discard) {
  bool keep = !discard && connection->is_open();
  std::unique_ptr<pqxx::connection> closing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (keep) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
      closing = std::move(connection);
    }
  }
  released_.notify_one();
}

absl::Status ProbeDatabase(const std::string& dsn) {
  try {
    pqxx::connection connection(WithConnectTimeout(dsn));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::UnavailableError(OneLine(e.what()));
  }
}

}  // namespace saga::participants
