#include "orchestrator/store/postgres/pg_store.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "orchestrator/store/batch_checks.h"

namespace saga::store {
namespace {

using Json = nlohmann::json;

// The columns SummaryFromRow reads, in its order. Timestamps cross the
// boundary as Unix milliseconds; interval arithmetic keeps the conversion
// exact both ways.
#define SAGA_SUMMARY_COLUMNS                                              \
  "saga_id, saga_type, definition_version, status, current_step, error, " \
  "input::text, COALESCE(idempotency_key, ''), last_seq, "                \
  "(EXTRACT(EPOCH FROM created_at) * 1000)::bigint, "                     \
  "(EXTRACT(EPOCH FROM updated_at) * 1000)::bigint, current_attempt "

// The batch's events and outbox messages arrive as two JSON arrays, so one
// statement writes a batch of any size: $events rows are {seq, type, step,
// attempt, data, at_ms}; $outbox rows are {ord, message_id, saga_id, type,
// header, payload, at_ms}. They are inserted only if the saga row was
// written (created, or fenced-updated), so a refused batch leaves no trace
// and raises no error inside a shared transaction.
#define SAGA_INSERT_BATCH_ROWS(source, events_param, outbox_param)            \
  "new_events AS ("                                                           \
  " INSERT INTO saga_events (saga_id, seq, type, step, attempt, data, at_ms)" \
  " SELECT " source                                                           \
  ".saga_id, e.seq, e.type, e.step, e.attempt, e.data,"                       \
  "  e.at_ms"                                                                 \
  " FROM " source ", jsonb_to_recordset(" events_param                        \
  "::jsonb)"                                                                  \
  "  AS e(seq bigint, type text, step int, attempt int, data jsonb,"          \
  "   at_ms bigint)"                                                          \
  " RETURNING 1), "                                                           \
  "new_outbox AS ("                                                           \
  " INSERT INTO outbox (message_id, saga_id, type, header, payload, at_ms)"   \
  " SELECT o.message_id, o.saga_id, o.type, o.header, o.payload, o.at_ms"     \
  " FROM " source ", jsonb_to_recordset(" outbox_param                        \
  "::jsonb)"                                                                  \
  "  AS o(ord int, message_id text, saga_id text, type text, header jsonb,"   \
  "   payload jsonb, at_ms bigint)"                                           \
  " ORDER BY o.ord"                                                           \
  " RETURNING 1) "

constexpr char kCreateSaga[] = "create_saga";
constexpr char kCreateSagaSql[] =
    "WITH new_saga AS ("
    " INSERT INTO sagas (saga_id, saga_type, definition_version, status,"
    "  current_step, error, input, idempotency_key, last_seq, created_at,"
    "  updated_at, current_attempt)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9,"
    "  TIMESTAMPTZ 'epoch' + $10::bigint * INTERVAL '1 millisecond',"
    "  TIMESTAMPTZ 'epoch' + $11::bigint * INTERVAL '1 millisecond', $14)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    " RETURNING saga_id), " SAGA_INSERT_BATCH_ROWS("new_saga", "$12", "$13")
    "SELECT (SELECT count(*) FROM new_saga), (SELECT count(*) FROM new_events),"
    " (SELECT count(*) FROM new_outbox)";

constexpr char kFindByKey[] = "find_by_key";
constexpr char kFindByKeySql[] =
    "SELECT saga_id, saga_type = $2 AND input = $3::jsonb"
    " FROM sagas WHERE idempotency_key = $1";

// The WHERE on last_seq is the fence: a writer whose expected seq is stale
// updates nothing (the (saga_id, seq) primary key backs it up). The last
// column reads the statement's snapshot, so a refusal can tell a missing
// saga from a fenced one without another round trip.
constexpr char kAppendBatch[] = "append_batch";
constexpr char kAppendBatchSql[] =
    "WITH fenced AS ("
    " UPDATE sagas SET status = $3, current_step = $4, error = $5,"
    "  last_seq = $6, current_attempt = $10,"
    "  updated_at = TIMESTAMPTZ 'epoch' + $7::bigint * INTERVAL '1 millisecond'"
    " WHERE saga_id = $1 AND last_seq = $2"
    " RETURNING saga_id), " SAGA_INSERT_BATCH_ROWS("fenced", "$8", "$9")
    "SELECT (SELECT count(*) FROM fenced), (SELECT count(*) FROM new_events),"
    " (SELECT count(*) FROM new_outbox),"
    " (SELECT last_seq FROM sagas WHERE saga_id = $1)";

constexpr char kSelectSummary[] = "select_summary";
constexpr char kSelectSummarySql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS "FROM sagas WHERE saga_id = $1";

constexpr char kSelectEvents[] = "select_events";
constexpr char kSelectEventsSql[] =
    "SELECT seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events WHERE saga_id = $1 ORDER BY seq";

constexpr char kSelectUnfinished[] = "select_unfinished";
constexpr char kSelectUnfinishedSql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS
    "FROM sagas WHERE status IN ('RUNNING', 'COMPENSATING') ORDER BY saga_id";

constexpr char kSelectUnfinishedEvents[] = "select_unfinished_events";
constexpr char kSelectUnfinishedEventsSql[] =
    "SELECT e.saga_id, e.seq, e.type, e.step, e.attempt, e.data::text, e.at_ms"
    " FROM saga_events e JOIN sagas s ON s.saga_id = e.saga_id"
    " WHERE s.status IN ('RUNNING', 'COMPENSATING')"
    " ORDER BY e.saga_id, e.seq";

// Newest first; a page resumes strictly after the (created_at, saga_id)
// of the previous page's last row, so rows never repeat or go missing.
constexpr char kListSagas[] = "list_sagas";
constexpr char kListSagasSql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS
    "FROM sagas"
    " WHERE ($1::text IS NULL OR saga_type = $1)"
    "  AND ($2::text IS NULL OR status = $2)"
    "  AND ($3::bigint IS NULL OR (created_at, saga_id) <"
    "   (TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 millisecond',"
    "    $4::text))"
    "  AND ($6::bigint IS NULL OR created_at >"
    "   TIMESTAMPTZ 'epoch' + $6::bigint * INTERVAL '1 millisecond')"
    " ORDER BY created_at DESC, saga_id DESC"
    " LIMIT $5";

constexpr char kInsertDefinition[] = "insert_definition";
constexpr char kInsertDefinitionSql[] =
    "INSERT INTO saga_definitions (name, version, source)"
    " VALUES ($1, $2, $3) ON CONFLICT (name, version) DO NOTHING";

constexpr char kSelectDefinition[] = "select_definition";
constexpr char kSelectDefinitionSql[] =
    "SELECT source FROM saga_definitions WHERE name = $1 AND version = $2";

#undef SAGA_INSERT_BATCH_ROWS
#undef SAGA_SUMMARY_COLUMNS

struct Statement {
  const char* name;
  const char* sql;
};

constexpr Statement kStatements[] = {
    {kCreateSaga, kCreateSagaSql},
    {kFindByKey, kFindByKeySql},
    {kAppendBatch, kAppendBatchSql},
    {kSelectSummary, kSelectSummarySql},
    {kSelectEvents, kSelectEventsSql},
    {kSelectUnfinished, kSelectUnfinishedSql},
    {kSelectUnfinishedEvents, kSelectUnfinishedEventsSql},
    {kListSagas, kListSagasSql},
    {kInsertDefinition, kInsertDefinitionSql},
    {kSelectDefinition, kSelectDefinitionSql},
};

// Reads see one snapshot, so a summary and its events always agree. They
// end by rolling back in the destructor: committing could only turn a lost
// connection into an in-doubt outcome, which means nothing for a read.
using ReadTransaction =
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

std::string JsonText(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string EventsJson(const std::vector<core::Event>& events) {
  Json rows = Json::array();
  for (const core::Event& event : events) {
    rows.push_back({{"seq", event.seq},
                    {"type", core::EventTypeName(event.type)},
                    {"step", event.step},
                    {"attempt", event.attempt},
                    {"data", Json::parse(core::EncodeEventData(event))},
                    {"at_ms", event.at_ms}});
  }
  return JsonText(rows);
}

std::string OutboxJson(const AppendBatch& batch) {
  Json rows = Json::array();
  int ord = 0;
  for (const core::OutboxMessage& message : batch.outbox) {
    rows.push_back({{"ord", ord++},
                    {"message_id", message.message_id},
                    {"saga_id", message.saga_id.empty() ? BatchSagaId(batch)
                                                        : message.saga_id},
                    {"type", message.type},
                    {"header", Json::parse(message.header_json)},
                    {"payload", Json::parse(message.payload_json)},
                    {"at_ms", message.at_ms}});
  }
  return JsonText(rows);
}

// Reads the columns of SAGA_SUMMARY_COLUMNS.
absl::StatusOr<SagaSummary> SummaryFromRow(const pqxx::row& row) {
  SagaSummary summary;
  summary.saga_id = row[0].as<std::string>();
  summary.saga_type = row[1].as<std::string>();
  summary.definition_version = row[2].as<int>();
  absl::StatusOr<core::SagaStatus> status =
      core::ParseSagaStatus(row[3].as<std::string>());
  if (!status.ok()) {
    return absl::InternalError("saga " + summary.saga_id + ": stored " +
                               std::string(status.status().message()));
  }
  summary.status = *status;
  summary.current_step = row[4].as<std::string>();
  summary.error = row[5].as<std::string>();
  absl::StatusOr<std::string> input = CanonicalJson(row[6].as<std::string>());
  if (!input.ok()) {
    return absl::InternalError("saga " + summary.saga_id +
                               ": stored input is not JSON");
  }
  summary.input_json = *std::move(input);
  summary.idempotency_key = row[7].as<std::string>();
  summary.last_seq = row[8].as<int64_t>();
  summary.created_ms = row[9].as<int64_t>();
  summary.updated_ms = row[10].as<int64_t>();
  summary.current_attempt = row[11].as<int>();
  return summary;
}

// Reads (seq, type, step, attempt, data, at_ms) starting at column `first`.
absl::StatusOr<core::Event> EventFromRow(const std::string& saga_id,
                                         const pqxx::row& row, int first) {
  absl::StatusOr<core::Event> event = core::DecodeEvent(
      row[first + 1].as<std::string>(), row[first].as<int64_t>(),
      row[first + 5].as<int64_t>(), row[first + 2].as<int>(),
      row[first + 3].as<int>(), row[first + 4].as<std::string>());
  if (!event.ok()) {
    return absl::InternalError("saga " + saga_id + ": stored " +
                               std::string(event.status().message()));
  }
  return event;
}

std::optional<std::string> NullIfEmpty(const std::string& value) {
  if (value.empty()) return std::nullopt;
  return value;
}

// SQLSTATEs that mean the session is gone: connection exceptions (08) and
// the server shutting down or terminating the backend (57P0x).
bool IsConnectionLoss(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0;
}

}  // namespace

class PgStore::ConnectionPool {
 public:
  ConnectionPool(std::string dsn, int size) : dsn_(std::move(dsn)) {
    idle_.resize(size);
  }

