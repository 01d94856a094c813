// Fault injection for tests and demos: a participant can be told to fail a
// share of its calls with a retryable error, to answer slowly, or to refuse
// every call as if it were down. Configured from flags, overridden by the
// environment (SAGA_FAULT_FAIL_RATE, SAGA_FAULT_LATENCY_MS,
// SAGA_FAULT_REFUSE_ALL). The action name "*" applies to every action that
// has no entry of its own.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::participants {

// A simulated processing time, drawn uniformly from [min, max] per call.
struct LatencyRange {
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max{0};
};

struct FaultConfig {
  // Action -> probability in [0, 1] of an injected retryable failure.
  std::map<std::string, double> fail_rate;
  // Action -> simulated processing time.
  std::map<std::string, LatencyRange> latency;
  bool refuse_all = false;
};

// Builds the configuration from repeated flag values ("ACTION=P",
// "ACTION=MS", or "ACTION=MIN-MAX" for a time drawn per call, so that a
// share of the calls outlasts a caller's timeout) and then applies the
// environment variables on top: an action
// named in the environment takes the environment's value;
// SAGA_FAULT_REFUSE_ALL=1|true|0|false replaces the flag. InvalidArgument
// names the malformed entry.
absl::StatusOr<FaultConfig> BuildFaultConfig(
    const std::vector<std::string>& fail_rate_flags,
    const std::vector<std::string>& latency_flags, bool refuse_all_flag);

// Decides, per call, which faults to inject. Thread-safe.
class FaultInjector {
 public:
  explicit FaultInjector(FaultConfig config);

  bool RefuseAll() const { return config_.refuse_all; }
  // Zero when no latency is configured for `action`; a draw from its range
  // otherwise.
  std::chrono::milliseconds LatencyFor(const std::string& action) const;
  // True with the configured probability for `action`.
  bool ShouldFail(const std::string& action) const;
  // A one-line description for the start-up log ("none" when empty).
  std::string Describe() const;

 private:
  FaultConfig config_;
};

}  // namespace saga::participants
