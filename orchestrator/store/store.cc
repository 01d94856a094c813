#include "orchestrator/store/store.h"

namespace saga::store {

std::vector<absl::StatusOr<CreateResult>> SagaStore::CreateGroup(
    const std::vector<const AppendBatch*>& batches) {
  std::vector<absl::StatusOr<CreateResult>> results;
  results.reserve(batches.size());
  for (const AppendBatch* batch : batches) results.push_back(Create(*batch));
  return results;
}

std::vector<absl::Status> SagaStore::AppendGroup(
    const std::vector<const AppendBatch*>& batches) {
  std::vector<absl::Status> results;
  results.reserve(batches.size());
  for (const AppendBatch* batch : batches) results.push_back(Append(*batch));
  return results;
}

}  // namespace saga::store
