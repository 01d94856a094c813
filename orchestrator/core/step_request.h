// What the engine sends a participant for a step's call, built from the
// saga's definition and state alone. Pure.
//
// The idempotency key is a wire contract: participants deduplicate calls by
// it and keep it in their databases, so its format never changes (the
// tests in step_request_test.cc pin it byte for byte).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"

namespace saga::core {

// The key every attempt of one call shares, across retries and
// orchestrator restarts: "<saga_id>/<step>/execute" for Execute,
// "<saga_id>/<step>/compensate" for Compensate.
std::string IdempotencyKey(std::string_view saga_id, std::string_view step,
                           bool compensation);

// One call to a participant (the fields of saga.v1.StepRequest, plus whom
// to call and which RPC).
struct StepRequest {
  std::string participant;
  bool compensation = false;  // Compensate, else Execute
  std::string saga_id;
  std::string step;
  std::string action;  // the step's action, or its compensation's
  std::string idempotency_key;
  int attempt = 0;
  // Absolute deadline, Unix epoch milliseconds, as decided (the engine
  // extends it by the time the call waits at its participant's gate).
  int64_t deadline_ms = 0;
  std::string input_json;
  // Compensate only: the key of the Execute being undone and its output
  // (empty when the Execute's outcome is unknown).
  std::string original_idempotency_key;
  std::string original_output_json;
  // Execute of an asynchronous step: the attempt's completion token.
  std::string completion_token;

  bool operator==(const StepRequest&) const = default;
};

// The request for `command` (kInvokeStep or kInvokeCompensation) of the
// saga in `state`. FailedPrecondition (from BuildStepInput) when the step's
// input mapping names a field an earlier step did not return.
absl::StatusOr<StepRequest> StepRequestFor(const SagaDefinition& definition,
                                           const SagaState& state,
                                           const Command& command);

}  // namespace saga::core
