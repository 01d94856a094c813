#include "orchestrator/core/delay_due.h"

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/input.h"

namespace saga::core {

absl::StatusOr<int64_t> ParseTimeJson(const std::string& json_text) {
  const nlohmann::json value =
      nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) {
    absl::Time time;
    std::string error;
    if (absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &time,
                        &error)) {
      return absl::ToUnixMillis(time);
    }
  }
  return absl::FailedPreconditionError(
      json_text +
      " is not a time (an RFC 3339 string such as "
      "\"2026-12-06T10:00:00Z\", or Unix milliseconds)");
}

absl::StatusOr<int64_t> DelayDueMs(const SagaDefinition& definition,
                                   const SagaState& state, int step,
                                   int64_t started_ms) {
  const StepDefinition& def = definition.steps.at(step);
  if (def.until.empty()) return started_ms + def.delay_ms;
  absl::StatusOr<std::string> value =
      ResolveSource(definition, state, step, "until", def.until);
  if (!value.ok()) return value.status();
  absl::StatusOr<int64_t> due = ParseTimeJson(*value);
  if (!due.ok()) {
    return absl::FailedPreconditionError(
        "step '" + def.name + "': field 'until': source '" + def.until +
        "': " + std::string(due.status().message()));
  }
  return *due;
}

}  // namespace saga::core
