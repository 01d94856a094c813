#include "tools/sagactl/bulk_filter.h"

#include <chrono>
#include <optional>

#include "tools/sagactl/duration.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/render.h"

namespace saga::sagactl {
namespace {

// A duration flag as milliseconds before `now_ms`; nullopt when not given.
absl::StatusOr<std::optional<int64_t>> AgoMs(const std::string& flag,
                                             const std::string& text,
                                             int64_t now_ms) {
  if (text.empty()) return std::optional<int64_t>();
  absl::StatusOr<std::chrono::milliseconds> ago = ParseDuration(text);
  if (!ago.ok()) {
    return UsageError(flag + ": " + std::string(ago.status().message()));
  }
  return std::optional<int64_t>(now_ms - ago->count());
}

}  // namespace

bool BulkFilterArgs::any() const {
  return !status.empty() || !type.empty() || !since.empty() || !until.empty() ||
         !step.empty() || !error_contains.empty() || !business_key.empty();
}

absl::StatusOr<v1::ListSagasRequest> BulkListRequest(const BulkFilterArgs& args,
                                                     int64_t now_ms) {
  v1::ListSagasRequest request;
  if (!args.status.empty()) {
    absl::StatusOr<v1::SagaStatus> status = ParseSagaStatus(args.status);
    if (!status.ok()) return UsageError(std::string(status.status().message()));
    request.set_status(*status);
  }
  absl::StatusOr<std::optional<int64_t>> after =
      AgoMs("--since", args.since, now_ms);
  if (!after.ok()) return after.status();
  absl::StatusOr<std::optional<int64_t>> before =
      AgoMs("--until", args.until, now_ms);
  if (!before.ok()) return before.status();
  if (after->has_value() && before->has_value() && **after >= **before) {
    return UsageError("--since " + args.since + " must reach further back " +
                      "than --until " + args.until);
  }
  if (after->has_value()) request.set_created_after_unix_ms(**after);
  if (before->has_value()) request.set_created_before_unix_ms(**before);
  request.set_saga_type(args.type);
  request.set_step(args.step);
  request.set_error_contains(args.error_contains);
  request.set_business_key(args.business_key);
  return request;
}

std::string GroupedCount(int64_t count) {
  std::string digits = std::to_string(count < 0 ? -count : count);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return count < 0 ? "-" + grouped : grouped;
}

}  // namespace saga::sagactl
