#include "orchestrator/store/store.h"

#include "absl/strings/str_split.h"

namespace saga::store {
namespace {

constexpr char kKeyHolderPayload[] =
    "type.googleapis.com/saga.store.IdempotencyKeyHolder";

}  // namespace

absl::Status KeyTakenError(const std::string& key,
                           const std::string& holder_id) {
  absl::Status status = absl::AlreadyExistsError(
      "idempotency key '" + key + "' was used for saga " + holder_id +
      " with a different input");
  status.SetPayload(kKeyHolderPayload, absl::Cord(holder_id));
  return status;
}

std::optional<std::string> KeyHolder(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAlreadyExists) return std::nullopt;
  const auto holder = status.GetPayload(kKeyHolderPayload);
  if (!holder) return std::nullopt;
  return std::string(*holder);
}

bool SagaAtStep(const SagaSummary& summary, const std::string& step) {
  for (absl::string_view at : absl::StrSplit(summary.current_step, ',')) {
    if (at == step) return true;
  }
  return false;
}

absl::StatusOr<HistoryPage> SagaStore::LoadHistory(const std::string& saga_id,
                                                   int64_t after_seq,
                                                   int limit) {
  absl::StatusOr<SagaRecord> record = Load(saga_id);
  if (!record.ok()) return record.status();
  HistoryPage page;
  page.summary = std::move(record->summary);
  for (core::Event& event : record->events) {
    if (event.seq <= after_seq) continue;
    if (limit > 0 && static_cast<int>(page.events.size()) == limit) {
      page.more = true;
      break;
    }
    page.events.push_back(std::move(event));
  }
  return page;
}

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
