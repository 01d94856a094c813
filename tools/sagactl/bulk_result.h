// What a bulk repair did to each saga, told honestly: classification of
// each call's answer, the summary, and the per-saga lines. Pure; no gRPC.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::sagactl {

// The repairs a bulk run can make.
enum class BulkAction { kRetry, kCancel, kSkipStep, kMarkCompensated };

// "retry", "cancel", "skip-step", "mark-compensated".
const char* BulkActionVerb(BulkAction action);

enum class BulkOutcome {
  kDone,          // the call succeeded: this run repaired the saga
  kAlreadyDone,   // refused (FAILED_PRECONDITION), but the saga already is
                  // where the repair would put it (e.g. an earlier run did it)
  kFailed,        // refused or failed otherwise: the saga needs a look
  kNotAttempted,  // never called (interrupted before its turn)
};

// "done", "already_done", "failed", "not_attempted".
const char* BulkOutcomeName(BulkOutcome outcome);

struct BulkItemResult {
  std::string saga_id;
  BulkOutcome outcome = BulkOutcome::kNotAttempted;
  absl::StatusCode code = absl::StatusCode::kOk;  // the server's answer
  std::string error;                              // its message; "" when OK
};

// The outcome of `action` (`step`: skip-step's step) on `saga_id` from the
// call's status and, after a FAILED_PRECONDITION, the saga as read then
// (nullopt: the read failed). A refusal counts as already done only when
// `after` shows the repair's aim reached: retry - no longer FAILED; cancel -
// rolling back or rolled back; skip-step - no longer compensating `step`;
// mark-compensated - COMPENSATED. The server's code and reason are kept
// either way.
BulkItemResult ClassifyBulkItem(BulkAction action, const std::string& step,
                                const std::string& saga_id,
                                const absl::Status& call,
                                const std::optional<v1::Saga>& after);

// One JSON line per saga: {"saga_id","outcome","code","error"} ('\n'-ended;
// code is the gRPC code name, e.g. "OK", "FAILED_PRECONDITION").
std::string RenderBulkJsonLine(const BulkItemResult& result);

struct BulkCounts {
  size_t done = 0;
  size_t already_done = 0;
  size_t failed = 0;
  size_t not_attempted = 0;
};
BulkCounts CountOutcomes(const std::vector<BulkItemResult>& results);

// The end of a table-mode run: one summary line, then a table of the sagas
// that failed (with the server's code and reason), and with `interrupted`,
// how to finish the job.
std::string RenderBulkReport(BulkAction action,
                             const std::vector<BulkItemResult>& results,
                             bool interrupted);

}  // namespace saga::sagactl