  // Opens every connection now; Unavailable if one cannot be opened.
  absl::Status Fill() {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::unique_ptr<pqxx::connection>& conn : idle_) {
      try {
        conn = Connect();
      } catch (const std::exception& e) {
        return absl::UnavailableError(
            std::string("cannot connect to PostgreSQL: ") + e.what());
      }
    }
    return absl::OkStatus();
  }

  // Runs `fn(connection)` on a pooled connection and turns libpqxx's
  // exceptions into a status. A connection that broke is dropped, and its
  // slot reconnects on a later call.
  template <typename Fn>
  std::invoke_result_t<Fn, pqxx::connection&> Run(const std::string& what,
                                                  Fn&& fn) {
    using Result = std::invoke_result_t<Fn, pqxx::connection&>;
    std::unique_ptr<pqxx::connection> conn = Take();
    bool broken = false;
    Result result = [&]() -> Result {
      try {
        if (conn != nullptr && !LooksAlive(*conn)) conn.reset();
        if (conn == nullptr) conn = Connect();
        return fn(*conn);
      } catch (const pqxx::in_doubt_error& e) {
        broken = true;
        return absl::UnknownError(what +
                                  ": commit outcome unknown: " + e.what());
      } catch (const pqxx::statement_completion_unknown& e) {
        broken = true;
        return absl::UnknownError(what + ": outcome unknown: " + e.what());
      } catch (const pqxx::broken_connection& e) {
        broken = true;
        return absl::UnavailableError(what +
                                      ": database unreachable: " + e.what());
      } catch (const pqxx::transaction_rollback& e) {
        return absl::UnavailableError(
            what + ": rolled back by the database, retry: " + e.what());
      } catch (const pqxx::unique_violation& e) {
        return absl::AlreadyExistsError(what + ": " + e.what());
      } catch (const pqxx::sql_error& e) {
        if (conn == nullptr || !conn->is_open() ||
            IsConnectionLoss(e.sqlstate())) {
          broken = true;
          return absl::UnavailableError(what +
                                        ": database unreachable: " + e.what());
        }
        return absl::InternalError(what + ": " + e.what());
      } catch (const std::exception& e) {
        return absl::InternalError(what + ": " + e.what());
      }
    }();
    if (broken) {
      spdlog::warn("dropping a PostgreSQL connection: {}",
                   std::string(StatusOf(result).message()));
      conn.reset();
    }
    Give(std::move(conn));
    return result;
  }

