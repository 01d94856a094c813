// ForwardingStore: a SagaStore that passes every call on to another store
// (in the manner of LevelDB's EnvWrapper), so a test store overrides only the
// calls it changes, e.g. to inject faults or to record what it sees.
//
// The group forms (CreateGroup, AppendGroup) keep SagaStore's defaults: one
// Create / Append per batch through this object, so an overridden Create or
// Append sees every write; a store that cares about groups overrides them.
//
// Thread-safety: as the target's.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/store/store.h"

namespace saga::testing {

class ForwardingStore : public store::SagaStore {
 public:
  // `target` is not owned and must outlive this store; it may be a member of
  // the derived class (it is not used before the first call).
  explicit ForwardingStore(store::SagaStore* target) : target_(target) {}

  store::SagaStore* target() const { return target_; }

  absl::StatusOr<store::CreateResult> Create(
      const store::AppendBatch& first) override;
  absl::Status Append(const store::AppendBatch& batch) override;
  absl::StatusOr<store::SagaRecord> Load(const std::string& saga_id) override;
  absl::StatusOr<store::SagaSummary> LoadSummary(
      const std::string& saga_id) override;
  absl::StatusOr<std::vector<store::SagaRecord>> Claim(
      const std::string& owner, std::chrono::milliseconds ttl, int limit,
      const std::string& after) override;
  absl::StatusOr<store::SagaRecord> ClaimSaga(
      const std::string& saga_id, const std::string& owner,
      std::chrono::milliseconds ttl) override;
  absl::StatusOr<int64_t> RenewLeases(const std::string& owner,
                                      std::chrono::milliseconds ttl) override;
  absl::StatusOr<int64_t> ReleaseLeases(const std::string& owner) override;
  absl::Status ReleaseLease(const std::string& saga_id,
                            const std::string& owner) override;
  absl::StatusOr<store::ListPage> List(const store::ListQuery& query) override;
  absl::StatusOr<std::vector<store::StatusCount>> Count(
      const store::ListQuery& query) override;
  absl::Status PutDefinition(const std::string& name, int version,
                             const std::string& source) override;
  absl::StatusOr<std::string> GetDefinition(const std::string& name,
                                            int version) override;

 private:
  store::SagaStore* target_;
};

}  // namespace saga::testing
