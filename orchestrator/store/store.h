// The orchestrator's persistence: a narrow interface with a PostgreSQL
// implementation (postgres/) and an in-memory one (memory/) for tests.
// Every write goes through Create or Append, which commit events, the saga
// summary row and outbox messages in one transaction: group commit changes
// only the implementation of these two.
//
// Leases: several orchestrator instances may share one store. Each unfinished
// saga is driven by the instance holding its lease (an owner and an expiry on
// the saga row, judged by the store's clock, so instances need no
// synchronised clocks). Create leases a new saga to its writer; an instance
// takes over free and expired leases with Claim, keeps its own with
// RenewLeases and gives them up with ReleaseLeases. Append commits only for
// the lease holder: an instance that lost a lease (paused past its expiry, a
// "zombie") is refused like a stale sequence number, so no saga ever has two
// writers at once (README, "Guarantees", 5).
//
// Thread-safety: implementations are safe to call from many threads. Calls
// block; the engine runs them on its database thread pool.
// Errors: Unavailable (database unreachable; nothing committed), Aborted
// (fencing: the expected sequence number did not match, or the writer does
// not hold the saga's lease), NotFound,
// AlreadyExists (idempotency key reused with a different input), Unknown
// (the commit's outcome is in doubt: re-read before acting).
#pragma once

#include <chrono>
#include <cstdint>
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
  // The lease, as the store last recorded it (read-only: Create and Append
  // ignore these). Empty / 0 when nobody holds it. An ended saga keeps the
  // lease of its last writer, which no longer means anything.
  std::string lease_owner;
  int64_t lease_expires_ms = 0;
  // A child saga's parent and the parent's step that started it (written
  // by Create; empty for a saga started through the API).
  std::string parent_saga_id;
  std::string parent_step;
  // The saga's business key (empty: none) and, for a rerun, the ended saga
  // it reran (written by Create).
  std::string business_key;
  std::string rerun_of;
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
  // The saga's state after these events (core::EncodeSnapshot), recorded
  // with them so that a Claim reads it instead of the history before it;
  // empty: the saga keeps its last snapshot (the engine writes one when the
  // saga comes to rest, core::SagaRests).
  std::string snapshot;
  // The orchestrator instance writing the batch (required; recorded with
  // each event). Append commits only while the saga's lease names it (an
  // expired lease still does, until another instance claims it), and then
  // extends the lease to now + lease_ttl; Create leases the new saga to it
  // for lease_ttl.
  std::string writer;
  std::chrono::milliseconds lease_ttl{0};  // must be positive
};

struct CreateResult {
  std::string saga_id;
  bool created = false;  // false: an earlier call with the key created it
};

struct SagaRecord {
  SagaSummary summary;
  std::vector<core::Event> events;  // in seq order
  // Claim's records start from the saga's last snapshot when it has one:
  // `snapshot` is the state after event snapshot_seq, and `events` holds
  // only the events after it. Empty (and every other read): `events` is
  // the whole history.
  std::string snapshot;
  int64_t snapshot_seq = 0;
};

// A stretch of one saga's history (SagaStore::LoadHistory).
struct HistoryPage {
  SagaSummary summary;
  std::vector<core::Event> events;  // in seq order
  bool more = false;                // events follow the last one
};

struct ListQuery {
  std::string saga_type;                   // empty: any
  std::optional<core::SagaStatus> status;  // none: any
  int64_t created_after_ms = 0;            // 0: any
  std::string parent_saga_id;              // empty: any; else its children
  std::string business_key;                // empty: any
  std::string rerun_of;                    // empty: any; else its reruns
  // A step the saga is at (SagaAtStep); empty: any.
  std::string step;
  // Text the saga's error contains, ignoring case; empty: any.
  std::string error_contains;
  int64_t created_before_ms = 0;  // 0: any; else created before it
  int limit = 50;
  // Resume after this (created_ms, saga_id) position (newest first).
  std::optional<std::pair<int64_t, std::string>> after;
};

// The filter's rule for `step`: a FAILED saga is at the step whose
// compensation gave up, a running one at each step it executes or
// compensates (current_step, comma-separated while steps run in parallel).
bool SagaAtStep(const SagaSummary& summary, const std::string& step);

struct StatusCount {
  core::SagaStatus status = core::SagaStatus::kRunning;
  int64_t count = 0;
};

