// The bulk forms of retry, cancel, skip-step and mark-compensated: the same
// repair over every saga a filter matches instead of one id. The sagas are
// listed first (their ids fixed for the run), counted, confirmed (on a
// terminal, or --yes), then repaired with at most --parallel calls in
// flight, a progress line on stderr, and a per-saga result at the end.
// Ctrl-C stops starting new calls, waits for the ones in flight, reports,
// and exits 130; the same command again does the rest.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "tools/sagactl/bulk_filter.h"
#include "tools/sagactl/bulk_result.h"
#include "tools/sagactl/commands.h"

namespace saga::sagactl {

struct BulkFlags {
  BulkFilterArgs filter;
  bool yes = false;
  bool dry_run = false;
  int parallel = 8;
};

// Adds the filter flags (--status --type --since --until --step
// --error-contains --business-key) and --yes, --dry-run, --parallel to
// `command`. skip-step's bulk form skips the --step it filters by.
std::shared_ptr<BulkFlags> AddBulkFlags(CLI::App& command);

// A single-id repair and a bulk one exclude each other: UsageError unless
// exactly one of `id` and a filter flag is given.
absl::Status OneIdOrFilter(const std::string& id, const BulkFlags& flags,
                           BulkAction action);

// Runs `action` (with `step` for skip-step, `reason` recorded with each
// repair) over every saga `flags` match; see the file comment.
absl::Status RunBulkRepair(Context& ctx, const BulkFlags& flags,
                           BulkAction action, const std::string& step,
                           const std::string& reason);

}  // namespace saga::sagactl
