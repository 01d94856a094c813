// What the retention job (orchestrator/retention/retention_job.h) needs
// from the database: delete ended sagas and old outbox rows in small
// batches, one instance at a time.
//
// Coordination: each batch runs in one transaction that first takes the
// database's retention lock without waiting; when another instance holds it
// the batch does nothing and says so (nullopt), and that instance's job is
// the one pruning. Sagas are locked as they are picked (SKIP LOCKED), so a
// saga an operator is repairing at that moment is left for a later batch,
// and one that was brought back to life before the lock is no longer picked.
//
// Thread-safety: one job calls it at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/state.h"
#include "orchestrator/store/store.h"

namespace saga::store {

// The sagas one batch may delete.
struct EndedSagas {
  std::string saga_type;
  // COMPLETED, COMPENSATED or FAILED (InvalidArgument for another).
  core::SagaStatus status = core::SagaStatus::kCompleted;
  // Only sagas whose last write (updated_at) is at least this old, by the
  // database's clock. > 0.
  int64_t older_than_ms = 0;
  int limit = 500;  // > 0
};

// The outbox rows one batch may delete.
struct OldOutboxRows {
  // DISPATCHED rows delivered at least this long ago; 0: none.
  int64_t dispatched_older_than_ms = 0;
  // PENDING rows written at least this long ago (for databases without a
  // dispatcher, whose rows stay PENDING); 0: none.
  int64_t pending_older_than_ms = 0;
  int limit = 500;  // > 0
};

struct PrunedSagas {
  int64_t sagas = 0;
  int64_t events = 0;
};

class RetentionStore {
 public:
  // Runs on the batch's records (summary and events, in saga id order), with
  // their rows locked, before they are deleted: an error rolls the batch
  // back and is returned.
  using BeforeDelete =
      std::function<absl::Status(const std::vector<SagaRecord>& records)>;

  virtual ~RetentionStore() = default;

  // Every saga type the database has definitions for.
  virtual absl::StatusOr<std::vector<std::string>> SagaTypes() = 0;

  // Deletes up to `which.limit` matching sagas with their events, oldest
  // first, in one transaction, after `before_delete` accepted them. A child
  // saga stays while its parent exists and has not ended COMPLETED or
  // COMPENSATED (a parent reads its child's history). nullopt: another
  // instance holds the retention lock; nothing was done.
  virtual absl::StatusOr<std::optional<PrunedSagas>> PruneSagas(
      const EndedSagas& which, const BeforeDelete& before_delete) = 0;

  // Deletes up to `which.limit` outbox rows (oldest first) in one
  // transaction. Returns how many; nullopt as for PruneSagas.
  virtual absl::StatusOr<std::optional<int64_t>> PruneOutbox(
      const OldOutboxRows& which) = 0;
};

}  // namespace saga::store
