#include "orchestrator/store/postgres/pg_retention.h"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <utility>

#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/store/postgres/pg_records.h"

namespace saga::store {
namespace {

// One batch at a time across every instance on the database: taken at the
// start of each batch's transaction and released by its end. The migrator
// uses 0x5a6a0001, the outbox dispatcher 0x5a6a0007.
constexpr int64_t kRetentionLockKey = 0x5a6a0012;
constexpr char kTryLockSql[] = "SELECT pg_try_advisory_xact_lock($1)";

constexpr char kSagaTypesSql[] =
    "SELECT DISTINCT name FROM saga_definitions ORDER BY name";

// $1 type, $2 status, $3 age in ms, $4 limit. A range scan of
// sagas_ended_idx (type, status, created_at); a saga whose last write is
// older than the cutoff was created before it too. A child saga waits for
// its parent to end well (or be gone): a parent reads its child's history.
// The status is re-checked on each row once it is locked, so a saga an
// operator brought back meanwhile is not taken.
constexpr char kPickSagasSql[] =
    "SELECT s.saga_id FROM sagas s"
    " WHERE s.saga_type = $1 AND s.status = $2"
    "  AND s.created_at < now() - $3::bigint * INTERVAL '1 millisecond'"
    "  AND s.updated_at < now() - $3::bigint * INTERVAL '1 millisecond'"
    "  AND NOT EXISTS (SELECT 1 FROM sagas p WHERE p.saga_id = s.parent_id"
    "   AND p.status NOT IN ('COMPLETED', 'COMPENSATED'))"
    " ORDER BY s.created_at LIMIT $4 FOR UPDATE OF s SKIP LOCKED";

// $1: the picked ids as a JSON array (primary-key lookups).
constexpr char kDeleteEventsSql[] =
    "DELETE FROM saga_events"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))";
constexpr char kDeleteSnapshotsSql[] =
    "DELETE FROM saga_snapshots"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))";
constexpr char kDeleteSagasSql[] =
    "DELETE FROM sagas"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))";

// $1 age in ms, $2 limit: outbox_dispatched_idx.
constexpr char kPruneDispatchedSql[] =
    "DELETE FROM outbox WHERE position IN ("
    " SELECT position FROM outbox WHERE status = 'DISPATCHED'"
    "  AND dispatched_at < now() - $1::bigint * INTERVAL '1 millisecond'"
    " ORDER BY dispatched_at LIMIT $2)";
// $1 age in ms, $2 limit: the oldest rows come first in position order.
constexpr char kPrunePendingSql[] =
    "DELETE FROM outbox WHERE position IN ("
    " SELECT position FROM outbox WHERE status = 'PENDING'"
    "  AND created_at < now() - $1::bigint * INTERVAL '1 millisecond'"
    " ORDER BY position LIMIT $2)";

bool Prunable(core::SagaStatus status) {
  return status == core::SagaStatus::kCompleted ||
         status == core::SagaStatus::kCompensated ||
         status == core::SagaStatus::kFailed;
}

// False when another instance holds the retention lock.
bool TakeLock(pqxx::work& tx) {
  return tx.exec_params1(kTryLockSql, kRetentionLockKey)[0].as<bool>();
}

}  // namespace

PgRetention::PgRetention(std::string dsn) {
  pg::ConnectionPool::Options options;
  options.dsn = std::move(dsn);
  options.size = 1;
  pool_ = std::make_unique<pg::ConnectionPool>(std::move(options));
}

PgRetention::~PgRetention() = default;

absl::StatusOr<std::vector<std::string>> PgRetention::SagaTypes() {
  return pool_->Run(
      "listing saga types",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<std::string>> {
        pqxx::nontransaction tx(conn);
        std::vector<std::string> types;
        for (const pqxx::row& row : tx.exec(kSagaTypesSql)) {
          types.push_back(row[0].as<std::string>());
        }
        return types;
      });
}

absl::StatusOr<std::optional<PrunedSagas>> PgRetention::PruneSagas(
    const EndedSagas& which, const BeforeDelete& before_delete) {
  if (!Prunable(which.status)) {
    return absl::InvalidArgumentError(
        std::string("retention never prunes a saga in status ") +
        core::SagaStatusName(which.status));
  }
  if (which.older_than_ms <= 0 || which.limit <= 0) {
    return absl::InvalidArgumentError(
        "pruning sagas needs a positive age and limit");
  }
  return pool_->Run(
      "pruning " + which.saga_type + " sagas",
      [&](pqxx::connection& conn)
          -> absl::StatusOr<std::optional<PrunedSagas>> {
        pqxx::work tx(conn);
        if (!TakeLock(tx)) return std::nullopt;
        std::vector<std::string> ids;
        for (const pqxx::row& row :
             tx.exec_params(kPickSagasSql, which.saga_type,
                            core::SagaStatusName(which.status),
                            which.older_than_ms, which.limit)) {
          ids.push_back(row[0].as<std::string>());
        }
        PrunedSagas pruned;
        if (ids.empty()) return pruned;
        if (before_delete) {
          absl::StatusOr<std::vector<SagaRecord>> records =
              ReadRecords(tx, ids);
          if (!records.ok()) return records.status();
          if (absl::Status accepted = before_delete(*records); !accepted.ok()) {
            return accepted;
          }
        }
        const std::string id_array = nlohmann::json(ids).dump();
        pruned.events =
            tx.exec_params0(kDeleteEventsSql, id_array).affected_rows();
        tx.exec_params0(kDeleteSnapshotsSql, id_array);
        pruned.sagas =
            tx.exec_params0(kDeleteSagasSql, id_array).affected_rows();
        tx.commit();
        return pruned;
      });
}

absl::StatusOr<std::optional<int64_t>> PgRetention::PruneOutbox(
    const OldOutboxRows& which) {
  if (which.limit <= 0) {
    return absl::InvalidArgumentError("pruning the outbox needs a limit");
  }
  return pool_->Run(
      "pruning the outbox",
      [&](pqxx::connection& conn) -> absl::StatusOr<std::optional<int64_t>> {
        pqxx::work tx(conn);
        if (!TakeLock(tx)) return std::nullopt;
        int64_t deleted = 0;
        if (which.dispatched_older_than_ms > 0) {
          deleted +=
              tx.exec_params0(kPruneDispatchedSql,
                              which.dispatched_older_than_ms, which.limit)
                  .affected_rows();
        }
        if (which.pending_older_than_ms > 0 && deleted < which.limit) {
          deleted +=
              tx.exec_params0(kPrunePendingSql, which.pending_older_than_ms,
                              which.limit - deleted)
                  .affected_rows();
        }
        tx.commit();
        return deleted;
      });
}

}  // namespace saga::store
