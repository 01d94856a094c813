#include "orchestrator/store/postgres/pg_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <unordered_map>
#include <utility>

#include "orchestrator/pg/await_standby.h"
#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/store/batch_checks.h"
#include "orchestrator/store/postgres/group_rows.h"

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
  "(EXTRACT(EPOCH FROM updated_at) * 1000)::bigint, current_attempt, "    \
  "COALESCE(lease_owner, ''), "                                           \
  "COALESCE((EXTRACT(EPOCH FROM lease_expires_at) * 1000)::bigint, 0) "

// A group of batches arrives as three JSON arrays, so one statement writes a
// group of any size: $1 has a row per batch (its saga row, keyed by `idx`,
// the batch's position in the group), $2 the events {saga_id, seq, type,
// step, attempt, data, at_ms, writer} and $3 the outbox messages {owner (the
// batch's saga), idx, ord, message_id, saga_id, type, header, payload, at_ms}.
// A group never holds two batches of one saga (see PgStore::Append). Events and
// messages are inserted only for batches whose saga row was written (created,
// or fenced-updated), so a refused batch leaves no trace and raises no error:
// the others in its group still commit.
#define SAGA_INSERT_GROUP_ROWS(written)                                     \
  "new_events AS ("                                                         \
  " INSERT INTO saga_events"                                                \
  "  (saga_id, seq, type, step, attempt, data, at_ms, written_by)"          \
  " SELECT e.saga_id, e.seq, e.type, e.step, e.attempt, e.data, e.at_ms,"   \
  "  e.writer"                                                              \
  " FROM jsonb_to_recordset($2::jsonb)"                                     \
  "  AS e(saga_id text, seq bigint, type text, step int, attempt int,"      \
  "   data jsonb, at_ms bigint, writer text)"                               \
  " JOIN " written                                                          \
  " w ON w.saga_id = e.saga_id), "                                          \
  "new_outbox AS ("                                                         \
  " INSERT INTO outbox (message_id, saga_id, type, header, payload, at_ms)" \
  " SELECT o.message_id, o.saga_id, o.type, o.header, o.payload, o.at_ms"   \
  " FROM jsonb_to_recordset($3::jsonb)"                                     \
  "  AS o(owner text, idx int, ord int, message_id text, saga_id text,"     \
  "   type text, header jsonb, payload jsonb, at_ms bigint)"                \
  " JOIN " written                                                          \
  " w ON w.saga_id = o.owner"                                               \
  " ORDER BY o.idx, o.ord) "

#define SAGA_MS_TO_TIMESTAMP(ms) \
  "TIMESTAMPTZ 'epoch' + " ms " * INTERVAL '1 millisecond'"

// Leases run on the database's clock, the one clock all instances share.
#define SAGA_LEASE_UNTIL(ttl_ms) "now() + " ttl_ms " * INTERVAL '1 millisecond'"

// Sagas that still need a driver (sagas_unfinished_idx).
#define SAGA_UNFINISHED "status IN ('RUNNING', 'COMPENSATING')"

