// The orchestrator's persistence: a narrow interface with a PostgreSQL
// implementation (postgres/) and an in-memory one (memory/) for tests.
// Every write goes through Create or Append, which commit events, the saga
// summary row and outbox messages in one transaction: group commit changes
// only the implementation of these two.
//
// Thread-safety: implementations are safe to call from many threads. Calls
// block; the engine runs them on its database thread pool.
// Errors: Unavailable (database unreachable; nothing committed), Aborted
// (fencing: the expected sequence number did not match), NotFound,
// AlreadyExists (idempotency key reused with a different input), Unknown
// (the commit's outcome is in doubt: re-read before acting).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/outbox.h"
#include "orchestrator/core/state.h"

namespace saga::store {

// The saga row: what lists and filters need without folding the history.
struct SagaSummary {
  std::string saga_id;
  std::string saga_type;
  int definition_version = 0;
  core::SagaStatus status = core::SagaStatus::kRunning;
  std::string current_step;  // step name; empty when none
  // Attempts made so far at current_step (Execute or, while compensating,
  // Compensate calls).
  int current_attempt = 0;
  std::string error;
  std::string input_json;
  std::string idempotency_key;  // empty when none
  int64_t last_seq = 0;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// One transaction's worth of writes for one saga.
struct AppendBatch {
  std::string saga_id;
  // The seq of the saga's last committed event; the batch's events carry
  // seq expected_last_seq + 1, + 2, ... A mismatch fails with Aborted.
  int64_t expected_last_seq = 0;
  std::vector<core::Event> events;
  // The summary row after these events (status, current_step,
  // current_attempt, error, last_seq, updated_ms are written; the rest is
  // ignored on Append).
  SagaSummary summary;
  std::vector<core::OutboxMessage> outbox;
};

struct CreateResult {
  std::string saga_id;
  bool created = false;  // false: an earlier call with the key created it
};

struct SagaRecord {
  SagaSummary summary;
  std::vector<core::Event> events;  // in seq order
};

struct ListQuery {
  std::string saga_type;                   // empty: any
  std::optional<core::SagaStatus> status;  // none: any
  int64_t created_after_ms = 0;            // 0: any
  int limit = 50;
  // Resume after this (created_ms, saga_id) position (newest first).
  std::optional<std::pair<int64_t, std::string>> after;
};

struct ListPage {
  std::vector<SagaSummary> sagas;
  bool more = false;  // another page exists after the last row
};

class SagaStore {
 public:
  virtual ~SagaStore() = default;

  // Inserts the saga row (from first.summary, including input_json and
  // idempotency_key) and appends `first` (expected_last_seq 0), atomically.
  // With a non-empty idempotency key that already exists: returns that saga
  // with created=false if saga_type and input (compared as JSON) are equal,
  // AlreadyExists otherwise; nothing is written.
  virtual absl::StatusOr<CreateResult> Create(const AppendBatch& first) = 0;

  virtual absl::Status Append(const AppendBatch& batch) = 0;

  // Group forms of Create and Append, for a caller that has many batches
  // ready at once (the engine's committer): one result per batch, in order,
  // each exactly what Create/Append would have returned for it alone. An
  // implementation may commit the whole group in one transaction (one
  // durable commit for all); a batch that is refused (fenced, bad, key
  // taken) does not refuse the others. The defaults call Create/Append one
  // batch at a time.
  virtual std::vector<absl::StatusOr<CreateResult>> CreateGroup(
      const std::vector<const AppendBatch*>& batches);
  virtual std::vector<absl::Status> AppendGroup(
      const std::vector<const AppendBatch*>& batches);

  virtual absl::StatusOr<SagaRecord> Load(const std::string& saga_id) = 0;
  virtual absl::StatusOr<SagaSummary> LoadSummary(
      const std::string& saga_id) = 0;

  // Every saga not in a terminal state, with its history (recovery).
  virtual absl::StatusOr<std::vector<SagaRecord>> LoadUnfinished() = 0;

  // The same sagas handed to `sink` in chunks of at most `chunk` (>= 1), in
  // saga id order, as they are read, so a caller can start on the first
  // chunk while the rest are still being read. All chunks come from one
  // consistent snapshot. summary.input_json may be left empty (the
  // history's SagaStarted carries the input). Stops at the first error of
  // `sink` and returns it. The default reads everything with
  // LoadUnfinished, then hands it out.
  virtual absl::Status ScanUnfinished(
      size_t chunk,
      const std::function<absl::Status(std::vector<SagaRecord>)>& sink);

  virtual absl::StatusOr<ListPage> List(const ListQuery& query) = 0;

  // Records a definition's source under (name, version). Idempotent for the
  // same source; FailedPrecondition if that version exists with another
  // source (a changed definition must get a new version).
  virtual absl::Status PutDefinition(const std::string& name, int version,
                                     const std::string& source) = 0;
  virtual absl::StatusOr<std::string> GetDefinition(const std::string& name,
                                                    int version) = 0;
};

}  // namespace saga::store