 private:
  static const absl::Status& StatusOf(const absl::Status& status) {
    return status;
  }
  template <typename T>
  static const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
    return status_or.status();
  }

  // An idle session has nothing to read: the server talks only when asked
  // (this store uses no LISTEN). A readable socket means the server ended
  // the session (restart, pg_terminate_backend) and sent its goodbye, so the
  // call reconnects at once instead of failing. libpqxx 6.4 would also leak
  // a result if a query met the dead session.
  static bool LooksAlive(const pqxx::connection& conn) {
    if (!conn.is_open() || conn.sock() < 0) return false;
    pollfd pending{conn.sock(), POLLIN, 0};
    return ::poll(&pending, 1, 0) == 0;
  }

  // Throws what libpqxx throws when the server cannot be reached.
  std::unique_ptr<pqxx::connection> Connect() const {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    // Prepared now rather than on first use: libpqxx 6.4 leaks a result
    // when a lazy PREPARE meets a connection that died in the meantime.
    for (const Statement& statement : kStatements) {
      conn->prepare(statement.name, statement.sql);
      conn->prepare_now(statement.name);
    }
    return conn;
  }

  // Waits for a free slot; the connection may be null (to be reopened).
  std::unique_ptr<pqxx::connection> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    available_.wait(lock, [this] { return !idle_.empty(); });
    std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }

  void Give(std::unique_ptr<pqxx::connection> conn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Live connections go to the back, where Take looks first.
      if (conn == nullptr) {
        idle_.insert(idle_.begin(), nullptr);
      } else {
        idle_.push_back(std::move(conn));
      }
    }
    available_.notify_one();
  }

  const std::string dsn_;
  std::mutex mu_;
  std::condition_variable available_;
  // Free slots; a null one reconnects when taken.
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

