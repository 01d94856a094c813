// The PostgreSQL SagaStore over the schema in migrations/orchestrator (run
// ApplyMigrations first; Open does not migrate).
//
// Holds a fixed pool of connections (orchestrator/pg/connection_pool.h). A
// connection that breaks is dropped and re-opened by a later call, so the
// store outlives a database restart: calls made while the database is
// unreachable fail with Unavailable, and a call whose commit was cut off
// fails with Unknown (orchestrator/pg/errors.h has the whole table).
//
// CreateGroup and AppendGroup commit a group of batches (formed by the
// engine's Committer) in one transaction and one statement, and each batch
// still gets its own result (a fenced batch does not refuse the others in
// its group). Create and Append commit one batch each.
//
// Thread-safety: every method may be called from any thread; at most
// pool_size calls use the database at once, the others wait for a
// connection.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"

namespace saga::pg {
class ConnectionPool;
}  // namespace saga::pg

namespace saga::store {

struct GroupCommitOptions {
  // Called after each committed group with its size and commit latency
  // (metrics); may be empty. Runs on the committing thread.
  std::function<void(size_t batches, std::chrono::duration<double> latency)>
      observer;
};

class PgStore final : public SagaStore {
 public:
  // Opens `pool_size` (>= 1) connections to `dsn`, a libpq connection
  // string. Unavailable if the database cannot be reached; InvalidArgument
  // for a pool_size below 1.
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(
      const std::string& dsn, int pool_size, GroupCommitOptions options = {});

  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  absl::StatusOr<CreateResult> Create(const AppendBatch& first) override;
  absl::Status Append(const AppendBatch& batch) override;
  // One transaction per call (the group commit is the caller's); batches
  // that fail the checks of Create/Append are refused alone.
  std::vector<absl::StatusOr<CreateResult>> CreateGroup(
      const std::vector<const AppendBatch*>& batches) override;
  std::vector<absl::Status> AppendGroup(
      const std::vector<const AppendBatch*>& batches) override;
  absl::StatusOr<SagaRecord> Load(const std::string& saga_id) override;
  absl::StatusOr<SagaSummary> LoadSummary(const std::string& saga_id) override;
  absl::StatusOr<HistoryPage> LoadHistory(const std::string& saga_id,
                                          int64_t after_seq,
                                          int limit) override;
  absl::StatusOr<std::vector<SagaRecord>> Claim(
      const std::string& owner, std::chrono::milliseconds ttl, int limit,
      const std::string& after) override;
  absl::StatusOr<SagaRecord> ClaimSaga(const std::string& saga_id,
                                       const std::string& owner,
                                       std::chrono::milliseconds ttl) override;
  absl::StatusOr<int64_t> RenewLeases(const std::string& owner,
                                      std::chrono::milliseconds ttl) override;
  absl::StatusOr<int64_t> ReleaseLeases(const std::string& owner) override;
  absl::Status ReleaseLease(const std::string& saga_id,
                            const std::string& owner) override;
  absl::StatusOr<ListPage> List(const ListQuery& query) override;
  absl::StatusOr<std::vector<StatusCount>> Count(
      const ListQuery& query) override;
  absl::Status PutDefinition(const std::string& name, int version,
                             const std::string& source) override;
  absl::StatusOr<std::string> GetDefinition(const std::string& name,
                                            int version) override;

 private:
  using Group = std::vector<const AppendBatch*>;

  PgStore(std::unique_ptr<pg::ConnectionPool> pool, GroupCommitOptions options);

  // Checks each batch, commits the valid ones with `commit` and merges the
  // results back in order.
  template <typename Result>
  std::vector<Result> CheckedGroup(
      const Group& batches, bool creating,
      std::vector<Result> (PgStore::*commit)(const Group&));

  std::vector<absl::StatusOr<CreateResult>> CommitCreates(const Group& group);
  std::vector<absl::Status> CommitAppends(const Group& group);
  // How a group's statements are committed.
  enum class Commit {
    kTransaction,   // BEGIN, the statements, COMMIT
    kOneStatement,  // a single statement, its own transaction
  };
  // Runs `write(transaction)` for the group and commits it; on a statement
  // error commits each batch alone with `commit_alone`.
  template <typename Result, typename WriteFn>
  std::vector<Result> CommitGroup(
      const Group& group, const std::string& what, Commit commit, WriteFn write,
      std::vector<Result> (PgStore::*commit_alone)(const Group&));

  std::unique_ptr<pg::ConnectionPool> pool_;
  const std::function<void(size_t, std::chrono::duration<double>)> observer_;
};

}  // namespace saga::store
