// Runs Execute and Compensate calls exactly once per idempotency key: each
// call's handler runs in one PostgreSQL transaction together with the
// idempotency_keys row that records its result, so the effect and the record
// commit or vanish together. A repeated key answers with the recorded
// result; a Compensate whose Execute never ran leaves a tombstone under the
// Execute's key so a late Execute does nothing.
//
// The table (migrations/participant_common, applied to every participant
// database):
//   idempotency_keys(key PK, saga_id, step, action,
//                    kind 'execute'|'compensate'|'tombstone',
//                    outcome 'pending'|'succeeded'|'business_failure'|
//                            'accepted'|'none',
//                    output jsonb, error, created_at)
// 'pending' only exists inside an uncommitted transaction: a committed row
// always carries its final outcome. Tombstones have outcome 'none'.
//
// An Execute answered ACCEPTED (outcome 'accepted', an asynchronous step)
// is not final: a repeated Execute with its key runs the handler again, so
// it can take the new attempt's completion token, and records its answer.
//
// Thread-safe; concurrent calls with one key serialize on the key's unique
// index (the second waits until the first commits, then reads its result).
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/pg/connection_pool.h"
#include "participants/common/action.h"
#include "participants/common/fault_injection.h"

namespace saga::participants {

// The request as it arrives, before the JSON is parsed.
struct StepCall {
  std::string saga_id;
  std::string step;
  std::string action;
  std::string idempotency_key;
  std::string original_idempotency_key;
  int attempt = 0;
  std::string input_json;
  std::string original_output_json;
  std::string completion_token;
};

class IdempotentRunner {
 public:
  // All must outlive the runner. `faults` may be null. Injected failures
  // and latency only hit calls that would apply their key now: a repeated
  // key still answers its recorded result, because a retryable failure
  // promises that nothing was recorded. Latency (--latency-ms) is spent in
  // the action's transaction, before the action runs, as a slow database or
  // dependency would spend it: past the caller's deadline nothing applies.
  IdempotentRunner(pg::ConnectionPool* pool, const ActionRegistry* registry,
                   const FaultInjector* faults = nullptr);

  // The result to send back. A retryable failure means nothing was
  // recorded. `deadline` is the caller's: every statement is bounded by the
  // time left before it, and the transaction commits only if it has not
  // passed. Errors: Unavailable (database unreachable: nothing was
  // recorded), Unknown (a commit whose outcome is unknown: a retry with the
  // same key reads what was recorded), DeadlineExceeded (the deadline
  // passed before a connection was free, or before the effect committed:
  // rolled back, the key stays unused) and Internal (a failure that is not
  // the database's: rolled back).
  absl::StatusOr<ActionResult> Execute(
      const StepCall& call, std::chrono::system_clock::time_point deadline);
  absl::StatusOr<ActionResult> Compensate(
      const StepCall& call, std::chrono::system_clock::time_point deadline);

 private:
  bool InjectFailure(const std::string& action) const;
  void SlowDependency(pqxx::work& tx, const std::string& action) const;

  pg::ConnectionPool* pool_;
  const ActionRegistry* registry_;
  const FaultInjector* faults_;
};

}  // namespace saga::participants
