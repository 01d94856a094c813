#include "orchestrator/core/state.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"

namespace saga::core {
namespace {

// Always on: a history that does not fit the definition means the store or
// the engine is corrupt, and folding further would act on a wrong state.
[[noreturn]] void BrokenInvariant(const SagaState& state, const Event& event,
                                  const std::string& what) {
  std::fprintf(stderr,
               "saga %s: broken invariant applying %s (seq %lld, step %d): "
               "%s\n",
               state.saga_id.c_str(), EventTypeName(event.type),
               static_cast<long long>(event.seq), event.step, what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Step k's entry in state.active, added if it has none.
ActiveStep& Activate(SagaState& state, int k) {
  for (ActiveStep& active : state.active) {
    if (active.step == k) return active;
  }
  ActiveStep& added = state.active.emplace_back();
  added.step = k;
  return added;
}

// Nothing is pending for step k any more: its call, completion wait,
// backoff or wait ended (an asynchronous attempt's token is spent with it).
void Deactivate(SagaState& state, int k) {
  std::erase_if(state.active,
                [k](const ActiveStep& active) { return active.step == k; });
}

// The step whose compensation is under way (or gave up last); -1: none.
int CompensatingStep(const SagaState& state) {
  for (size_t k = 0; k < state.steps.size(); ++k) {
    if (state.steps[k].status == StepStatus::kCompensating) {
      return static_cast<int>(k);
    }
  }
  return -1;
}

}  // namespace

const char* SagaStatusName(SagaStatus status) {
  switch (status) {
    case SagaStatus::kRunning:
      return "RUNNING";
    case SagaStatus::kCompensating:
      return "COMPENSATING";
    case SagaStatus::kCompleted:
      return "COMPLETED";
    case SagaStatus::kCompensated:
      return "COMPENSATED";
    case SagaStatus::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

const char* StepStatusName(StepStatus status) {
  switch (status) {
    case StepStatus::kPending:
      return "PENDING";
    case StepStatus::kRunning:
      return "RUNNING";
    case StepStatus::kWaitingRetry:
      return "WAITING_RETRY";
    case StepStatus::kSucceeded:
      return "SUCCEEDED";
    case StepStatus::kFailed:
      return "FAILED";
    case StepStatus::kCompensating:
      return "COMPENSATING";
    case StepStatus::kCompensated:
      return "COMPENSATED";
    case StepStatus::kCompensationFailed:
      return "COMPENSATION_FAILED";
    case StepStatus::kWaiting:
      return "WAITING";
  }
  return "UNKNOWN";
}

absl::StatusOr<SagaStatus> ParseSagaStatus(const std::string& name) {
  for (SagaStatus s :
       {SagaStatus::kRunning, SagaStatus::kCompensating, SagaStatus::kCompleted,
        SagaStatus::kCompensated, SagaStatus::kFailed}) {
    if (name == SagaStatusName(s)) return s;
  }
  return absl::InvalidArgumentError("unknown saga status '" + name + "'");
}

bool IsTerminal(SagaStatus status) {
  return status == SagaStatus::kCompleted ||
         status == SagaStatus::kCompensated || status == SagaStatus::kFailed;
}

SagaState NewSagaState(const SagaDefinition& definition,
                       const std::string& saga_id) {
  SagaState state;
  state.saga_id = saga_id;
  state.saga_type = definition.name;
  state.definition_version = definition.version;
  state.steps.resize(definition.steps.size());
  return state;
}

void Apply(const SagaDefinition& definition, SagaState& state,
           const Event& event) {
  if (event.seq > 0 && event.seq != state.last_seq + 1) {
    BrokenInvariant(state, event,
                    "expected seq " + std::to_string(state.last_seq + 1));
  }
  if (event.type == EventType::kSagaStarted && state.last_seq != 0) {
    BrokenInvariant(state, event, "SagaStarted is not the first event");
  }

  StepState* step = nullptr;
  const StepDefinition* step_def = nullptr;
  int64_t step_timeout_ms = 0;
  bool step_starts_call = true;
  switch (event.type) {
    case EventType::kSagaStarted:
    case EventType::kCancelRequested:
    case EventType::kCompensationStarted:
    case EventType::kSagaCompleted:
    case EventType::kSagaCompensated:
    case EventType::kSagaFailed:
    case EventType::kSignalReceived:
    case EventType::kDeadlinePassed:
      break;
    default:
      // An operator action may concern the saga as a whole.
      if (event.type == EventType::kOperatorAction && event.step < 0) break;
      if (event.step < 0 ||
          static_cast<size_t>(event.step) >= definition.steps.size()) {
        BrokenInvariant(state, event,
                        "definition '" + definition.name + "' v" +
                            std::to_string(definition.version) + " has " +
                            std::to_string(definition.steps.size()) + " steps");
      }
      if (static_cast<size_t>(event.step) >= state.steps.size()) {
        BrokenInvariant(state, event,
                        "the state has " + std::to_string(state.steps.size()) +
                            " steps (no SagaStarted applied?)");
      }
      step = &state.steps[event.step];
      step_def = &definition.steps[event.step];
      step_timeout_ms = step_def->timeout_ms;
      step_starts_call = StartsCall(step_def->kind);
      break;
  }

  state.last_seq = event.seq > 0 ? event.seq : state.last_seq + 1;
  state.updated_ms = event.at_ms;

  switch (event.type) {
    case EventType::kSagaStarted:
      state.saga_type = event.saga_type;
      state.definition_version = event.definition_version;
      state.input_json = event.input_json;
      state.traceparent = event.traceparent;
      state.tracestate = event.tracestate;
      state.started_by = event.started_by;
      state.parent_saga_id = event.parent_saga_id;
      state.parent_step = event.parent_step;
      state.business_key = event.business_key;
      state.rerun_of = event.rerun_of;
      state.created_ms = event.at_ms;
      state.status = SagaStatus::kRunning;
      state.steps.assign(definition.steps.size(), StepState{});
      state.start_due_ms = event.due_ms;
      if (definition.deadline_ms > 0) {
        state.deadline_ms =
            std::max(event.at_ms, event.due_ms) + definition.deadline_ms;
      }
      break;

    case EventType::kStepStarted: {
      ActiveStep& active = Activate(state, event.step);
      step->attempts = event.attempt;
      if (step->started_ms == 0) step->started_ms = event.at_ms;
      if (event.attempt == 1) step->round_started_ms = event.at_ms;
      active.retry_due_ms = 0;
      state.start_due_ms = 0;
      if (!step_starts_call) {
        step->status = StepStatus::kWaiting;
        active.wait_due_ms = event.due_ms;
        break;
      }
      step->status = StepStatus::kRunning;
      active.call_in_flight = true;
      active.in_flight_attempt = event.attempt;
      active.awaiting_completion = false;
      if (step_def->async_completion) {
        // The call has a short deadline of its own; the timeout bounds the
        // wait for the completion.
        active.in_flight_deadline_ms = event.at_ms + step_def->call_timeout_ms;
        active.completion_token = event.completion_token;
        // A saga step without a timeout waits for its child unbounded.
        active.completion_due_ms =
            step_timeout_ms > 0 ? event.at_ms + step_timeout_ms : 0;
      } else {
        active.in_flight_deadline_ms = event.at_ms + step_timeout_ms;
        active.completion_token.clear();
        active.completion_due_ms = 0;
      }
      break;
    }

    case EventType::kStepAccepted: {
      ActiveStep& active = Activate(state, event.step);
      active.call_in_flight = false;
      active.awaiting_completion = true;
      if (!event.child_saga_id.empty()) {
        step->child_saga_id = event.child_saga_id;
      }
      break;
    }

    case EventType::kStepSucceeded:
      step->status = StepStatus::kSucceeded;
      step->output_json = event.output_json;
      step->outcome_unknown = false;
      step->ended_ms = event.at_ms;
      step->ended_seq = state.last_seq;
      Deactivate(state, event.step);
      if (!event.signal_key.empty()) {
        for (ReceivedSignal& signal : state.signals) {
          if (signal.key == event.signal_key) signal.consumed_by = event.step;
        }
      }
      break;

    case EventType::kSignalReceived: {
      ReceivedSignal signal;
      signal.name = event.signal_name;
      signal.key = event.signal_key;
      signal.payload_json = event.output_json;
      signal.received_ms = event.at_ms;
      state.signals.push_back(std::move(signal));
      break;
    }

    case EventType::kDeadlinePassed:
      state.deadline_passed = true;
      break;

    case EventType::kStepFailed:
      step->status = StepStatus::kFailed;
      step->error = event.error;
      // Every attempt reuses the step's idempotency key, so a definite
      // answer also settles whether an earlier unanswered attempt applied.
      step->outcome_unknown = event.outcome_unknown;
      step->ended_ms = event.at_ms;
      step->ended_seq = state.last_seq;
      Deactivate(state, event.step);
      break;

    case EventType::kRetryScheduled:
    case EventType::kCompensationRetryScheduled: {
      if (event.type == EventType::kRetryScheduled) {
        step->status = StepStatus::kWaitingRetry;
      }
      ActiveStep& active = Activate(state, event.step);
      active.retry_due_ms = event.due_ms;
      active.retry_attempt = event.attempt;
      break;
    }

    case EventType::kCancelRequested:
      state.cancel_requested = true;
      state.reason = event.error;
      break;

    case EventType::kCompensationStarted:
      state.status = SagaStatus::kCompensating;
      // A cancel already recorded the operator's reason; keep it.
      if (state.reason.empty()) state.reason = event.error;
      state.rollback_reason = state.reason;
      state.active.clear();
      state.start_due_ms = 0;
      break;

    case EventType::kCompensationStepStarted: {
      ActiveStep& active = Activate(state, event.step);
      step->status = StepStatus::kCompensating;
      step->compensation_attempts = event.attempt;
      if (event.attempt == 1) step->round_started_ms = event.at_ms;
      active.call_in_flight = true;
      active.in_flight_attempt = event.attempt;
      active.in_flight_deadline_ms = event.at_ms + step_timeout_ms;
      active.retry_due_ms = 0;
      break;
    }

    case EventType::kCompensationStepSucceeded:
      step->status = StepStatus::kCompensated;
      step->ended_ms = event.at_ms;
      Deactivate(state, event.step);
      break;

    case EventType::kCompensationStepFailed:
      step->error = event.error;
      Deactivate(state, event.step);
      break;

    case EventType::kSagaCompleted:
    case EventType::kSagaCompensated:
    case EventType::kSagaFailed:
      if (event.type == EventType::kSagaCompleted) {
        state.status = SagaStatus::kCompleted;
      } else {
        // Only a compensation that gave up leaves its step half undone; a
        // forward failure after the pivot keeps the step FAILED.
        if (event.type == EventType::kSagaFailed &&
            state.status == SagaStatus::kCompensating) {
          if (const int k = CompensatingStep(state); k >= 0) {
            state.steps[k].status = StepStatus::kCompensationFailed;
          }
        }
        state.status = event.type == EventType::kSagaFailed
                           ? SagaStatus::kFailed
                           : SagaStatus::kCompensated;
        if (!event.error.empty()) state.reason = event.error;
      }
      state.active.clear();
      state.start_due_ms = 0;
      break;

    case EventType::kOperatorAction:
      if (event.operator_action == kOperatorRetry &&
          state.status == SagaStatus::kFailed && step != nullptr) {
        // A fresh round of attempts for what gave up.
        if (step->status == StepStatus::kCompensationFailed) {
          state.status = SagaStatus::kCompensating;
          step->status = StepStatus::kCompensating;
          step->earlier_compensation_attempts += step->compensation_attempts;
          step->compensation_attempts = 0;
        } else {
          state.status = SagaStatus::kRunning;
          step->earlier_attempts += step->attempts;
          step->attempts = 0;
        }
      } else if (event.operator_action == kOperatorSkipStep &&
                 step != nullptr) {
        step->status = StepStatus::kCompensated;
        step->ended_ms = event.at_ms;
        state.status = SagaStatus::kCompensating;
        Deactivate(state, event.step);
      } else if (event.operator_action == kOperatorMarkCompensated) {
        // The operator has undone by hand what a compensation gave up on:
        // the step is as undone as the saga now says it is.
        for (StepState& undone : state.steps) {
          if (undone.status == StepStatus::kCompensationFailed) {
            undone.status = StepStatus::kCompensated;
            undone.ended_ms = event.at_ms;
          }
        }
      }
      break;
  }
}

const ActiveStep* ActiveOf(const SagaState& state, int k) {
  for (const ActiveStep& active : state.active) {
    if (active.step == k) return &active;
  }
  return nullptr;
}

int CurrentStep(const SagaState& state) {
  return state.active.empty() ? -1 : state.active.front().step;
}

const ActiveStep& CurrentActivity(const SagaState& state) {
  static const ActiveStep kNone;
  return state.active.empty() ? kNone : state.active.front();
}

int StuckStep(const SagaState& state) {
  if (state.status != SagaStatus::kFailed) return -1;
  for (size_t k = 0; k < state.steps.size(); ++k) {
    if (state.steps[k].status == StepStatus::kCompensationFailed) {
      return static_cast<int>(k);
    }
  }
  for (int k = static_cast<int>(state.steps.size()) - 1; k >= 0; --k) {
    if (state.steps[k].status == StepStatus::kFailed) return k;
  }
  return -1;
}

SagaState Fold(const SagaDefinition& definition, const std::string& saga_id,
               const std::vector<Event>& events) {
  SagaState state = NewSagaState(definition, saga_id);
  for (const Event& event : events) Apply(definition, state, event);
  return state;
}

}  // namespace saga::core
