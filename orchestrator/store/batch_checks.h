// Checks and normalisation shared by the SagaStore implementations, so that
// every backend accepts and returns exactly the same things.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"

namespace saga::store {

// The saga id a batch is for: batch.saga_id, or summary.saga_id when the
// former is empty.
const std::string& BatchSagaId(const AppendBatch& batch);

// InvalidArgument unless `batch` is well formed: a saga id (the same in
// saga_id and summary.saga_id when both are set), events numbered
// expected_last_seq + 1, + 2, ..., summary.last_seq equal to the last of
// them (or to expected_last_seq when there are none), outbox messages each
// about an event of the batch (seq one of theirs, in increasing order, so at
// most one per event; id "<saga id>:<seq>") with
// a JSON header and payload, a writer and a positive lease_ttl. For
// Create (`creating`) also expected_last_seq 0, at least one event, a saga
// type and a JSON input.
absl::Status CheckBatch(const AppendBatch& batch, bool creating);

// InvalidArgument unless `owner` is non-empty and `ttl` positive.
absl::Status CheckLease(const std::string& owner,
                        std::chrono::milliseconds ttl);

// CheckLease, and InvalidArgument unless `limit` is positive: Claim's
// arguments.
absl::Status CheckClaim(const std::string& owner, std::chrono::milliseconds ttl,
                        int limit);

// `json` re-serialised compactly with sorted keys; InvalidArgument if it is
// not JSON. Both backends return inputs in this form.
absl::StatusOr<std::string> CanonicalJson(const std::string& json);

// Whether two valid JSON texts denote the same value (object key order and
// whitespace do not matter). False if either is not JSON.
bool JsonEqual(const std::string& a, const std::string& b);

}  // namespace saga::store
