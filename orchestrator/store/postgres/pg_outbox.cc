#include "orchestrator/store/postgres/pg_outbox.h"

#include <algorithm>
#include <charconv>
#include <pqxx/pqxx>
#include <type_traits>
#include <utility>

#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/pg/errors.h"

namespace saga::store {
namespace {

// Columns OutboxEntryFromRow reads, in its order. Output names differ from
// the table's so that ORDER BY txid means the xid8 column, not its text.
#define SAGA_OUTBOX_COLUMNS                                                    \
  "o.position, o.txid::text AS txid_text, o.message_id, o.saga_id, o.type,"    \
  " o.header::text AS header_text, o.payload::text AS payload_text,"           \
  " o.at_ms, (EXTRACT(EPOCH FROM o.created_at) * 1000)::bigint AS created_ms," \
  " COALESCE(o.header->>'saga_type', '') AS saga_type"

// The horizon comes back on every row (and alone, on one row of NULLs, when
// nothing is readable), so a caught-up reader can move its cursor up to it.
// pg_current_snapshot() is the statement's own snapshot: the rows it sees
// below its xmin are final.
constexpr char kReadStreamSql[] =
    "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) "
    "SELECT h.horizon::text, page.* FROM h LEFT JOIN LATERAL ("
    " SELECT o.txid, " SAGA_OUTBOX_COLUMNS
    " FROM outbox o"
    " WHERE (o.txid, o.position) > ($1::xid8, $2::bigint)"
    "  AND o.txid < h.horizon"
    " ORDER BY o.txid, o.position LIMIT $3) page ON true "
    "ORDER BY page.txid, page.position";

constexpr char kFindPositionSql[] =
    "SELECT txid::text FROM outbox WHERE position = $1";

constexpr char kPendingSql[] =
    "SELECT " SAGA_OUTBOX_COLUMNS
    " FROM outbox o"
    " WHERE o.status = 'PENDING'"
    "  AND o.txid < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY o.txid, o.position LIMIT $1";

constexpr char kMarkDispatchedSql[] =
    "UPDATE outbox SET status = 'DISPATCHED', dispatched_at = now()"
    " WHERE position = ANY($1::bigint[]) AND status = 'PENDING'";

// Held for as long as a dispatcher's session lives. The migrator uses
// 0x5a6a0001.
constexpr int64_t kDispatcherLockKey = 0x5a6a0007;
constexpr char kTryLockSql[] = "SELECT pg_try_advisory_lock($1)";

#undef SAGA_OUTBOX_COLUMNS

absl::StatusOr<uint64_t> ParseTxid(const std::string& text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end) {
    return absl::InternalError("outbox: unreadable transaction id '" + text +
                               "'");
  }
  return value;
}

// Reads the columns of SAGA_OUTBOX_COLUMNS starting at column `first`.
absl::StatusOr<OutboxEntry> EntryFromRow(const pqxx::row& row, int first) {
  OutboxEntry entry;
  entry.position = row[first].as<int64_t>();
  absl::StatusOr<uint64_t> txid = ParseTxid(row[first + 1].as<std::string>());
  if (!txid.ok()) return txid.status();
  entry.txid = *txid;
  entry.message.message_id = row[first + 2].as<std::string>();
  entry.message.saga_id = row[first + 3].as<std::string>();
  entry.message.type = row[first + 4].as<std::string>();
  entry.message.header_json = row[first + 5].as<std::string>();
  entry.message.payload_json = row[first + 6].as<std::string>();
  entry.message.at_ms = row[first + 7].as<int64_t>();
  entry.recorded_ms = row[first + 8].as<int64_t>();
  entry.saga_type = row[first + 9].as<std::string>();
  return entry;
}

}  // namespace

namespace {

pg::ConnectionPool::Options LogPoolOptions(std::string dsn, int connections) {
  pg::ConnectionPool::Options options;
  options.dsn = std::move(dsn);
  options.size = std::max(1, connections);
  return options;
}

}  // namespace

PgOutboxLog::PgOutboxLog(std::string dsn, int connections)
    : pool_(std::make_unique<pg::ConnectionPool>(
          LogPoolOptions(std::move(dsn), connections))) {}

PgOutboxLog::~PgOutboxLog() = default;

absl::StatusOr<StreamCursor> PgOutboxLog::CursorAfter(int64_t position) {
  return pool_->Run(
      "finding outbox position " + std::to_string(position),
      [&](pqxx::connection& conn) -> absl::StatusOr<StreamCursor> {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows = tx.exec_params(kFindPositionSql, position);
        if (rows.empty()) {
          return absl::OutOfRangeError(
              "outbox position " + std::to_string(position) +
              " does not exist: it was pruned or never handed out; resume "
              "from a position the stream returned, or from 0");
        }
        absl::StatusOr<uint64_t> txid = ParseTxid(rows[0][0].as<std::string>());
        if (!txid.ok()) return txid.status();
        return StreamCursor{*txid, position};
      });
}

