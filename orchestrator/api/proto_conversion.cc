#include "orchestrator/api/proto_conversion.h"

namespace saga::api {

v1::SagaStatus ToProto(core::SagaStatus status) {
  switch (status) {
    case core::SagaStatus::kRunning:
      return v1::SAGA_STATUS_RUNNING;
    case core::SagaStatus::kCompensating:
      return v1::SAGA_STATUS_COMPENSATING;
    case core::SagaStatus::kCompleted:
      return v1::SAGA_STATUS_COMPLETED;
    case core::SagaStatus::kCompensated:
      return v1::SAGA_STATUS_COMPENSATED;
    case core::SagaStatus::kFailed:
      return v1::SAGA_STATUS_FAILED;
  }
  return v1::SAGA_STATUS_UNSPECIFIED;
}

v1::StepStatus ToProto(core::StepStatus status) {
  switch (status) {
    case core::StepStatus::kPending:
      return v1::STEP_STATUS_PENDING;
    case core::StepStatus::kRunning:
      return v1::STEP_STATUS_RUNNING;
    case core::StepStatus::kWaitingRetry:
      return v1::STEP_STATUS_WAITING_RETRY;
    case core::StepStatus::kSucceeded:
      return v1::STEP_STATUS_SUCCEEDED;
    case core::StepStatus::kFailed:
      return v1::STEP_STATUS_FAILED;
    case core::StepStatus::kCompensating:
      return v1::STEP_STATUS_COMPENSATING;
    case core::StepStatus::kCompensated:
      return v1::STEP_STATUS_COMPENSATED;
    case core::StepStatus::kCompensationFailed:
      return v1::STEP_STATUS_COMPENSATION_FAILED;
    case core::StepStatus::kWaiting:
      return v1::STEP_STATUS_WAITING;
  }
  return v1::STEP_STATUS_UNSPECIFIED;
}

std::optional<core::SagaStatus> FromProto(v1::SagaStatus status) {
  switch (status) {
    case v1::SAGA_STATUS_RUNNING:
      return core::SagaStatus::kRunning;
    case v1::SAGA_STATUS_COMPENSATING:
      return core::SagaStatus::kCompensating;
    case v1::SAGA_STATUS_COMPLETED:
      return core::SagaStatus::kCompleted;
    case v1::SAGA_STATUS_COMPENSATED:
      return core::SagaStatus::kCompensated;
    case v1::SAGA_STATUS_FAILED:
      return core::SagaStatus::kFailed;
    default:
      return std::nullopt;
  }
}

v1::Saga SummaryToProto(const store::SagaSummary& summary) {
  v1::Saga saga;
  saga.set_saga_id(summary.saga_id);
  saga.set_saga_type(summary.saga_type);
  saga.set_definition_version(summary.definition_version);
  saga.set_status(ToProto(summary.status));
  saga.set_input_json(summary.input_json);
  saga.set_current_step(summary.current_step);
  saga.set_current_attempt(summary.current_attempt);
  saga.set_error(summary.error);
  saga.set_created_unix_ms(summary.created_ms);
  saga.set_updated_unix_ms(summary.updated_ms);
  saga.set_idempotency_key(summary.idempotency_key);
  saga.set_parent_saga_id(summary.parent_saga_id);
  saga.set_parent_step(summary.parent_step);
  saga.set_business_key(summary.business_key);
  saga.set_rerun_of(summary.rerun_of);
  return saga;
}

v1::Saga SagaToProto(const core::SagaDefinition& definition,
                     const store::SagaSummary& summary,
                     const core::SagaState& state) {
  v1::Saga saga = SummaryToProto(summary);
  saga.set_status(ToProto(state.status));
  saga.set_error(state.reason);
  saga.set_traceparent(state.traceparent);
  saga.set_tracestate(state.tracestate);
  saga.set_started_by(state.started_by);
  saga.set_parent_saga_id(state.parent_saga_id);
  saga.set_parent_step(state.parent_step);
  saga.set_business_key(state.business_key);
  saga.set_rerun_of(state.rerun_of);
  for (size_t i = 0; i < definition.steps.size(); ++i) {
    const core::StepState& step = state.steps[i];
    v1::Step* out = saga.add_steps();
    out->set_name(definition.steps[i].name);
    out->set_status(ToProto(step.status));
    out->set_attempts(step.attempts);
    out->set_compensation_attempts(step.compensation_attempts);
    out->set_output_json(step.output_json);
    out->set_error(step.error);
    out->set_started_unix_ms(step.started_ms);
    out->set_ended_unix_ms(step.ended_ms);
    out->set_outcome_unknown(step.outcome_unknown);
    out->set_child_saga_id(step.child_saga_id);
    out->set_waits_for_signal(definition.steps[i].signal);
    const int group = definition.steps[i].group;
    out->set_parallel_group(group + 1);
    out->set_parallel_branch(group < 0 ? 0 : definition.steps[i].branch + 1);
    out->set_total_attempts(step.earlier_attempts + step.attempts);
    out->set_total_compensation_attempts(step.earlier_compensation_attempts +
                                         step.compensation_attempts);
    out->set_participant(definition.steps[i].participant);
    out->set_action(definition.steps[i].action);
    out->set_compensation(definition.steps[i].compensation);
    if (const core::ActiveStep* active =
            core::ActiveOf(state, static_cast<int>(i))) {
      if (step.status == core::StepStatus::kWaiting) {
        out->set_waiting_until_unix_ms(active->wait_due_ms);
      }
      if (active->awaiting_completion) {
        out->set_completion_due_unix_ms(active->completion_due_ms);
      }
    }
  }
  for (const core::ReceivedSignal& signal : state.signals) {
    v1::ReceivedSignal* out = saga.add_signals();
    out->set_name(signal.name);
    out->set_idempotency_key(signal.key);
    out->set_payload_json(signal.payload_json);
    out->set_received_unix_ms(signal.received_ms);
    if (signal.consumed_by >= 0 &&
        static_cast<size_t>(signal.consumed_by) < definition.steps.size()) {
      out->set_consumed_by_step(definition.steps[signal.consumed_by].name);
    }
  }
  saga.set_deadline_unix_ms(state.deadline_ms);
  saga.set_deadline_passed(state.deadline_passed);
  saga.set_start_at_unix_ms(state.start_due_ms);
  return saga;
}

v1::SagaEvent EventToProto(const core::SagaDefinition& definition,
                           const core::Event& event) {
  v1::SagaEvent out;
  out.set_seq(event.seq);
  out.set_type(core::EventTypeName(event.type));
  if (event.step >= 0 &&
      event.step < static_cast<int>(definition.steps.size())) {
    out.set_step(definition.steps[event.step].name);
  }
  out.set_attempt(event.attempt);
  out.set_data_json(core::EncodeEventData(core::WithoutSecrets(event)));
  out.set_recorded_unix_ms(event.at_ms);
  return out;
}

}  // namespace saga::api
