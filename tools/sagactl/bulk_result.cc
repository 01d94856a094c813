#include "tools/sagactl/bulk_result.h"

#include <nlohmann/json.hpp>

#include "tools/sagactl/bulk_filter.h"
#include "tools/sagactl/table.h"

namespace saga::sagactl {
namespace {

// Whether `saga`, as read after a refusal, already is where `action` aims.
bool AimReached(BulkAction action, const std::string& step,
                const v1::Saga& saga) {
  switch (action) {
    case BulkAction::kRetry:
      return saga.status() != v1::SAGA_STATUS_FAILED;
    case BulkAction::kCancel:
      return saga.status() == v1::SAGA_STATUS_COMPENSATING ||
             saga.status() == v1::SAGA_STATUS_COMPENSATED;
    case BulkAction::kSkipStep: {
      const bool stuck = saga.status() == v1::SAGA_STATUS_FAILED ||
                         saga.status() == v1::SAGA_STATUS_COMPENSATING;
      return !stuck || saga.current_step() != step;
    }
    case BulkAction::kMarkCompensated:
      return saga.status() == v1::SAGA_STATUS_COMPENSATED;
  }
  return false;
}

}  // namespace

const char* BulkActionVerb(BulkAction action) {
  switch (action) {
    case BulkAction::kRetry:
      return "retry";
    case BulkAction::kCancel:
      return "cancel";
    case BulkAction::kSkipStep:
      return "skip-step";
    case BulkAction::kMarkCompensated:
      return "mark-compensated";
  }
  return "?";
}

const char* BulkOutcomeName(BulkOutcome outcome) {
  switch (outcome) {
    case BulkOutcome::kDone:
      return "done";
    case BulkOutcome::kAlreadyDone:
      return "already_done";
    case BulkOutcome::kFailed:
      return "failed";
    case BulkOutcome::kNotAttempted:
      return "not_attempted";
  }
  return "?";
}

BulkItemResult ClassifyBulkItem(BulkAction action, const std::string& step,
                                const std::string& saga_id,
                                const absl::Status& call,
                                const std::optional<v1::Saga>& after) {
  BulkItemResult result;
  result.saga_id = saga_id;
  result.code = call.code();
  result.error = std::string(call.message());
  if (call.ok()) {
    result.outcome = BulkOutcome::kDone;
  } else if (absl::IsFailedPrecondition(call) && after.has_value() &&
             AimReached(action, step, *after)) {
    result.outcome = BulkOutcome::kAlreadyDone;
  } else {
    result.outcome = BulkOutcome::kFailed;
  }
  return result;
}

std::string RenderBulkJsonLine(const BulkItemResult& result) {
  nlohmann::ordered_json line = {
      {"saga_id", result.saga_id},
      {"outcome", BulkOutcomeName(result.outcome)},
      {"code", absl::StatusCodeToString(result.code)},
      {"error", result.error}};
  // Replacement instead of an exception for text that is not UTF-8.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

BulkCounts CountOutcomes(const std::vector<BulkItemResult>& results) {
  BulkCounts counts;
  for (const BulkItemResult& result : results) {
    switch (result.outcome) {
      case BulkOutcome::kDone:
        ++counts.done;
        break;
      case BulkOutcome::kAlreadyDone:
        ++counts.already_done;
        break;
      case BulkOutcome::kFailed:
        ++counts.failed;
        break;
      case BulkOutcome::kNotAttempted:
        ++counts.not_attempted;
        break;
    }
  }
  return counts;
}

std::string RenderBulkReport(BulkAction action,
                             const std::vector<BulkItemResult>& results,
                             bool interrupted) {
  const BulkCounts counts = CountOutcomes(results);
  std::string report =
      std::string(BulkActionVerb(action)) + " of " +
      GroupedCount(static_cast<int64_t>(results.size())) +
      (results.size() == 1 ? " saga" : " sagas") +
      (interrupted ? " (interrupted)" : "") + ": " +
      GroupedCount(static_cast<int64_t>(counts.done)) + " done, " +
      GroupedCount(static_cast<int64_t>(counts.already_done)) +
      " already done, " + GroupedCount(static_cast<int64_t>(counts.failed)) +
      " failed, " + GroupedCount(static_cast<int64_t>(counts.not_attempted)) +
      " not attempted\n";
  // The failures need a look, one by one; the sagas not attempted only a
  // second run, so they are counted, not listed (-o json lists every saga).
  Table table({"SAGA ID", "OUTCOME", "CODE", "ERROR"});
  for (const BulkItemResult& result : results) {
    if (result.outcome != BulkOutcome::kFailed) continue;
    table.AddRow({result.saga_id, BulkOutcomeName(result.outcome),
                  absl::StatusCodeToString(result.code), result.error});
  }
  if (!table.empty()) report += "\n" + table.Render();
  if (interrupted && counts.not_attempted > 0) {
    report += "\nRun the same command again to do the rest.\n";
  }
  return report;
}

}  // namespace saga::sagactl
