#include "orchestrator/store/postgres/pg_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "orchestrator/pg/await_standby.h"
#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/store/batch_checks.h"
#include "orchestrator/store/postgres/group_rows.h"
#include "orchestrator/store/postgres/pg_records.h"
#include "orchestrator/store/postgres/pg_store_sql.h"

namespace saga::store {
namespace {

using Json = nlohmann::json;

// The statements (kStatements and their names).
using namespace pg_sql;

// Reads see one snapshot, so a summary and its events always agree. They
// end by rolling back in the destructor: committing could only turn a lost
// connection into an in-doubt outcome, which means nothing for a read.
using ReadTransaction =
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

std::string JsonText(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// How many columns SAGA_SUMMARY_COLUMNS has: a statement's own columns
// follow.
constexpr int kSummaryColumnCount = 18;

// Reads the columns of SAGA_SUMMARY_COLUMNS (pg_store_sql.h).
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
  summary.parent_saga_id = row[14].as<std::string>();
  summary.parent_step = row[15].as<std::string>();
  summary.business_key = row[16].as<std::string>();
  summary.rerun_of = row[17].as<std::string>();
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

// How many sessions Open connects before it returns: one for recovery's
// claims and one for each of the committer's two writers.
constexpr int kSessionsAtOpen = 3;

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
  // Enough sessions for the first claim and the first commits, which a
  // restart's first resumed step waits for; the others open as the load
  // needs them rather than in front of it.
  if (absl::Status status = pool->Fill(kSessionsAtOpen); !status.ok()) {
    return status;
  }
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

absl::StatusOr<HistoryPage> PgStore::LoadHistory(const std::string& saga_id,
                                                 int64_t after_seq, int limit) {
  return pool_->Run(
      "loading the history of saga " + saga_id,
      [&](pqxx::connection& conn) -> absl::StatusOr<HistoryPage> {
        ReadTransaction tx(conn);
        const pqxx::result summary = tx.exec_prepared(kSelectSummary, saga_id);
        if (summary.empty()) {
          return absl::NotFoundError("saga " + saga_id + " not found");
        }
        HistoryPage page;
        absl::StatusOr<SagaSummary> read = SummaryFromRow(summary[0]);
        if (!read.ok()) return read.status();
        page.summary = *std::move(read);
        // One row more than asked says whether another page follows.
        const int64_t rows = limit > 0 ? int64_t{limit} + 1
                                       : std::numeric_limits<int64_t>::max();
        const pqxx::result events =
            tx.exec_prepared(kSelectEventsPage, saga_id, after_seq, rows);
        for (const pqxx::row& row : events) {
          if (limit > 0 && static_cast<int>(page.events.size()) == limit) {
            page.more = true;
            break;
          }
          absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 0);
          if (!event.ok()) return event.status();
          page.events.push_back(*std::move(event));
        }
        return page;
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
          SagaRecord& record = records.emplace_back();
          record.summary = *std::move(summary);
          if (!row[kSummaryColumnCount].is_null()) {
            record.snapshot = row[kSummaryColumnCount].as<std::string>();
            record.snapshot_seq = row[kSummaryColumnCount + 1].as<int64_t>();
          }
        }
        std::sort(records.begin(), records.end(),
                  [](const SagaRecord& a, const SagaRecord& b) {
                    return a.summary.saga_id < b.summary.saga_id;
                  });
        // The events after each snapshot (all of them without one), read in
        // the claiming transaction: the rows stay locked, so no earlier
        // holder can append between the claim and this read. A saga that
        // rests at its snapshot needs no read at all.
        std::string wanted = "[";
        std::unordered_map<std::string, size_t> index;
        for (size_t i = 0; i < records.size(); ++i) {
          const SagaRecord& record = records[i];
          if (record.snapshot_seq == record.summary.last_seq) continue;
          if (wanted.size() > 1) wanted += ',';
          wanted += "{\"saga_id\":";
          AppendJsonString(wanted, record.summary.saga_id);
          wanted += ",\"after\":" + std::to_string(record.snapshot_seq) + "}";
          index[record.summary.saga_id] = i;
        }
        wanted += ']';
        if (index.empty()) {
          tx.commit();
          return records;
        }
        for (const pqxx::row& row :
             tx.exec_prepared(kSelectEventsAfter, wanted)) {
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

namespace {

// ListQuery's filter as SAGA_LIST_FILTER's parameters $1..$9 (NULL: any).
auto FilterParams(const ListQuery& query) {
  std::optional<std::string> status;
  if (query.status.has_value()) status = core::SagaStatusName(*query.status);
  auto positive = [](int64_t ms) -> std::optional<int64_t> {
    if (ms <= 0) return std::nullopt;
    return ms;
  };
  return std::make_tuple(
      NullIfEmpty(query.saga_type), status, positive(query.created_after_ms),
      positive(query.created_before_ms), NullIfEmpty(query.parent_saga_id),
      NullIfEmpty(query.business_key), NullIfEmpty(query.rerun_of),
      NullIfEmpty(query.step), NullIfEmpty(query.error_contains));
}

}  // namespace

absl::StatusOr<ListPage> PgStore::List(const ListQuery& query) {
  if (query.limit <= 0) {
    return absl::InvalidArgumentError("list limit must be positive, got " +
                                      std::to_string(query.limit));
  }
  std::optional<int64_t> after_ms;
  std::optional<std::string> after_id;
  if (query.after.has_value()) {
    after_ms = query.after->first;
    after_id = query.after->second;
  }
  return pool_->Run(
      "listing sagas", [&](pqxx::connection& conn) -> absl::StatusOr<ListPage> {
        pqxx::nontransaction tx(conn);
        // One row past the page tells whether another page exists.
        const pqxx::result rows = std::apply(
            [&](const auto&... filter) {
              return tx.exec_prepared(kListSagas, filter..., after_ms, after_id,
                                      static_cast<int64_t>(query.limit) + 1);
            },
            FilterParams(query));
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

absl::StatusOr<std::vector<StatusCount>> PgStore::Count(
    const ListQuery& query) {
  return pool_->Run(
      "counting sagas",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<StatusCount>> {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows = std::apply(
            [&](const auto&... filter) {
              return tx.exec_prepared(kCountSagas, filter...);
            },
            FilterParams(query));
        std::vector<StatusCount> counts;
        for (const pqxx::row& row : rows) {
          absl::StatusOr<core::SagaStatus> status =
              core::ParseSagaStatus(row[0].as<std::string>());
          if (!status.ok()) return status.status();
          counts.push_back({*status, row[1].as<int64_t>()});
        }
        std::sort(counts.begin(), counts.end(),
                  [](const StatusCount& a, const StatusCount& b) {
                    return a.status < b.status;
                  });
        return counts;
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

absl::StatusOr<std::vector<SagaRecord>> ReadRecords(
    pqxx::transaction_base& tx, const std::vector<std::string>& saga_ids) {
  std::vector<SagaRecord> records;
  if (saga_ids.empty()) return records;
  const std::string ids = JsonText(Json(saga_ids));
  std::unordered_map<std::string, size_t> index;
  for (const pqxx::row& row : tx.exec_params(kSelectSummariesOfSql, ids)) {
    absl::StatusOr<SagaSummary> summary = SummaryFromRow(row);
    if (!summary.ok()) return summary.status();
    index[summary->saga_id] = records.size();
    records.emplace_back().summary = *std::move(summary);
  }
  for (const pqxx::row& row : tx.exec_params(kSelectEventsOfSql, ids)) {
    const std::string saga_id = row[0].as<std::string>();
    absl::StatusOr<core::Event> event = EventFromRow(saga_id, row, 1);
    if (!event.ok()) return event.status();
    auto it = index.find(saga_id);
    if (it != index.end())
      records[it->second].events.push_back(*std::move(event));
  }
  return records;
}

}  // namespace saga::store
