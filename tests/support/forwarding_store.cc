#include "tests/support/forwarding_store.h"

namespace saga::testing {

absl::StatusOr<store::CreateResult> ForwardingStore::Create(
    const store::AppendBatch& first) {
  return target_->Create(first);
}

absl::Status ForwardingStore::Append(const store::AppendBatch& batch) {
  return target_->Append(batch);
}

absl::StatusOr<store::SagaRecord> ForwardingStore::Load(
    const std::string& saga_id) {
  return target_->Load(saga_id);
}

absl::StatusOr<store::SagaSummary> ForwardingStore::LoadSummary(
    const std::string& saga_id) {
  return target_->LoadSummary(saga_id);
}

absl::StatusOr<std::vector<store::SagaRecord>> ForwardingStore::Claim(
    const std::string& owner, std::chrono::milliseconds ttl, int limit,
    const std::string& after) {
  return target_->Claim(owner, ttl, limit, after);
}

absl::StatusOr<store::SagaRecord> ForwardingStore::ClaimSaga(
    const std::string& saga_id, const std::string& owner,
    std::chrono::milliseconds ttl) {
  return target_->ClaimSaga(saga_id, owner, ttl);
}

absl::StatusOr<int64_t> ForwardingStore::RenewLeases(
    const std::string& owner, std::chrono::milliseconds ttl) {
  return target_->RenewLeases(owner, ttl);
}

absl::StatusOr<int64_t> ForwardingStore::ReleaseLeases(
    const std::string& owner) {
  return target_->ReleaseLeases(owner);
}

absl::Status ForwardingStore::ReleaseLease(const std::string& saga_id,
                                           const std::string& owner) {
  return target_->ReleaseLease(saga_id, owner);
}

absl::StatusOr<store::ListPage> ForwardingStore::List(
    const store::ListQuery& query) {
  return target_->List(query);
}

absl::StatusOr<std::vector<store::StatusCount>> ForwardingStore::Count(
    const store::ListQuery& query) {
  return target_->Count(query);
}

absl::Status ForwardingStore::PutDefinition(const std::string& name,
                                            int version,
                                            const std::string& source) {
  return target_->PutDefinition(name, version, source);
}

absl::StatusOr<std::string> ForwardingStore::GetDefinition(
    const std::string& name, int version) {
  return target_->GetDefinition(name, version);
}

}  // namespace saga::testing