struct ListPage {
  std::vector<SagaSummary> sagas;
  bool more = false;  // another page exists after the last row
};

// Create's answer when `key` is held by saga `holder_id` for another type
// or input: AlreadyExists naming both, with the holder's id also attached
// as a payload, so the API can check who started that saga before it lets
// the message (or the id) reach a caller.
absl::Status KeyTakenError(const std::string& key,
                           const std::string& holder_id);
// The holder's id attached by KeyTakenError; nullopt for any other status.
std::optional<std::string> KeyHolder(const absl::Status& status);

class SagaStore {
 public:
  virtual ~SagaStore() = default;

  // Inserts the saga row (from first.summary, including input_json and
  // idempotency_key), leased to first.writer, and appends `first`
  // (expected_last_seq 0), atomically.
  // With a non-empty idempotency key that already exists: returns that saga
  // with created=false if saga_type and input (compared as JSON) are equal,
  // KeyTakenError otherwise; nothing is written.
  virtual absl::StatusOr<CreateResult> Create(const AppendBatch& first) = 0;

  // Aborted if batch.expected_last_seq is stale or batch.writer does not
  // hold the saga's lease (the message says which); nothing is written.
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
  // The saga with the events after seq `after_seq`, at most `limit` of them
  // (0: all). NotFound if no such saga. The default slices Load's history;
  // a database reads only the page (its (saga_id, seq) key).
  virtual absl::StatusOr<HistoryPage> LoadHistory(const std::string& saga_id,
                                                  int64_t after_seq, int limit);

  // Leases to `owner` until now + ttl up to `limit` unfinished sagas whose
  // lease is free or has expired and whose id sorts after `after` ("" for
  // any), in saga id order, and returns them with their histories (from
  // their snapshots: see SagaRecord). Passing the last id of one batch as
  // `after` of the next keeps a pass over many sagas linear: a claim never
  // rescans the sagas just leased. Sagas being
  // written at that moment are skipped, so concurrent claimers never get the
  // same saga and never wait for each other. InvalidArgument for an empty
  // owner or a non-positive ttl / limit.
  virtual absl::StatusOr<std::vector<SagaRecord>> Claim(
      const std::string& owner, std::chrono::milliseconds ttl, int limit,
      const std::string& after) = 0;

  // Leases one saga to `owner` until now + ttl and returns it, when its
  // lease is free, expired or already owner's, or the saga has ended (an
  // ended saga is driven by nobody; an operator may bring it back).
  // FailedPrecondition (naming the holder) while another instance holds a
  // live lease on the unfinished saga; NotFound.
  virtual absl::StatusOr<SagaRecord> ClaimSaga(
      const std::string& saga_id, const std::string& owner,
      std::chrono::milliseconds ttl) = 0;

  // Extends every lease `owner` holds on an unfinished saga to now + ttl,
  // in one write for all of them. Returns how many. Sagas being written at
  // that moment are skipped: Append extends their leases itself.
  virtual absl::StatusOr<int64_t> RenewLeases(
      const std::string& owner, std::chrono::milliseconds ttl) = 0;

  // Gives up every lease `owner` holds on an unfinished saga, so other
  // instances can claim those sagas at once (graceful shutdown; also at
  // start-up, for leases left by an earlier process with the same instance
  // id). Returns how many.
  virtual absl::StatusOr<int64_t> ReleaseLeases(const std::string& owner) = 0;
  // Gives up owner's lease of one saga (one this instance cannot drive);
  // OK if owner did not hold it.
  virtual absl::Status ReleaseLease(const std::string& saga_id,
                                    const std::string& owner) = 0;

  virtual absl::StatusOr<ListPage> List(const ListQuery& query) = 0;
  // How many sagas match query's filter (its limit and after are ignored),
  // per status with at least one, in SagaStatus order.
  virtual absl::StatusOr<std::vector<StatusCount>> Count(
      const ListQuery& query) = 0;

  // Records a definition's source under (name, version). Idempotent for the
  // same source; FailedPrecondition if that version exists with another
  // source (a changed definition must get a new version).
  virtual absl::Status PutDefinition(const std::string& name, int version,
                                     const std::string& source) = 0;
  virtual absl::StatusOr<std::string> GetDefinition(const std::string& name,
                                                    int version) = 0;
};

}  // namespace saga::store
