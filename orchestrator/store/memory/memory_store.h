// An in-memory SagaStore for core- and engine-level tests: the contract of
// store.h (fencing, idempotency, atomic batches, error codes) without a
// database. Events go through core::EncodeEventData / core::DecodeEvent on
// the way in, as they would through PostgreSQL, so a lossy encoding shows
// up here too. Leases expire by the system clock. Nothing survives the
// object.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/store/store.h"

namespace saga::store {

class MemoryStore final : public SagaStore {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  absl::StatusOr<CreateResult> Create(const AppendBatch& first) override;
  absl::Status Append(const AppendBatch& batch) override;
  absl::StatusOr<SagaRecord> Load(const std::string& saga_id) override;
  absl::StatusOr<SagaSummary> LoadSummary(const std::string& saga_id) override;
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

  // Every outbox message committed so far, in commit order.
  std::vector<core::OutboxMessage> Outbox() const;

 private:
  // REQUIRES: mu_ is held.
  void CommitLocked(SagaRecord& record, const AppendBatch& batch,
                    std::vector<core::Event> events);

  mutable std::mutex mu_;
  std::map<std::string, SagaRecord> sagas_;              // by saga id
  std::map<std::string, std::string> idempotency_keys_;  // key -> saga id
  // Each saga's last snapshot and the seq it is at (SagaRecord).
  std::map<std::string, std::pair<std::string, int64_t>> snapshots_;
  std::map<std::pair<std::string, int>, std::string> definitions_;
  std::vector<core::OutboxMessage> outbox_;
};

}  // namespace saga::store