PgStore::PgStore(std::unique_ptr<ConnectionPool> pool)
    : pool_(std::move(pool)) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& dsn,
                                                       int pool_size) {
  if (pool_size < 1) {
    return absl::InvalidArgumentError("pool size must be at least 1, got " +
                                      std::to_string(pool_size));
  }
  auto pool = std::make_unique<ConnectionPool>(dsn, pool_size);
  if (absl::Status status = pool->Fill(); !status.ok()) return status;
  return std::unique_ptr<PgStore>(new PgStore(std::move(pool)));
}

absl::StatusOr<CreateResult> PgStore::Create(const AppendBatch& first) {
  if (absl::Status status = CheckBatch(first, /*creating=*/true);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::string> input = CanonicalJson(first.summary.input_json);
  if (!input.ok()) return input.status();
  const std::string& saga_id = BatchSagaId(first);
  const SagaSummary& summary = first.summary;
  const std::string events = EventsJson(first.events);
  const std::string outbox = OutboxJson(first);
  return pool_->Run(
      "creating saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::StatusOr<CreateResult> {
        pqxx::work tx(conn);
        const pqxx::row counts = tx.exec_prepared1(
            kCreateSaga, saga_id, summary.saga_type, summary.definition_version,
            core::SagaStatusName(summary.status), summary.current_step,
            summary.error, *input, NullIfEmpty(summary.idempotency_key),
            summary.last_seq, summary.created_ms, summary.updated_ms, events,
            outbox, summary.current_attempt);
        if (counts[0].as<int64_t>() == 1) {
          tx.commit();
          return CreateResult{saga_id, true};
        }
        // The key is taken. ON CONFLICT waited for the other writer to
        // commit, and this statement's fresh snapshot sees its row.
        const pqxx::result existing = tx.exec_prepared(
            kFindByKey, summary.idempotency_key, summary.saga_type, *input);
        if (existing.empty()) {
          return absl::InternalError("idempotency key '" +
                                     summary.idempotency_key +
                                     "' conflicted but no saga holds it");
        }
        const std::string existing_id = existing[0][0].as<std::string>();
        if (!existing[0][1].as<bool>()) {
          return absl::AlreadyExistsError(
              "idempotency key '" + summary.idempotency_key +
              "' was used for saga " + existing_id + " with a different input");
        }
        return CreateResult{existing_id, false};
      });
}