absl::StatusOr<StreamPage> PgOutboxLog::Read(const StreamCursor& after,
                                             int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError("outbox read limit must be positive");
  }
  return pool_->Run(
      "reading the outbox stream",
      [&](pqxx::connection& conn) -> absl::StatusOr<StreamPage> {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows = tx.exec_params(
            kReadStreamSql, std::to_string(after.txid), after.position, limit);
        StreamPage page;
        page.next = after;
        uint64_t horizon = 0;
        for (const pqxx::row& row : rows) {
          absl::StatusOr<uint64_t> parsed = ParseTxid(row[0].as<std::string>());
          if (!parsed.ok()) return parsed.status();
          horizon = *parsed;
          if (row[1].is_null()) break;  // nothing readable
          absl::StatusOr<OutboxEntry> entry = EntryFromRow(row, 2);
          if (!entry.ok()) return entry.status();
          page.next = {entry->txid, entry->position};
          page.entries.push_back(*std::move(entry));
        }
        page.caught_up = page.entries.size() < static_cast<size_t>(limit);
        // Nothing can appear below the horizon any more: the next read may
        // start there. The horizon never moves back in practice; max()
        // keeps the cursor monotonic regardless.
        if (page.caught_up) {
          page.next = std::max(page.next, StreamCursor{horizon, 0});
        }
        return page;
      });
}

struct PgOutboxQueue::Session {
  // Null until connected, and again after the session ended.
  std::unique_ptr<pqxx::connection> conn;
  // This session holds the dispatcher lock.
  bool leading = false;

  // Runs `fn` on the session (connecting first if there is none) and
  // classifies what it throws (orchestrator/pg/errors.h). A session that
  // ended is dropped and, with it, the lead: a new one holds no lock. Not
  // a pool's session, which could be replaced unnoticed.
  template <typename Fn>
  std::invoke_result_t<Fn, pqxx::connection&> Run(const std::string& dsn,
                                                  const std::string& what,
                                                  pg::Phase phase, Fn&& fn) {
    if (conn == nullptr) {
      try {
        conn = std::make_unique<pqxx::connection>(dsn);
      } catch (...) {
        return pg::Classify(std::current_exception(), pg::Phase::kConnect, what)
            .status;
      }
    }
    try {
      return fn(*conn);
    } catch (...) {
      pg::Failure failure =
          pg::Classify(std::current_exception(), phase, what, conn->is_open());
      if (failure.EndsSession()) {
        conn.reset();
        leading = false;
      }
      return failure.status;
    }
  }
};

PgOutboxQueue::PgOutboxQueue(std::string dsn)
    : dsn_(std::move(dsn)), session_(std::make_unique<Session>()) {}

PgOutboxQueue::~PgOutboxQueue() = default;

absl::StatusOr<bool> PgOutboxQueue::Lead() {
  if (session_->leading) return true;
  absl::StatusOr<bool> locked = session_->Run(
      dsn_, "taking the outbox dispatcher lock", pg::Phase::kStatement,
      [&](pqxx::connection& conn) -> absl::StatusOr<bool> {
        pqxx::nontransaction tx(conn);
        return tx.exec_params(kTryLockSql, kDispatcherLockKey)[0][0].as<bool>();
      });
  session_->leading = locked.ok() && *locked;
  return locked;
}

absl::StatusOr<std::vector<OutboxEntry>> PgOutboxQueue::Pending(int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError("outbox read limit must be positive");
  }
  if (!session_->leading) {
    return absl::FailedPreconditionError(
        "reading pending outbox messages without the dispatcher lock");
  }
  return session_->Run(
      dsn_, "reading pending outbox messages", pg::Phase::kStatement,
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<OutboxEntry>> {
        pqxx::nontransaction tx(conn);
        std::vector<OutboxEntry> entries;
        for (const pqxx::row& row : tx.exec_params(kPendingSql, limit)) {
          absl::StatusOr<OutboxEntry> entry = EntryFromRow(row, 0);
          if (!entry.ok()) return entry.status();
          entries.push_back(*std::move(entry));
        }
        return entries;
      });
}

absl::Status PgOutboxQueue::MarkDispatched(
    const std::vector<int64_t>& positions) {
  if (positions.empty()) return absl::OkStatus();
  std::string array = "{";
  for (size_t i = 0; i < positions.size(); ++i) {
    if (i > 0) array += ",";
    array += std::to_string(positions[i]);
  }
  array += "}";
  // Autocommitted: a session lost while it ran leaves it in doubt (marking
  // again is harmless).
  return session_->Run(dsn_, "marking outbox messages dispatched",
                       pg::Phase::kCommit,
                       [&](pqxx::connection& conn) -> absl::Status {
                         pqxx::nontransaction tx(conn);
                         tx.exec_params0(kMarkDispatchedSql, array);
                         return absl::OkStatus();
                       });
}

}  // namespace saga::store