// Returns, per batch in idx order, whether its saga row was inserted. A
// batch whose idempotency key is taken (by an earlier saga or by an earlier
// batch of the same group) inserts nothing; the caller then looks the key
// up in the same transaction.
constexpr char kCreateGroup[] = "create_group";
constexpr char kCreateGroupSql[] =
    "WITH b AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "  AS b(idx int, saga_id text, saga_type text, definition_version int,"
    "   status text, current_step text, error text, input jsonb,"
    "   idempotency_key text, last_seq bigint, created_ms bigint,"
    "   updated_ms bigint, current_attempt int, writer text,"
    "   lease_ttl_ms bigint)), "
    "written AS ("
    " INSERT INTO sagas (saga_id, saga_type, definition_version, status,"
    "  current_step, error, input, idempotency_key, last_seq, created_at,"
    "  updated_at, current_attempt, lease_owner, lease_expires_at)"
    " SELECT saga_id, saga_type, definition_version, status, current_step,"
    "  error, input, idempotency_key, last_seq,"
    "  " SAGA_MS_TO_TIMESTAMP("created_ms") ","
    "  " SAGA_MS_TO_TIMESTAMP("updated_ms") ", current_attempt, writer,"
    "  " SAGA_LEASE_UNTIL("lease_ttl_ms")
    " FROM b ORDER BY idx"
    " ON CONFLICT (idempotency_key) DO NOTHING"
    " RETURNING saga_id), " SAGA_INSERT_GROUP_ROWS("written")
    "SELECT b.idx, w.saga_id IS NOT NULL"
    " FROM b LEFT JOIN written w ON w.saga_id = b.saga_id ORDER BY b.idx";

constexpr char kFindByKey[] = "find_by_key";
constexpr char kFindByKeySql[] =
    "SELECT saga_id, saga_type = $2 AND input = $3::jsonb"
    " FROM sagas WHERE idempotency_key = $1";

// The WHERE on last_seq and lease_owner is the fence: a writer whose
// expected seq is stale, or who no longer holds the lease, updates nothing
// (the (saga_id, seq) primary key backs it up); the holder's write extends
// its lease. Returns a row per refused batch (in idx order; none when all
// were written) with the saga's last_seq and lease owner as the
// statement's snapshot saw them, so a refusal can tell a missing saga from
// a fenced one without another round trip, and the summary lookup is paid
// only for the rare refusal.
constexpr char kAppendGroup[] = "append_group";
constexpr char kAppendGroupSql[] =
    "WITH b AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "  AS b(idx int, saga_id text, expected bigint, status text,"
    "   current_step text, error text, last_seq bigint, updated_ms bigint,"
    "   current_attempt int, writer text, lease_ttl_ms bigint)), "
    "written AS ("
    " UPDATE sagas s SET status = b.status, current_step = b.current_step,"
    "  error = b.error, last_seq = b.last_seq,"
    "  current_attempt = b.current_attempt,"
    "  updated_at = " SAGA_MS_TO_TIMESTAMP("b.updated_ms") ","
    "  lease_expires_at = " SAGA_LEASE_UNTIL("b.lease_ttl_ms")
    " FROM b WHERE s.saga_id = b.saga_id AND s.last_seq = b.expected"
    "  AND s.lease_owner = b.writer"
    " RETURNING s.saga_id), " SAGA_INSERT_GROUP_ROWS("written")
    "SELECT b.idx, s.last_seq, s.lease_owner"
    " FROM b LEFT JOIN sagas s ON s.saga_id = b.saga_id"
    " WHERE NOT EXISTS (SELECT 1 FROM written w WHERE w.saga_id = b.saga_id)"
    " ORDER BY b.idx";

constexpr char kSelectSummary[] = "select_summary";
constexpr char kSelectSummarySql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS "FROM sagas WHERE saga_id = $1";

constexpr char kSelectEvents[] = "select_events";
constexpr char kSelectEventsSql[] =
    "SELECT seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events WHERE saga_id = $1 ORDER BY seq";

// Takes free and expired leases ($1 owner, $2 ttl ms, $3 limit) of sagas
// after $4 in id order (the range scan of sagas_unfinished_idx). SKIP
// LOCKED passes over sagas being written (by their holder) or claimed by
// another instance, so claimers neither wait nor collide.
constexpr char kClaimSagas[] = "claim_sagas";
constexpr char kClaimSagasSql[] =
    "WITH c AS ("
    " SELECT saga_id AS claimed FROM sagas"
    " WHERE " SAGA_UNFINISHED " AND saga_id > $4"
    "  AND (lease_owner IS NULL OR lease_expires_at < now())"
    " ORDER BY saga_id LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE sagas SET lease_owner = $1,"
    " lease_expires_at = " SAGA_LEASE_UNTIL("$2::bigint")
    " FROM c WHERE saga_id = c.claimed RETURNING " SAGA_SUMMARY_COLUMNS;

// The histories of the sagas named in the JSON array $1.
constexpr char kSelectEventsOf[] = "select_events_of";
constexpr char kSelectEventsOfSql[] =
    "SELECT saga_id, seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
    " ORDER BY saga_id, seq";

// One saga's lease ($1 saga, $2 owner, $3 ttl ms); see SagaStore::ClaimSaga.
constexpr char kClaimSaga[] = "claim_saga";
constexpr char kClaimSagaSql[] =
    "UPDATE sagas SET lease_owner = $2,"
    " lease_expires_at = " SAGA_LEASE_UNTIL("$3::bigint")
    " WHERE saga_id = $1 AND (lease_owner IS NULL OR lease_owner = $2"
    "  OR lease_expires_at < now() OR NOT (" SAGA_UNFINISHED "))"
    " RETURNING saga_id";

// Rows locked by an append are skipped: the append extends their lease.
constexpr char kRenewLeases[] = "renew_leases";
constexpr char kRenewLeasesSql[] =
    "UPDATE sagas SET lease_expires_at = " SAGA_LEASE_UNTIL("$2::bigint")
    " WHERE lease_owner = $1 AND saga_id IN ("
    "  SELECT saga_id FROM sagas WHERE lease_owner = $1 AND " SAGA_UNFINISHED
    "  FOR UPDATE SKIP LOCKED)";

constexpr char kReleaseLeases[] = "release_leases";
constexpr char kReleaseLeasesSql[] =
    "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL"
    " WHERE lease_owner = $1 AND " SAGA_UNFINISHED;

constexpr char kReleaseLease[] = "release_lease";
constexpr char kReleaseLeaseSql[] =
    "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL"
    " WHERE saga_id = $1 AND lease_owner = $2";

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

#undef SAGA_INSERT_GROUP_ROWS
#undef SAGA_LEASE_UNTIL
#undef SAGA_MS_TO_TIMESTAMP
#undef SAGA_UNFINISHED
#undef SAGA_SUMMARY_COLUMNS

struct Statement {
  const char* name;
  const char* sql;
};

constexpr Statement kStatements[] = {
    {kCreateGroup, kCreateGroupSql},
    {kFindByKey, kFindByKeySql},
    {kAppendGroup, kAppendGroupSql},
    {kSelectSummary, kSelectSummarySql},
    {kSelectEvents, kSelectEventsSql},
    {kClaimSagas, kClaimSagasSql},
    {kSelectEventsOf, kSelectEventsOfSql},
    {kClaimSaga, kClaimSagaSql},
    {kRenewLeases, kRenewLeasesSql},
    {kReleaseLeases, kReleaseLeasesSql},
    {kReleaseLease, kReleaseLeaseSql},
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
  summary.lease_owner = row[12].as<std::string>();
  summary.lease_expires_ms = row[13].as<int64_t>();
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

// The saga's summary and history as `tx` sees them; NotFound if no such saga.
absl::StatusOr<SagaRecord> ReadRecord(pqxx::transaction_base& tx,
                                      const std::string& saga_id) {
  const pqxx::result summary_rows = tx.exec_prepared(kSelectSummary, saga_id);
  if (summary_rows.empty()) {
    return absl::NotFoundError("saga " + saga_id + " not found");
  }
  SagaRecord record;
  absl::StatusOr<SagaSummary> summary = SummaryFromRow(summary_rows[0]);
  if (!summary.ok()) return summary.status();
  record.summary = *std::move(summary);
  const pqxx::result event_rows = tx.exec_prepared(kSelectEvents, saga_id);
  record.events.reserve(event_rows.size());
  for (const pqxx::row& row : event_rows) {
    absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 0);
    if (!event.ok()) return event.status();
    record.events.push_back(*std::move(event));
  }
  return record;
}

std::optional<std::string> NullIfEmpty(const std::string& value) {
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace

namespace {

// Sessions are set up for this store's statements.
void PrepareSession(pqxx::connection& conn) {
  // This store never leaves a transaction idle; one that idles belongs
  // to a paused or hung process, whose row locks would hold up the
  // takeover of its sagas by other instances.
  pqxx::nontransaction(conn).exec(
      "SET idle_in_transaction_session_timeout = '10s'");
  // Every statement here reaches rows by key (a saga, an idempotency key,
  // a range of saga ids) or joins a small group to them by key, so the
  // plan wanted is nested loops of index probes. The group statements'
  // generic plans are made at their sixth run, often on a young database
  // where a sequential scan with a hash join, or a merge join over a
  // whole index, looks cheaper; the cached plan then kept reading every
  // saga row per statement as the table grew (C=256 in bench/run.sh
  // after a C=64 phase: 7.7 million sagas_pkey entries read by 2,250
  // statements, and ~650 sagas/s against ~900).
  pqxx::nontransaction(conn).exec(
      "SET enable_seqscan = off; SET enable_hashjoin = off;"
      " SET enable_mergejoin = off");
  // Prepared now rather than on first use: libpqxx 6.4 leaks a result
  // when a lazy PREPARE meets a connection that died in the meantime.
  for (const Statement& statement : kStatements) {
    conn.prepare(statement.name, statement.sql);
    conn.prepare_now(statement.name);
  }
}

}  // namespace

namespace {

// Splits a group into rounds in which every saga appears at most once,
// keeping each saga's batches in submission order.
std::vector<std::vector<size_t>> RoundsOfDistinctSagas(
    const std::vector<const AppendBatch*>& group) {
  std::vector<std::vector<size_t>> rounds;
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < group.size(); ++i) {
    size_t round = seen[BatchSagaId(*group[i])]++;
    if (round == rounds.size()) rounds.emplace_back();
    rounds[round].push_back(i);
  }
  return rounds;
}

}  // namespace

PgStore::PgStore(std::unique_ptr<pg::ConnectionPool> pool,
                 GroupCommitOptions options)
    : pool_(std::move(pool)), observer_(std::move(options.observer)) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(
    const std::string& dsn, int pool_size, GroupCommitOptions options) {
  if (pool_size < 1) {
    return absl::InvalidArgumentError("pool size must be at least 1, got " +
                                      std::to_string(pool_size));
  }
  pg::ConnectionPool::Options pool_options;
  pool_options.dsn = dsn;
  pool_options.size = pool_size;
  pool_options.prepare = PrepareSession;
  auto pool = std::make_unique<pg::ConnectionPool>(std::move(pool_options));
  if (absl::Status status = pool->Fill(); !status.ok()) return status;
  return std::unique_ptr<PgStore>(
      new PgStore(std::move(pool), std::move(options)));
}

absl::StatusOr<CreateResult> PgStore::Create(const AppendBatch& first) {
  if (absl::Status status = CheckBatch(first, /*creating=*/true);
      !status.ok()) {
    return status;
  }
  return CommitCreates({&first})[0];
}

absl::Status PgStore::Append(const AppendBatch& batch) {
  if (absl::Status status = CheckBatch(batch, /*creating=*/false);
      !status.ok()) {
    return status;
  }
  return CommitAppends({&batch})[0];
}

template <typename Result>
std::vector<Result> PgStore::CheckedGroup(
    const Group& batches, bool creating,
    std::vector<Result> (PgStore::*commit)(const Group&)) {
  // Every slot is overwritten below: by the check's error or the commit's
  // result.
  std::vector<Result> results(batches.size(),
                              Result(absl::InternalError("not committed")));
  Group valid;
  std::vector<size_t> positions;
  for (size_t i = 0; i < batches.size(); ++i) {
    absl::Status status = CheckBatch(*batches[i], creating);
    if (status.ok()) {
      valid.push_back(batches[i]);
      positions.push_back(i);
    } else {
      results[i] = std::move(status);
    }
  }
  if (valid.empty()) return results;
  std::vector<Result> committed = (this->*commit)(valid);
  for (size_t i = 0; i < valid.size(); ++i) {
    results[positions[i]] = std::move(committed[i]);
  }
  return results;
}

std::vector<absl::StatusOr<CreateResult>> PgStore::CreateGroup(
    const std::vector<const AppendBatch*>& batches) {
  return CheckedGroup(batches, /*creating=*/true, &PgStore::CommitCreates);
}

std::vector<absl::Status> PgStore::AppendGroup(
    const std::vector<const AppendBatch*>& batches) {
  return CheckedGroup(batches, /*creating=*/false, &PgStore::CommitAppends);
}

template <typename Result, typename WriteFn>
std::vector<Result> PgStore::CommitGroup(
    const Group& group, const std::string& what, Commit commit, WriteFn write,
    std::vector<Result> (PgStore::*commit_alone)(const Group&)) {
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<Result>> results = pool_->Run(
      what,
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<Result>> {
        if (commit == Commit::kOneStatement) {
          // Autocommitted: no BEGIN and COMMIT round trips (a tenth of a
          // commit's latency at low load).
          pqxx::nontransaction tx(conn);
          return write(tx);
        }
        pqxx::work tx(conn);
        absl::StatusOr<std::vector<Result>> written = write(tx);
        if (written.ok()) tx.commit();
        return written;
      },
      // A session lost while the one statement ran leaves its outcome
      // unknown, as a lost COMMIT does.
      commit == Commit::kOneStatement ? pg::Phase::kCommit
                                      : pg::Phase::kStatement);
  if (results.ok()) {
    if (observer_) {
      observer_(group.size(), std::chrono::duration<double>(
                                  std::chrono::steady_clock::now() - started));
    }
    return *std::move(results);
  }
  // A statement error (not a lost connection or an unknown outcome) may
  // come from one batch: commit each alone so the others are not refused
  // with it.
  const absl::StatusCode code = results.status().code();
  if (group.size() > 1 && code != absl::StatusCode::kUnavailable &&
      code != absl::StatusCode::kUnknown) {
    std::vector<Result> alone;
    for (const AppendBatch* batch : group) {
      alone.push_back(std::move((this->*commit_alone)({batch})[0]));
    }
    return alone;
  }
  return std::vector<Result>(group.size(), results.status());
}

namespace {

bool AnyCreated(const std::vector<absl::StatusOr<CreateResult>>& results) {
  for (const auto& result : results) {
    if (result.ok() && result->created) return true;
  }
  return false;
}

}  // namespace

std::vector<absl::StatusOr<CreateResult>> PgStore::CommitCreates(
    const Group& group) {
  GroupRows rows;
  for (size_t idx = 0; idx < group.size(); ++idx) {
    rows.AddCreatedSaga(*group[idx], idx);
    rows.AddHistory(*group[idx], idx);
  }
  const std::string sagas = rows.TakeSagas();
  const std::string events = rows.TakeEvents();
  const std::string outbox = rows.TakeOutbox();
  using Results = std::vector<absl::StatusOr<CreateResult>>;
  return CommitGroup<absl::StatusOr<CreateResult>>(
      group, "creating " + std::to_string(group.size()) + " saga(s)",
      Commit::kTransaction,
      [&](pqxx::transaction_base& tx) -> absl::StatusOr<Results> {
        const pqxx::result written =
            tx.exec_prepared(kCreateGroup, sagas, events, outbox);
        Results results;
        for (const pqxx::row& row : written) {
          const size_t idx = row[0].as<size_t>();
          const AppendBatch& batch = *group[idx];
          if (row[1].as<bool>()) {
            results.push_back(CreateResult{BatchSagaId(batch), true});
            continue;
          }
          // The key is taken. ON CONFLICT waited for any other writer of
          // it to commit, and this statement's fresh snapshot sees its row
          // (or the row of an earlier batch in this group).
          const std::string& key = batch.summary.idempotency_key;
          // jsonb equality: key order and spacing do not matter.
          const pqxx::result existing =
              tx.exec_prepared(kFindByKey, key, batch.summary.saga_type,
                               batch.summary.input_json);
          if (existing.empty()) {
            results.push_back(
                absl::InternalError("idempotency key '" + key +
                                    "' conflicted but no saga holds it"));
            continue;
          }
          const std::string existing_id = existing[0][0].as<std::string>();
          if (!existing[0][1].as<bool>()) {
            results.push_back(KeyTakenError(key, existing_id));
            continue;
          }
          results.push_back(CreateResult{existing_id, false});
        }
        if (written.size() > 0 && !AnyCreated(results)) {
          // A replay only: acknowledged once the saga it reports is
          // durable (await_standby.h).
          tx.exec(pg::kAwaitStandbySql);
        }
        return results;
      },
      &PgStore::CommitCreates);
}

std::vector<absl::Status> PgStore::CommitAppends(const Group& group) {
  // Rounds run in order in one transaction, so a saga's second batch sees
  // its first (normally there is one round: the engine has at most one
  // commit per saga in flight).
  std::vector<std::vector<size_t>> rounds = RoundsOfDistinctSagas(group);
  struct RoundParams {
    std::string sagas, events, outbox;
  };
  std::vector<RoundParams> round_params;
  for (const std::vector<size_t>& round : rounds) {
    GroupRows rows;
    for (size_t idx : round) {
      rows.AddAppendedSaga(*group[idx], idx);
      rows.AddHistory(*group[idx], idx);
    }
    round_params.push_back(
        {rows.TakeSagas(), rows.TakeEvents(), rows.TakeOutbox()});
  }
  using Results = std::vector<absl::Status>;
  return CommitGroup<absl::Status>(
      group, "appending to " + std::to_string(group.size()) + " saga(s)",
      round_params.size() == 1 ? Commit::kOneStatement : Commit::kTransaction,
      [&](pqxx::transaction_base& tx) -> absl::StatusOr<Results> {
        Results results(group.size());
        for (const RoundParams& params : round_params) {
          const pqxx::result refused = tx.exec_prepared(
              kAppendGroup, params.sagas, params.events, params.outbox);
          for (const pqxx::row& row : refused) {
            const size_t idx = row[0].as<size_t>();
            const AppendBatch& batch = *group[idx];
            const std::string& saga_id = BatchSagaId(batch);
            if (row[1].is_null()) {
              results[idx] =
                  absl::NotFoundError("saga " + saga_id + " not found");
            } else if (row[2].is_null() ||
                       row[2].as<std::string>() != batch.writer) {
              results[idx] = absl::AbortedError(
                  "fenced: saga " + saga_id + " is leased to '" +
                  (row[2].is_null() ? "" : row[2].as<std::string>()) +
                  "', not to '" + batch.writer + "'");
            } else {
              results[idx] = absl::AbortedError(
                  "fenced: saga " + saga_id + " is at seq " +
                  row[1].as<std::string>() + ", the batch expected " +
                  std::to_string(batch.expected_last_seq));
            }
          }
        }
        return results;
      },
      &PgStore::CommitAppends);
}

absl::StatusOr<SagaRecord> PgStore::Load(const std::string& saga_id) {
  return pool_->Run("loading saga " + saga_id,
                    [&](pqxx::connection& conn) -> absl::StatusOr<SagaRecord> {
                      ReadTransaction tx(conn);
                      return ReadRecord(tx, saga_id);
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

absl::StatusOr<std::vector<SagaRecord>> PgStore::Claim(
    const std::string& owner, std::chrono::milliseconds ttl, int limit,
    const std::string& after) {
  if (absl::Status status = CheckClaim(owner, ttl, limit); !status.ok()) {
    return status;
  }
  return pool_->Run(
      "claiming sagas",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<SagaRecord>> {
        pqxx::work tx(conn);
        std::vector<SagaRecord> records;
        for (const pqxx::row& row : tx.exec_prepared(
                 kClaimSagas, owner, static_cast<int64_t>(ttl.count()), limit,
                 after)) {
          absl::StatusOr<SagaSummary> summary = SummaryFromRow(row);
          if (!summary.ok()) return summary.status();
          records.push_back({*std::move(summary), {}});
        }
        std::sort(records.begin(), records.end(),
                  [](const SagaRecord& a, const SagaRecord& b) {
                    return a.summary.saga_id < b.summary.saga_id;
                  });
        // Read in the claiming transaction: the rows stay locked, so no
        // earlier holder can append between the claim and this read.
        Json ids = Json::array();
        std::unordered_map<std::string, size_t> index;
        for (size_t i = 0; i < records.size(); ++i) {
          ids.push_back(records[i].summary.saga_id);
          index[records[i].summary.saga_id] = i;
        }
        for (const pqxx::row& row :
             tx.exec_prepared(kSelectEventsOf, JsonText(ids))) {
          const std::string saga_id = row[0].as<std::string>();
          absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 1);
          if (!event.ok()) return event.status();
          records[index.at(saga_id)].events.push_back(*std::move(event));
        }
        tx.commit();
        return records;
      });
}

absl::StatusOr<SagaRecord> PgStore::ClaimSaga(const std::string& saga_id,
                                              const std::string& owner,
                                              std::chrono::milliseconds ttl) {
  if (absl::Status status = CheckLease(owner, ttl); !status.ok()) return status;
  return pool_->Run(
      "claiming saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::StatusOr<SagaRecord> {
        pqxx::work tx(conn);
        const bool claimed =
            !tx.exec_prepared(kClaimSaga, saga_id, owner,
                              static_cast<int64_t>(ttl.count()))
                 .empty();
        absl::StatusOr<SagaRecord> record = ReadRecord(tx, saga_id);
        if (record.ok() && !claimed) {
          return absl::FailedPreconditionError(
              "saga " + saga_id + " is driven by orchestrator instance '" +
              record->summary.lease_owner + "'");
        }
        if (record.ok()) tx.commit();
        return record;
      });
}

absl::StatusOr<int64_t> PgStore::RenewLeases(const std::string& owner,
                                             std::chrono::milliseconds ttl) {
  if (absl::Status status = CheckLease(owner, ttl); !status.ok()) return status;
  return pool_->Run("renewing leases",
                    [&](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
                      pqxx::work tx(conn);
                      const pqxx::result renewed =
                          tx.exec_prepared(kRenewLeases, owner,
                                           static_cast<int64_t>(ttl.count()));
                      tx.commit();
                      return static_cast<int64_t>(renewed.affected_rows());
                    });
}

absl::StatusOr<int64_t> PgStore::ReleaseLeases(const std::string& owner) {
  if (owner.empty()) return absl::InvalidArgumentError("no lease owner given");
  return pool_->Run("releasing leases",
                    [&](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
                      pqxx::work tx(conn);
                      const pqxx::result released =
                          tx.exec_prepared(kReleaseLeases, owner);
                      tx.commit();
                      return static_cast<int64_t>(released.affected_rows());
                    });
}

absl::Status PgStore::ReleaseLease(const std::string& saga_id,
                                   const std::string& owner) {
  return pool_->Run("releasing the lease of saga " + saga_id,
                    [&](pqxx::connection& conn) -> absl::Status {
                      pqxx::work tx(conn);
                      tx.exec_prepared(kReleaseLease, saga_id, owner);
                      tx.commit();
                      return absl::OkStatus();
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