absl::Status PgStore::Append(const AppendBatch& batch) {
  if (absl::Status status = CheckBatch(batch, /*creating=*/false);
      !status.ok()) {
    return status;
  }
  const std::string& saga_id = BatchSagaId(batch);
  const SagaSummary& summary = batch.summary;
  const std::string events = EventsJson(batch.events);
  const std::string outbox = OutboxJson(batch);
  return pool_->Run(
      "appending to saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::Status {
        pqxx::work tx(conn);
        const pqxx::row result = tx.exec_prepared1(
            kAppendBatch, saga_id, batch.expected_last_seq,
            core::SagaStatusName(summary.status), summary.current_step,
            summary.error, summary.last_seq, summary.updated_ms, events, outbox,
            summary.current_attempt);
        if (result[0].as<int64_t>() == 1) {
          tx.commit();
          return absl::OkStatus();
        }
        if (result[3].is_null()) {
          return absl::NotFoundError("saga " + saga_id + " not found");
        }
        return absl::AbortedError("fenced: saga " + saga_id + " is at seq " +
                                  result[3].as<std::string>() +
                                  ", the batch expected " +
                                  std::to_string(batch.expected_last_seq));
      });
}

absl::StatusOr<SagaRecord> PgStore::Load(const std::string& saga_id) {
  return pool_->Run(
      "loading saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::StatusOr<SagaRecord> {
        ReadTransaction tx(conn);
        const pqxx::result summary_rows =
            tx.exec_prepared(kSelectSummary, saga_id);
        if (summary_rows.empty()) {
          return absl::NotFoundError("saga " + saga_id + " not found");
        }
        SagaRecord record;
        absl::StatusOr<SagaSummary> summary = SummaryFromRow(summary_rows[0]);
        if (!summary.ok()) return summary.status();
        record.summary = *std::move(summary);
        const pqxx::result event_rows =
            tx.exec_prepared(kSelectEvents, saga_id);
        record.events.reserve(event_rows.size());
        for (const pqxx::row& row : event_rows) {
          absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 0);
          if (!event.ok()) return event.status();
          record.events.push_back(*std::move(event));
        }
        return record;
      });
}

