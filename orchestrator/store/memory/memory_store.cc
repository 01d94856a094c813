#include "orchestrator/store/memory/memory_store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <tuple>

#include "orchestrator/store/batch_checks.h"

namespace saga::store {
namespace {

// Passes events through their stored form, as the PostgreSQL store does.
absl::StatusOr<std::vector<core::Event>> RoundTrip(
    const std::vector<core::Event>& events) {
  std::vector<core::Event> out;
  out.reserve(events.size());
  for (const core::Event& event : events) {
    absl::StatusOr<core::Event> decoded = core::DecodeEvent(
        core::EventTypeName(event.type), event.seq, event.at_ms, event.step,
        event.attempt, core::EncodeEventData(event));
    if (!decoded.ok()) {
      return absl::InternalError(
          "event seq " + std::to_string(event.seq) +
          " does not decode: " + std::string(decoded.status().message()));
    }
    out.push_back(*std::move(decoded));
  }
  return out;
}

// ListQuery's filter (not its paging), as PgStore's SQL applies it.
bool MatchesFilter(const SagaSummary& summary, const ListQuery& query) {
  auto lower = [](std::string text) {
    for (char& c : text) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
  };
  return (query.saga_type.empty() || summary.saga_type == query.saga_type) &&
         (!query.status.has_value() || summary.status == *query.status) &&
         summary.created_ms > query.created_after_ms &&
         (query.created_before_ms <= 0 ||
          summary.created_ms < query.created_before_ms) &&
         (query.parent_saga_id.empty() ||
          summary.parent_saga_id == query.parent_saga_id) &&
         (query.business_key.empty() ||
          summary.business_key == query.business_key) &&
         (query.rerun_of.empty() || summary.rerun_of == query.rerun_of) &&
         (query.step.empty() || SagaAtStep(summary, query.step)) &&
         (query.error_contains.empty() ||
          lower(summary.error).find(lower(query.error_contains)) !=
              std::string::npos);
}

bool NewerFirst(const SagaSummary& a, const SagaSummary& b) {
  return std::tie(a.created_ms, a.saga_id) > std::tie(b.created_ms, b.saga_id);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Lease(SagaSummary& summary, const std::string& owner,
           std::chrono::milliseconds ttl) {
  summary.lease_owner = owner;
  summary.lease_expires_ms = NowMs() + ttl.count();
}

bool LeaseIsFree(const SagaSummary& summary) {
  return summary.lease_owner.empty() || summary.lease_expires_ms < NowMs();
}

}  // namespace

void MemoryStore::CommitLocked(SagaRecord& record, const AppendBatch& batch,
                               std::vector<core::Event> events) {
  for (core::Event& event : events) {
    record.events.push_back(std::move(event));
  }
  for (const core::OutboxMessage& message : batch.outbox) {
    outbox_.push_back(message);
  }
  if (!batch.snapshot.empty()) {
    snapshots_[record.summary.saga_id] = {batch.snapshot,
                                          record.summary.last_seq};
  }
}

absl::StatusOr<CreateResult> MemoryStore::Create(const AppendBatch& first) {
  if (absl::Status status = CheckBatch(first, /*creating=*/true);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::string> input = CanonicalJson(first.summary.input_json);
  if (!input.ok()) return input.status();
  absl::StatusOr<std::vector<core::Event>> events = RoundTrip(first.events);
  if (!events.ok()) return events.status();
  const std::string& saga_id = BatchSagaId(first);
  const std::string& key = first.summary.idempotency_key;

  std::lock_guard<std::mutex> lock(mu_);
  if (!key.empty()) {
    auto it = idempotency_keys_.find(key);
    if (it != idempotency_keys_.end()) {
      const SagaSummary& existing = sagas_.at(it->second).summary;
      if (existing.saga_type == first.summary.saga_type &&
          JsonEqual(existing.input_json, *input)) {
        return CreateResult{existing.saga_id, false};
      }
      return KeyTakenError(key, existing.saga_id);
    }
  }
  if (sagas_.count(saga_id) > 0) {
    return absl::AlreadyExistsError("saga " + saga_id + " already exists");
  }
  SagaRecord& record = sagas_[saga_id];
  record.summary = first.summary;
  record.summary.saga_id = saga_id;
  record.summary.input_json = *std::move(input);
  Lease(record.summary, first.writer, first.lease_ttl);
  if (!key.empty()) idempotency_keys_[key] = saga_id;
  CommitLocked(record, first, *std::move(events));
  return CreateResult{saga_id, true};
}

absl::Status MemoryStore::Append(const AppendBatch& batch) {
  if (absl::Status status = CheckBatch(batch, /*creating=*/false);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<std::vector<core::Event>> events = RoundTrip(batch.events);
  if (!events.ok()) return events.status();
  const std::string& saga_id = BatchSagaId(batch);

  std::lock_guard<std::mutex> lock(mu_);
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) {
    return absl::NotFoundError("saga " + saga_id + " not found");
  }
  SagaRecord& record = it->second;
  if (record.summary.lease_owner != batch.writer) {
    return absl::AbortedError("fenced: saga " + saga_id + " is leased to '" +
                              record.summary.lease_owner + "', not to '" +
                              batch.writer + "'");
  }
  if (record.summary.last_seq != batch.expected_last_seq) {
    return absl::AbortedError("fenced: saga " + saga_id + " is at seq " +
                              std::to_string(record.summary.last_seq) +
                              ", the batch expected " +
                              std::to_string(batch.expected_last_seq));
  }
  record.summary.status = batch.summary.status;
  record.summary.current_step = batch.summary.current_step;
  record.summary.current_attempt = batch.summary.current_attempt;
  record.summary.error = batch.summary.error;
  record.summary.last_seq = batch.summary.last_seq;
  record.summary.updated_ms = batch.summary.updated_ms;
  Lease(record.summary, batch.writer, batch.lease_ttl);
  CommitLocked(record, batch, *std::move(events));
  return absl::OkStatus();
}

absl::StatusOr<SagaRecord> MemoryStore::Load(const std::string& saga_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) {
    return absl::NotFoundError("saga " + saga_id + " not found");
  }
  return it->second;
}

absl::StatusOr<SagaSummary> MemoryStore::LoadSummary(
    const std::string& saga_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) {
    return absl::NotFoundError("saga " + saga_id + " not found");
  }
  return it->second.summary;
}

absl::StatusOr<std::vector<SagaRecord>> MemoryStore::Claim(
    const std::string& owner, std::chrono::milliseconds ttl, int limit,
    const std::string& after) {
  if (absl::Status status = CheckClaim(owner, ttl, limit); !status.ok()) {
    return status;
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SagaRecord> out;
  for (auto it = sagas_.upper_bound(after); it != sagas_.end(); ++it) {
    if (out.size() == static_cast<size_t>(limit)) break;
    SagaRecord& record = it->second;
    if (core::IsTerminal(record.summary.status) ||
        !LeaseIsFree(record.summary)) {
      continue;
    }
    Lease(record.summary, owner, ttl);
    SagaRecord& claimed = out.emplace_back();
    claimed.summary = record.summary;
    auto snapshot = snapshots_.find(record.summary.saga_id);
    if (snapshot != snapshots_.end()) {
      std::tie(claimed.snapshot, claimed.snapshot_seq) = snapshot->second;
    }
    for (const core::Event& event : record.events) {
      if (event.seq > claimed.snapshot_seq) claimed.events.push_back(event);
    }
  }
  return out;
}

absl::StatusOr<SagaRecord> MemoryStore::ClaimSaga(
    const std::string& saga_id, const std::string& owner,
    std::chrono::milliseconds ttl) {
  if (absl::Status status = CheckLease(owner, ttl); !status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) {
    return absl::NotFoundError("saga " + saga_id + " not found");
  }
  SagaSummary& summary = it->second.summary;
  if (!core::IsTerminal(summary.status) && !LeaseIsFree(summary) &&
      summary.lease_owner != owner) {
    return absl::FailedPreconditionError(
        "saga " + saga_id + " is driven by orchestrator instance '" +
        summary.lease_owner + "'");
  }
  Lease(summary, owner, ttl);
  return it->second;
}

absl::StatusOr<int64_t> MemoryStore::RenewLeases(
    const std::string& owner, std::chrono::milliseconds ttl) {
  if (absl::Status status = CheckLease(owner, ttl); !status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t renewed = 0;
  for (auto& [saga_id, record] : sagas_) {
    if (!core::IsTerminal(record.summary.status) &&
        record.summary.lease_owner == owner) {
      Lease(record.summary, owner, ttl);
      ++renewed;
    }
  }
  return renewed;
}

absl::StatusOr<int64_t> MemoryStore::ReleaseLeases(const std::string& owner) {
  if (owner.empty()) return absl::InvalidArgumentError("no lease owner given");
  std::lock_guard<std::mutex> lock(mu_);
  int64_t released = 0;
  for (auto& [saga_id, record] : sagas_) {
    if (!core::IsTerminal(record.summary.status) &&
        record.summary.lease_owner == owner) {
      record.summary.lease_owner.clear();
      record.summary.lease_expires_ms = 0;
      ++released;
    }
  }
  return released;
}

absl::Status MemoryStore::ReleaseLease(const std::string& saga_id,
                                       const std::string& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sagas_.find(saga_id);
  if (it != sagas_.end() && it->second.summary.lease_owner == owner) {
    it->second.summary.lease_owner.clear();
    it->second.summary.lease_expires_ms = 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<ListPage> MemoryStore::List(const ListQuery& query) {
  if (query.limit <= 0) {
    return absl::InvalidArgumentError("list limit must be positive, got " +
                                      std::to_string(query.limit));
  }
  std::vector<SagaSummary> matches;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [saga_id, record] : sagas_) {
      const SagaSummary& summary = record.summary;
      if (!MatchesFilter(summary, query)) continue;
      if (query.after.has_value() &&
          std::tie(summary.created_ms, summary.saga_id) >=
              std::tie(query.after->first, query.after->second)) {
        continue;
      }
      matches.push_back(summary);
    }
  }
  std::sort(matches.begin(), matches.end(), NewerFirst);
  ListPage page;
  page.more = matches.size() > static_cast<size_t>(query.limit);
  if (page.more) matches.resize(query.limit);
  page.sagas = std::move(matches);
  return page;
}

absl::StatusOr<std::vector<StatusCount>> MemoryStore::Count(
    const ListQuery& query) {
  std::map<core::SagaStatus, int64_t> by_status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [saga_id, record] : sagas_) {
      if (MatchesFilter(record.summary, query)) {
        ++by_status[record.summary.status];
      }
    }
  }
  std::vector<StatusCount> counts;
  for (const auto& [status, count] : by_status) {
    counts.push_back({status, count});
  }
  return counts;
}

absl::Status MemoryStore::PutDefinition(const std::string& name, int version,
                                        const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = definitions_.try_emplace({name, version}, source);
  if (!inserted && it->second != source) {
    return absl::FailedPreconditionError(
        "definition " + name + " version " + std::to_string(version) +
        " is already recorded with a different source; give the changed "
        "definition a new version");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStore::GetDefinition(const std::string& name,
                                                       int version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = definitions_.find({name, version});
  if (it == definitions_.end()) {
    return absl::NotFoundError("definition " + name + " version " +
                               std::to_string(version) + " not found");
  }
  return it->second;
}

std::vector<core::OutboxMessage> MemoryStore::Outbox() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outbox_;
}

}  // namespace saga::store
