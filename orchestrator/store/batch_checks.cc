#include "orchestrator/store/batch_checks.h"

#include <nlohmann/json.hpp>

namespace saga::store {
namespace {

bool IsJson(const std::string& text) { return nlohmann::json::accept(text); }

}  // namespace

const std::string& BatchSagaId(const AppendBatch& batch) {
  return batch.saga_id.empty() ? batch.summary.saga_id : batch.saga_id;
}

absl::Status CheckBatch(const AppendBatch& batch, bool creating) {
  const std::string& saga_id = BatchSagaId(batch);
  if (saga_id.empty()) {
    return absl::InvalidArgumentError("batch has no saga id");
  }
  if (!batch.summary.saga_id.empty() && batch.summary.saga_id != saga_id) {
    return absl::InvalidArgumentError("batch for saga " + saga_id +
                                      " carries the summary of saga " +
                                      batch.summary.saga_id);
  }
  if (batch.writer.empty() || batch.lease_ttl.count() <= 0) {
    return absl::InvalidArgumentError(
        "batch for saga " + saga_id +
        " needs a writer and a positive lease_ttl");
  }
  if (creating) {
    if (batch.expected_last_seq != 0) {
      return absl::InvalidArgumentError("creating saga " + saga_id +
                                        ": expected_last_seq must be 0");
    }
    if (batch.events.empty()) {
      return absl::InvalidArgumentError("creating saga " + saga_id +
                                        ": no events");
    }
    if (batch.summary.saga_type.empty()) {
      return absl::InvalidArgumentError("creating saga " + saga_id +
                                        ": no saga type");
    }
    if (!IsJson(batch.summary.input_json)) {
      return absl::InvalidArgumentError("creating saga " + saga_id +
                                        ": input is not JSON");
    }
  }
  int64_t seq = batch.expected_last_seq;
  for (const core::Event& event : batch.events) {
    ++seq;
    if (event.seq != seq) {
      return absl::InvalidArgumentError(
          "batch for saga " + saga_id + ": event has seq " +
          std::to_string(event.seq) + ", expected " + std::to_string(seq));
    }
  }
  if (batch.summary.last_seq != seq) {
    return absl::InvalidArgumentError(
        "batch for saga " + saga_id + ": summary.last_seq is " +
        std::to_string(batch.summary.last_seq) + " but the batch ends at seq " +
        std::to_string(seq));
  }
  int64_t previous_seq = batch.expected_last_seq;
  for (const core::OutboxMessage& message : batch.outbox) {
    // Named after its event, at most one per event, a message's id is
    // unique as the event's (saga id, seq) is: no store needs to look ids
    // up.
    if (message.seq <= previous_seq || message.seq > seq ||
        message.message_id != saga_id + ":" + std::to_string(message.seq)) {
      return absl::InvalidArgumentError(
          "batch for saga " + saga_id + ": outbox message '" +
          message.message_id + "' (seq " + std::to_string(message.seq) +
          ") is not about an event of the batch after the one before it: "
          "its seq must be one of theirs, in order, once, and its id "
          "'<saga id>:<seq>'");
    }
    previous_seq = message.seq;
    if (!IsJson(message.header_json) || !IsJson(message.payload_json)) {
      return absl::InvalidArgumentError("batch for saga " + saga_id +
                                        ": outbox message " +
                                        message.message_id +
                                        " has a header or payload that is "
                                        "not JSON");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLease(const std::string& owner,
                        std::chrono::milliseconds ttl) {
  if (owner.empty()) {
    return absl::InvalidArgumentError("a lease needs an owner");
  }
  if (ttl.count() <= 0) {
    return absl::InvalidArgumentError("lease ttl must be positive, got " +
                                      std::to_string(ttl.count()) + " ms");
  }
  return absl::OkStatus();
}

absl::Status CheckClaim(const std::string& owner, std::chrono::milliseconds ttl,
                        int limit) {
  if (absl::Status status = CheckLease(owner, ttl); !status.ok()) return status;
  if (limit <= 0) {
    return absl::InvalidArgumentError("claim limit must be positive, got " +
                                      std::to_string(limit));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CanonicalJson(const std::string& json) {
  nlohmann::json value = nlohmann::json::parse(json, nullptr, false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError("not JSON: " + json.substr(0, 200));
  }
  return value.dump();
}

bool JsonEqual(const std::string& a, const std::string& b) {
  nlohmann::json va = nlohmann::json::parse(a, nullptr, false);
  nlohmann::json vb = nlohmann::json::parse(b, nullptr, false);
  return !va.is_discarded() && !vb.is_discarded() && va == vb;
}

}  // namespace saga::store
