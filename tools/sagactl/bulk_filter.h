// The filter of sagactl's bulk repairs (retry, cancel, skip-step and
// mark-compensated over every matching saga instead of one id): the flags as
// typed, checked, and turned into the ListSagas request that selects the
// sagas. Pure; no gRPC.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::sagactl {

// The filter flags as typed. Durations ("2h", "30m") count back from now.
struct BulkFilterArgs {
  std::string status;          // --status FAILED
  std::string type;            // --type T
  std::string since;           // --since 2h: created within the last 2h
  std::string until;           // --until 30m: created more than 30m ago
  std::string step;            // --step S
  std::string error_contains;  // --error-contains X
  std::string business_key;    // --business-key K

  // True when at least one flag is given: a bulk run, not a single-id one.
  bool any() const;
};

// The ListSagas request for `args` at `now_ms`; a UsageError for a bad
// status or duration, or --since not before --until.
absl::StatusOr<v1::ListSagasRequest> BulkListRequest(const BulkFilterArgs& args,
                                                     int64_t now_ms);

// "1,000" (thousands separated by commas).
std::string GroupedCount(int64_t count);

}  // namespace saga::sagactl
