// The retention job's store (retention_store.h) on PostgreSQL, over the
// schema of migrations/orchestrator (0012 adds the indexes its batches
// use). One session of its own, so pruning never holds a connection the
// saga store's group commit or readers wait for.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/store/retention_store.h"

namespace saga::pg {
class ConnectionPool;
}  // namespace saga::pg

namespace saga::store {

class PgRetention final : public RetentionStore {
 public:
  // `dsn`: a libpq connection string. Connects when first used.
  explicit PgRetention(std::string dsn);
  ~PgRetention() override;
  PgRetention(const PgRetention&) = delete;
  PgRetention& operator=(const PgRetention&) = delete;

  absl::StatusOr<std::vector<std::string>> SagaTypes() override;
  absl::StatusOr<std::optional<PrunedSagas>> PruneSagas(
      const EndedSagas& which, const BeforeDelete& before_delete) override;
  absl::StatusOr<std::optional<int64_t>> PruneOutbox(
      const OldOutboxRows& which) override;

 private:
  std::unique_ptr<pg::ConnectionPool> pool_;
};

}  // namespace saga::store
