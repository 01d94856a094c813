// The PostgreSQL outbox readers (outbox_store.h) over the schema of
// migrations/orchestrator (0007 adds the txid column and the stream
// indexes). They open connections of their own, apart from PgStore's, so
// that streams and the dispatcher never wait behind the group commit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/store/outbox_store.h"

namespace saga::pg {
class ConnectionPool;
}  // namespace saga::pg

namespace saga::store {

// The stream for WatchEvents. Thread-safe: up to `connections` reads run
// at once, the others wait for a connection. Connections open lazily; a
// broken one is dropped and reopened by a later read (after a backoff when
// the database is unreachable: orchestrator/pg/connection_pool.h).
class PgOutboxLog final : public OutboxLog {
 public:
  // `dsn`: a libpq connection string; `connections` >= 1.
  PgOutboxLog(std::string dsn, int connections);
  ~PgOutboxLog() override;
  PgOutboxLog(const PgOutboxLog&) = delete;
  PgOutboxLog& operator=(const PgOutboxLog&) = delete;

  absl::StatusOr<StreamCursor> CursorAfter(int64_t position) override;
  absl::StatusOr<StreamPage> Read(const StreamCursor& after,
                                  int limit) override;

 private:
  std::unique_ptr<pg::ConnectionPool> pool_;
};

// The dispatcher's queue. Leads while its session holds a PostgreSQL
// advisory lock (the same key in every orchestrator on the database); the
// lock goes with the session, so a crashed or cut-off dispatcher hands over
// as soon as the database notices. Not thread-safe: one dispatcher thread.
class PgOutboxQueue final : public OutboxQueue {
 public:
  explicit PgOutboxQueue(std::string dsn);
  ~PgOutboxQueue() override;
  PgOutboxQueue(const PgOutboxQueue&) = delete;
  PgOutboxQueue& operator=(const PgOutboxQueue&) = delete;

  absl::StatusOr<bool> Lead() override;
  absl::StatusOr<std::vector<OutboxEntry>> Pending(int limit) override;
  absl::Status MarkDispatched(const std::vector<int64_t>& positions) override;

 private:
  // The session that holds the lock (libpqxx stays out of this header).
  struct Session;

  const std::string dsn_;
  std::unique_ptr<Session> session_;
};

}  // namespace saga::store
