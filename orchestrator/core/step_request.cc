#include "orchestrator/core/step_request.h"

#include "orchestrator/core/input.h"

namespace saga::core {

std::string IdempotencyKey(std::string_view saga_id, std::string_view step,
                           bool compensation) {
  std::string key;
  key.reserve(saga_id.size() + step.size() + 12);
  key.append(saga_id).append("/").append(step);
  key.append(compensation ? "/compensate" : "/execute");
  return key;
}

absl::StatusOr<StepRequest> StepRequestFor(const SagaDefinition& definition,
                                           const SagaState& state,
                                           const Command& command) {
  absl::StatusOr<std::string> input =
      BuildStepInput(definition, state, command.step);
  if (!input.ok()) return input.status();
  const StepDefinition& step = definition.steps[command.step];
  StepRequest request;
  request.participant = step.participant;
  request.compensation = command.kind == Command::Kind::kInvokeCompensation;
  request.saga_id = state.saga_id;
  request.step = step.name;
  request.action = request.compensation ? step.compensation : step.action;
  request.idempotency_key =
      IdempotencyKey(state.saga_id, step.name, request.compensation);
  request.attempt = command.attempt;
  request.deadline_ms = command.deadline_ms;
  request.input_json = *std::move(input);
  if (request.compensation) {
    request.original_idempotency_key =
        IdempotencyKey(state.saga_id, step.name, false);
    request.original_output_json = state.steps[command.step].output_json;
  } else if (step.async_completion) {
    if (const ActiveStep* active = ActiveOf(state, command.step)) {
      request.completion_token = active->completion_token;
    }
  }
  return request;
}

}  // namespace saga::core
