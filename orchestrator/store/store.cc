#include "orchestrator/store/store.h"

#include <algorithm>
#include <iterator>

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

absl::Status SagaStore::ScanUnfinished(
    size_t chunk,
    const std::function<absl::Status(std::vector<SagaRecord>)>& sink) {
  absl::StatusOr<std::vector<SagaRecord>> records = LoadUnfinished();
  if (!records.ok()) return records.status();
  std::sort(records->begin(), records->end(),
            [](const SagaRecord& a, const SagaRecord& b) {
              return a.summary.saga_id < b.summary.saga_id;
            });
  chunk = std::max<size_t>(1, chunk);
  for (size_t begin = 0; begin < records->size(); begin += chunk) {
    const size_t end = std::min(records->size(), begin + chunk);
    std::vector<SagaRecord> part(
        std::make_move_iterator(records->begin() + begin),
        std::make_move_iterator(records->begin() + end));
    if (absl::Status status = sink(std::move(part)); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace saga::store
