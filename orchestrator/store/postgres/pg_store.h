// The PostgreSQL SagaStore over the schema in migrations/orchestrator (run
// ApplyMigrations first; Open does not migrate).
//
// Holds a fixed pool of connections. A connection that breaks is dropped
// and re-opened by a later call, so the store outlives a database restart:
// calls made while the database is unreachable fail with Unavailable, and
// a call whose commit was cut off fails with Unknown.
//
// Thread-safety: every method may be called from any thread; at most
// pool_size calls use the database at once, the others wait for a
// connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"

namespace saga::store {

class PgStore final : public SagaStore {
 public:
  // Opens `pool_size` (>= 1) connections to `dsn`, a libpq connection
  // string. Unavailable if the database cannot be reached; InvalidArgument
  // for a pool_size below 1.
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(const std::string& dsn,
                                                       int pool_size);

  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  absl::StatusOr<CreateResult> Create(const AppendBatch& first) override;
  absl::Status Append(const AppendBatch& batch) override;
  absl::StatusOr<SagaRecord> Load(const std::string& saga_id) override;
  absl::StatusOr<SagaSummary> LoadSummary(const std::string& saga_id) override;
  absl::StatusOr<std::vector<SagaRecord>> LoadUnfinished() override;
  absl::StatusOr<ListPage> List(const ListQuery& query) override;
  absl::Status PutDefinition(const std::string& name, int version,
                             const std::string& source) override;
  absl::StatusOr<std::string> GetDefinition(const std::string& name,
                                            int version) override;

 private:
  class ConnectionPool;

  explicit PgStore(std::unique_ptr<ConnectionPool> pool);

  std::unique_ptr<ConnectionPool> pool_;
};

}  // namespace saga::store
