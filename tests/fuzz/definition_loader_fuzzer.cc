// Fuzz target: saga definitions (YAML) through the loader. Any bytes must
// give either a definition that obeys the loader's rules or InvalidArgument
// naming the source; and a loaded definition must work with the rest of the
// pure core (input validation, step input mapping) without crashing.

#include <cstddef>
#include <cstdint>
#include <string>

#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/input.h"
#include "orchestrator/core/state.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using saga::core::SagaDefinition;
using saga::core::StepKind;

constexpr char kSource[] = "fuzz.yaml";

void CheckLoaded(const SagaDefinition& def) {
  FUZZ_CHECK(!def.name.empty() && def.version >= 1, def.name);
  FUZZ_CHECK(!def.steps.empty(), def.name);
  int pivots = 0;
  for (size_t i = 0; i < def.steps.size(); ++i) {
    const auto& step = def.steps[i];
    FUZZ_CHECK(def.StepIndex(step.name) == static_cast<int>(i), step.name);
    FUZZ_CHECK(!step.participant.empty() && !step.action.empty(), step.name);
    FUZZ_CHECK(
        (step.kind == StepKind::kCompensatable) == !step.compensation.empty(),
        step.name);
    FUZZ_CHECK(step.timeout_ms > 0, step.name);
    for (const auto* policy : {&step.retry, &step.compensation_retry}) {
      FUZZ_CHECK(policy->max_attempts >= 1 && policy->initial_backoff_ms > 0 &&
                     policy->max_backoff_ms >= policy->initial_backoff_ms &&
                     policy->multiplier >= 1 && policy->jitter >= 0 &&
                     policy->jitter <= 1,
                 step.name);
    }
    // Step order: compensatable/read-only, at most one pivot, retriable.
    if (step.kind == StepKind::kPivot) ++pivots;
    FUZZ_CHECK(pivots <= 1, step.name);
    FUZZ_CHECK((step.kind == StepKind::kRetriable) ==
                   (pivots == 1 && step.kind != StepKind::kPivot),
               step.name);
  }

  // The definition drives the rest of the core: an empty object as input
  // (valid only without required fields) and every step's input mapping
  // with nothing succeeded yet.
  auto input = saga::core::ValidateSagaInput(def, "{}", 1024);
  FUZZ_CHECK(input.ok() == def.required_input.empty(),
             input.status().ToString());
  saga::core::SagaState state = saga::core::NewSagaState(def, "fuzz");
  state.input_json = input.ok() ? *input : "{}";
  for (size_t i = 0; i < def.steps.size(); ++i) {
    auto mapped = saga::core::BuildStepInput(def, state, static_cast<int>(i));
    FUZZ_CHECK(mapped.ok() || mapped.status().code() ==
                                  absl::StatusCode::kFailedPrecondition,
               mapped.status().ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<SagaDefinition> def =
      saga::core::ParseDefinition(text, kSource);
  if (def.ok()) {
    CheckLoaded(*def);
  } else {
    const std::string message(def.status().message());
    FUZZ_CHECK(def.status().code() == absl::StatusCode::kInvalidArgument,
               def.status().ToString());
    FUZZ_CHECK(message.rfind(std::string(kSource) + ": ", 0) == 0, message);
  }
  return 0;
}
