#include "orchestrator/engine/engine_internal.h"

#include <chrono>

#include "observability/trace_context.h"

namespace saga::engine {

using observability::LogField;
using std::chrono::milliseconds;

namespace engine_internal {

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::string StepName(const core::SagaDefinition& definition, int step) {
  return step >= 0 && step < static_cast<int>(definition.steps.size())
             ? definition.steps[step].name
             : "";
}

}  // namespace

store::SagaSummary SummaryOf(const core::SagaDefinition& definition,
                             const core::SagaState& state) {
  store::SagaSummary summary;
  summary.saga_id = state.saga_id;
  summary.saga_type = state.saga_type;
  summary.definition_version = state.definition_version;
  summary.status = state.status;
  // A FAILED saga shows the step that gave up, which is what an operator
  // listing failed sagas looks for.
  // Steps running in parallel are listed in the order they started,
  // separated by commas (step names have none); the attempt is the first's.
  const bool failed = state.status == core::SagaStatus::kFailed;
  const int current =
      failed ? core::StuckStep(state) : core::CurrentStep(state);
  summary.current_step = StepName(definition, current);
  for (size_t i = 1; !failed && i < state.active.size(); ++i) {
    summary.current_step += "," + StepName(definition, state.active[i].step);
  }
  if (current >= 0) {
    const core::StepState& step = state.steps[current];
    const bool undoing = state.status == core::SagaStatus::kCompensating ||
                         step.status == core::StepStatus::kCompensationFailed;
    summary.current_attempt =
        undoing ? step.compensation_attempts : step.attempts;
  }
  summary.error = state.reason;
  summary.input_json = state.input_json;
  summary.last_seq = state.last_seq;
  summary.created_ms = state.created_ms;
  summary.updated_ms = state.updated_ms;
  summary.parent_saga_id = state.parent_saga_id;
  summary.parent_step = state.parent_step;
  summary.business_key = state.business_key;
  summary.rerun_of = state.rerun_of;
  return summary;
}

std::vector<LogField> SagaFields(const std::string& saga_id,
                                 const core::SagaDefinition& definition,
                                 std::string_view trace_id, int step,
                                 int attempt) {
  return {{"saga_id", saga_id},
          {"saga_type", definition.name},
          {"step", StepName(definition, step)},
          {"attempt", attempt},
          {"trace_id", trace_id}};
}

std::string FallbackTraceIdOf(const core::SagaState& state) {
  return observability::ParseTraceParent(state.traceparent)
             ? std::string()
             : observability::NewTrace().trace_id;
}

core::Signal CallResultSignal(const core::Command& command,
                              core::CallOutcome outcome,
                              std::string output_json, std::string error) {
  core::Signal signal;
  signal.kind = core::Signal::Kind::kCallResult;
  signal.step = command.step;
  signal.attempt = command.attempt;
  signal.compensation =
      command.kind == core::Command::Kind::kInvokeCompensation;
  signal.outcome = outcome;
  signal.output_json = std::move(output_json);
  signal.error = std::move(error);
  return signal;
}

}  // namespace engine_internal

}  // namespace saga::engine