absl::StatusOr<SagaSummary> PgStore::LoadSummary(const std::string& saga_id) {
  return pool_->Run(
      "loading saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::StatusOr<SagaSummary> {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows = tx.exec_prepared(kSelectSummary, saga_id);
        if (rows.empty()) {
          return absl::NotFoundError("saga " + saga_id + " not found");
        }
        return SummaryFromRow(rows[0]);
      });
}

absl::StatusOr<std::vector<SagaRecord>> PgStore::LoadUnfinished() {
  return pool_->Run(
      "loading unfinished sagas",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<SagaRecord>> {
        ReadTransaction tx(conn);
        std::vector<SagaRecord> records;
        std::unordered_map<std::string, size_t> index;
        for (const pqxx::row& row : tx.exec_prepared(kSelectUnfinished)) {
          absl::StatusOr<SagaSummary> summary = SummaryFromRow(row);
          if (!summary.ok()) return summary.status();
          index[summary->saga_id] = records.size();
          records.push_back({*std::move(summary), {}});
        }
        for (const pqxx::row& row : tx.exec_prepared(kSelectUnfinishedEvents)) {
          const std::string saga_id = row[0].as<std::string>();
          auto it = index.find(saga_id);
          if (it == index.end()) {
            return absl::InternalError("event of saga " + saga_id +
                                       " outside the unfinished snapshot");
          }
          absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 1);
          if (!event.ok()) return event.status();
          records[it->second].events.push_back(*std::move(event));
        }
        return records;
      });
}

absl::StatusOr<ListPage> PgStore::List(const ListQuery& query) {
  if (query.limit <= 0) {
    return absl::InvalidArgumentError("list limit must be positive, got " +
                                      std::to_string(query.limit));
  }
  std::optional<std::string> status;
  if (query.status.has_value()) status = core::SagaStatusName(*query.status);
  std::optional<int64_t> after_ms;
  std::optional<std::string> after_id;
  std::optional<int64_t> created_after;
  if (query.created_after_ms > 0) created_after = query.created_after_ms;
  if (query.after.has_value()) {
    after_ms = query.after->first;
    after_id = query.after->second;
  }
  return pool_->Run(
      "listing sagas", [&](pqxx::connection& conn) -> absl::StatusOr<ListPage> {
        pqxx::nontransaction tx(conn);
        // One row past the page tells whether another page exists.
        const pqxx::result rows = tx.exec_prepared(
            kListSagas, NullIfEmpty(query.saga_type), status, after_ms,
            after_id, static_cast<int64_t>(query.limit) + 1, created_after);
        ListPage page;
        for (const pqxx::row& row : rows) {
          if (page.sagas.size() == static_cast<size_t>(query.limit)) {
            page.more = true;
            break;
          }
          absl::StatusOr<SagaSummary> summary = SummaryFromRow(row);
          if (!summary.ok()) return summary.status();
          page.sagas.push_back(*std::move(summary));
        }
        return page;
      });
}

absl::Status PgStore::PutDefinition(const std::string& name, int version,
                                    const std::string& source) {
  const std::string what =
      "recording definition " + name + " version " + std::to_string(version);
  return pool_->Run(what, [&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    const pqxx::result inserted =
        tx.exec_prepared(kInsertDefinition, name, version, source);
    if (inserted.affected_rows() == 0) {
      const pqxx::result existing =
          tx.exec_prepared(kSelectDefinition, name, version);
      if (!existing.empty() && existing[0][0].as<std::string>() != source) {
        return absl::FailedPreconditionError(
            "definition " + name + " version " + std::to_string(version) +
            " is already recorded with a different source; give the changed "
            "definition a new version");
      }
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PgStore::GetDefinition(const std::string& name,
                                                   int version) {
  return pool_->Run(
      "reading definition " + name + " version " + std::to_string(version),
      [&](pqxx::connection& conn) -> absl::StatusOr<std::string> {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows =
            tx.exec_prepared(kSelectDefinition, name, version);
        if (rows.empty()) {
          return absl::NotFoundError("definition " + name + " version " +
                                     std::to_string(version) + " not found");
        }
        return rows[0][0].as<std::string>();
      });
}

}  // namespace saga::store
