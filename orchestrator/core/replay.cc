#include "orchestrator/core/replay.h"

#include <algorithm>
#include <utility>

#include "nlohmann/json.hpp"
#include "orchestrator/core/history_file.h"
#include "orchestrator/core/retry_policy.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

// Deciding with the largest delay; the comparison accepts any draw.
constexpr double kNoJitterDraw = 0.0;
constexpr double kFullJitterDraw = 1.0;

std::string Quote(const std::string& text) {
  return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string StepName(const SagaDefinition& definition, int step) {
  if (step >= 0 && static_cast<size_t>(step) < definition.steps.size()) {
    return definition.steps[step].name;
  }
  return "#" + std::to_string(step);
}

// "StepStarted reserve_doctor attempt 2".
std::string Label(const SagaDefinition& definition, const Event& event) {
  std::string label = EventTypeName(event.type);
  if (event.step >= 0) label += " " + StepName(definition, event.step);
  if (event.attempt > 0) label += " attempt " + std::to_string(event.attempt);
  return label;
}

std::string DescribeSignal(const SagaDefinition& definition,
                           const Signal& signal) {
  switch (signal.kind) {
    case Signal::Kind::kCallResult: {
      std::string outcome;
      switch (signal.outcome) {
        case CallOutcome::kSucceeded:
          outcome = "success";
          break;
        case CallOutcome::kBusinessFailure:
          outcome = "business failure";
          break;
        case CallOutcome::kRetryableFailure:
          outcome = "retryable failure";
          break;
        case CallOutcome::kNotApplied:
          outcome = "failure that applied nothing";
          break;
        case CallOutcome::kUnknown:
          outcome = "unknown outcome";
          break;
        case CallOutcome::kAccepted:
          outcome = "acceptance";
          break;
      }
      return "the " + outcome + " of the " +
             (signal.compensation ? "compensation" : "call") + " of step '" +
             StepName(definition, signal.step) + "' attempt " +
             std::to_string(signal.attempt);
    }
    case Signal::Kind::kTimerFired:
      return "a timer (backoff, wait, delay, scheduled start or deadline)";
    case Signal::Kind::kResume:
      return "a resume after a restart";
    case Signal::Kind::kCancel:
      return "a cancel";
    case Signal::Kind::kOperatorRetry:
      return "an operator's retry";
    case Signal::Kind::kOperatorSkipStep:
      return "an operator's skip of step '" +
             StepName(definition, signal.step) + "'";
    case Signal::Kind::kOperatorMarkCompensated:
      return "an operator's mark-compensated";
    case Signal::Kind::kSagaSignal:
      return "signal '" + signal.signal_name + "' (key '" + signal.signal_key +
             "')";
    case Signal::Kind::kStepCompletion:
      return "the completion of step '" + StepName(definition, signal.step) +
             "'";
    case Signal::Kind::kParentRollback:
      return "the parent saga's rollback";
    default:
      return "a signal of kind " +
             std::to_string(static_cast<int>(signal.kind));
  }
}

// The signal that makes the decider record `event` first, given the state
// before it; nullopt with `why_not` when no signal starts with this event.
std::optional<Signal> InferSignal(const SagaState& state, const Event& event,
                                  std::string& why_not) {
  Signal signal;
  auto call_result = [&](bool compensation, CallOutcome outcome) {
    signal.kind = Signal::Kind::kCallResult;
    signal.step = event.step;
    signal.attempt = event.attempt;
    signal.compensation = compensation;
    signal.outcome = outcome;
    signal.output_json = event.output_json;
    signal.error = event.error;
    return signal;
  };
  // An accepted attempt ends by its completion (the recorded token stands
  // in for the participant's) or by the timer at the end of the wait.
  const ActiveStep* active =
      event.step >= 0 ? ActiveOf(state, event.step) : nullptr;
  const bool awaiting_completion = active && active->awaiting_completion;
  auto completion = [&](CallOutcome outcome) {
    signal = call_result(false, outcome);
    signal.kind = Signal::Kind::kStepCompletion;
    signal.completion_token = active->completion_token;
    return signal;
  };
  const bool restarted = event.error == kRestartedWhileInFlightError;
  // A wait or delay step ends on its own only when its time comes (a
  // signal's consumption follows the SignalReceived of its decision).
  const bool waiting_step_ends =
      event.step >= 0 && static_cast<size_t>(event.step) < state.steps.size() &&
      state.steps[event.step].status == StepStatus::kWaiting;
  switch (event.type) {
    case EventType::kStepSucceeded:
      if (waiting_step_ends) {
        signal.kind = Signal::Kind::kTimerFired;
        return signal;
      }
      if (awaiting_completion) {
        return completion(CallOutcome::kSucceeded);
      }
      return call_result(false, CallOutcome::kSucceeded);
    case EventType::kStepAccepted:
      call_result(false, CallOutcome::kAccepted);
      signal.output_json = event.child_saga_id;  // a saga step's child
      return signal;
    case EventType::kStepFailed:
      if (waiting_step_ends) {
        signal.kind = Signal::Kind::kTimerFired;
        return signal;
      }
      if (!event.retryable) {
        if (awaiting_completion) {
          return completion(CallOutcome::kBusinessFailure);
        }
        return call_result(false, CallOutcome::kBusinessFailure);
      }
      if (awaiting_completion) {
        signal.kind = Signal::Kind::kTimerFired;
        return signal;
      }
      if (!event.outcome_unknown) {
        return call_result(false, CallOutcome::kRetryableFailure);
      }
      if (restarted) {
        signal.kind = Signal::Kind::kResume;
        return signal;
      }
      return call_result(false, CallOutcome::kUnknown);
    case EventType::kCompensationStepSucceeded:
      return call_result(true, CallOutcome::kSucceeded);
    case EventType::kCompensationStepFailed:
      if (restarted) {
        signal.kind = Signal::Kind::kResume;
        return signal;
      }
      return call_result(true, CallOutcome::kRetryableFailure);
    case EventType::kStepStarted:
    case EventType::kCompensationStepStarted:
      signal.kind =
          (active && active->retry_due_ms != 0) || state.start_due_ms != 0
              ? Signal::Kind::kTimerFired
              : Signal::Kind::kResume;
      return signal;
    case EventType::kDeadlinePassed:
      signal.kind = Signal::Kind::kTimerFired;
      return signal;
    case EventType::kSignalReceived:
      signal.kind = Signal::Kind::kSagaSignal;
      signal.signal_name = event.signal_name;
      signal.signal_key = event.signal_key;
      signal.output_json = event.output_json;
      return signal;
    case EventType::kSagaCompleted:
    case EventType::kSagaCompensated:
      signal.kind = Signal::Kind::kResume;
      return signal;
    case EventType::kCancelRequested:
      // Only a parent rolls back a saga that completed.
      signal.kind = state.status == SagaStatus::kCompleted
                        ? Signal::Kind::kParentRollback
                        : Signal::Kind::kCancel;
      signal.error = event.error;
      return signal;
    case EventType::kOperatorAction:
      if (event.operator_action == kOperatorRetry) {
        signal.kind = Signal::Kind::kOperatorRetry;
      } else if (event.operator_action == kOperatorSkipStep) {
        signal.kind = Signal::Kind::kOperatorSkipStep;
        signal.step = event.step;
      } else if (event.operator_action == kOperatorMarkCompensated) {
        signal.kind = Signal::Kind::kOperatorMarkCompensated;
      } else {
        why_not = "cannot infer the signal for OperatorAction '" +
                  event.operator_action + "'";
        return std::nullopt;
      }
      signal.operator_name = event.operator_name;
      signal.error = event.error;
      return signal;
    case EventType::kSagaStarted:
      why_not = "SagaStarted may only be the first event";
      return std::nullopt;
    case EventType::kRetryScheduled:
    case EventType::kCompensationStarted:
    case EventType::kCompensationRetryScheduled:
    case EventType::kSagaFailed:
      // Only ever recorded after another event of the same decision.
      why_not = std::string("the code's decision ends before this ") +
                EventTypeName(event.type) + " (no signal records one first)";
      return std::nullopt;
    default:
      why_not = std::string("cannot infer the signal for ") +
                EventTypeName(event.type);
      return std::nullopt;
  }
}

bool SameJson(const std::string& a, const std::string& b) {
  if (a == b) return true;
  Json x = Json::parse(a, nullptr, /*allow_exceptions=*/false);
  Json y = Json::parse(b, nullptr, /*allow_exceptions=*/false);
  return !x.is_discarded() && !y.is_discarded() && x == y;
}

// The name of the event's `error` field in the history file.
const char* ErrorField(EventType type) {
  return type == EventType::kStepFailed ||
                 type == EventType::kCompensationStepFailed
             ? "error"
             : "reason";
}

// Empty when `recorded` matches `decided`, else the reason. `seq` is not
// compared; due_ms of a retry matches anywhere in the jitter window.
std::string Compare(const SagaDefinition& definition, const Event& recorded,
                    const Event& decided) {
  if (recorded.type != decided.type || recorded.step != decided.step ||
      recorded.attempt != decided.attempt) {
    return "the code decides " + Label(definition, decided) + " where " +
           Label(definition, recorded) + " was recorded";
  }
  auto differs = [](const std::string& field, const std::string& was,
                    const std::string& now) {
    return "field '" + field + "' differs: recorded " + was +
           ", the code decides " + now;
  };
  if (recorded.at_ms != decided.at_ms) {
    return differs("at_ms", std::to_string(recorded.at_ms),
                   std::to_string(decided.at_ms));
  }
  if (recorded.saga_type != decided.saga_type) {
    return differs("saga_type", Quote(recorded.saga_type),
                   Quote(decided.saga_type));
  }
  if (recorded.definition_version != decided.definition_version) {
    return differs("definition_version",
                   std::to_string(recorded.definition_version),
                   std::to_string(decided.definition_version));
  }
  if (!SameJson(recorded.input_json, decided.input_json)) {
    return differs("input", recorded.input_json, decided.input_json);
  }
  if (!SameJson(recorded.output_json, decided.output_json)) {
    return differs("output", recorded.output_json, decided.output_json);
  }
  if (recorded.error != decided.error) {
    return differs(ErrorField(recorded.type), Quote(recorded.error),
                   Quote(decided.error));
  }
  if (recorded.retryable != decided.retryable) {
    return differs("retryable", recorded.retryable ? "true" : "false",
                   decided.retryable ? "true" : "false");
  }
  if (recorded.outcome_unknown != decided.outcome_unknown) {
    return differs("outcome_unknown",
                   recorded.outcome_unknown ? "true" : "false",
                   decided.outcome_unknown ? "true" : "false");
  }
  if (recorded.operator_action != decided.operator_action) {
    return differs("action", Quote(recorded.operator_action),
                   Quote(decided.operator_action));
  }
  if (recorded.operator_name != decided.operator_name) {
    return differs("operator", Quote(recorded.operator_name),
                   Quote(decided.operator_name));
  }
  if (recorded.due_ms != decided.due_ms) {
    const bool is_retry =
        recorded.type == EventType::kRetryScheduled ||
        recorded.type == EventType::kCompensationRetryScheduled;
    if (!is_retry || recorded.step < 0 ||
        static_cast<size_t>(recorded.step) >= definition.steps.size()) {
      return differs("due_ms", std::to_string(recorded.due_ms),
                     std::to_string(decided.due_ms));
    }
    const StepDefinition& step = definition.steps[recorded.step];
    const RetryPolicy& policy = recorded.type == EventType::kRetryScheduled
                                    ? step.retry
                                    : step.compensation_retry;
    const int failed_attempt = recorded.attempt - 1;
    const int64_t earliest =
        decided.at_ms + BackoffMs(policy, failed_attempt, kFullJitterDraw);
    const int64_t latest =
        decided.at_ms + BackoffMs(policy, failed_attempt, kNoJitterDraw);
    auto in_window = [&](int64_t due) {
      return due >= earliest && due <= latest;
    };
    if (!in_window(recorded.due_ms) || !in_window(decided.due_ms)) {
      return differs("due_ms", std::to_string(recorded.due_ms),
                     std::to_string(decided.due_ms)) +
             " (the policy's window is [" + std::to_string(earliest) + ", " +
             std::to_string(latest) + "])";
    }
  }
  // Fields added to Event later are still compared.
  Event a = recorded;
  Event b = decided;
  a.seq = b.seq;
  a.due_ms = b.due_ms;
  a.input_json = b.input_json;
  a.output_json = b.output_json;
  if (!(a == b)) {
    return "the code decides " + EncodeHistoryEvent(b, definition) + " where " +
           EncodeHistoryEvent(a, definition) + " was recorded";
  }
  return "";
}

class Replayer {
 public:
  Replayer(const SagaDefinition& definition, const std::vector<Event>& recorded)
      : def_(definition), recorded_(recorded) {
    report_.state = NewSagaState(def_, "");
  }

  ReplayReport Run(const DecideFn& decide) && {
    if (Start()) {
      while (report_.matched < recorded_.size() && Step(decide)) {
      }
    }
    report_.pending_commands = PendingCommands(def_, report_.state);
    return std::move(report_);
  }

 private:
  bool Start() {
    if (recorded_.empty()) {
      Diverge(0, std::nullopt, std::nullopt, "the history is empty");
      return false;
    }
    const Event& first = recorded_[0];
    if (first.type != EventType::kSagaStarted) {
      Diverge(0, first, std::nullopt, "a history begins with SagaStarted");
      return false;
    }
    // The trace context, the caller and a scheduled start are inputs, like
    // the saga input.
    Decision start = DecideStart(
        def_, first.input_json,
        DecideContext{first.at_ms, kNoJitterDraw, NextTokens(0)},
        TraceContext{first.traceparent, first.tracestate}, first.started_by,
        first.due_ms, ParentLink{first.parent_saga_id, first.parent_step});
    if (first.saga_type == def_.name &&
        first.definition_version != def_.version && !start.events.empty()) {
      report_.recorded_definition_version = first.definition_version;
      start.events[0].definition_version = first.definition_version;
    }
    return Match(start.events);
  }

  bool Step(const DecideFn& decide) {
    const size_t i = report_.matched;
    const Event& event = recorded_[i];
    std::string why_not;
    std::optional<Signal> signal = InferSignal(report_.state, event, why_not);
    if (!signal.has_value()) {
      Diverge(i, event, std::nullopt, why_not);
      return false;
    }
    Decision decision =
        decide(def_, report_.state, *signal,
               DecideContext{event.at_ms, kNoJitterDraw, NextTokens(i)});
    if (!decision.refusal.ok()) {
      Diverge(i, event, std::nullopt,
              "the code refuses " + DescribeSignal(def_, *signal) + ": " +
                  std::string(decision.refusal.message()));
      return false;
    }
    if (decision.events.empty()) {
      Diverge(i, event, std::nullopt,
              "the code decides nothing for " + DescribeSignal(def_, *signal));
      return false;
    }
    return Match(decision.events);
  }

  // The completion tokens recorded by the next StepStarted events from `i`
  // on, as many as the definition has asynchronous steps: the decision at
  // `i` takes those of the attempts it starts, in order.
  std::vector<std::string> NextTokens(size_t i) const {
    const size_t wanted = static_cast<size_t>(std::count_if(
        def_.steps.begin(), def_.steps.end(),
        [](const StepDefinition& s) { return s.async_completion; }));
    std::vector<std::string> tokens;
    for (; i < recorded_.size() && tokens.size() < wanted; ++i) {
      if (recorded_[i].type == EventType::kStepStarted &&
          !recorded_[i].completion_token.empty()) {
        tokens.push_back(recorded_[i].completion_token);
      }
    }
    return tokens;
  }

  // Compares `decided` with the recorded events from report_.matched on and
  // applies each recorded event that matches.
  bool Match(std::vector<Event> decided) {
    for (Event& event : decided) {
      const size_t i = report_.matched;
      const int64_t expected_seq = report_.state.last_seq + 1;
      event.seq = expected_seq;
      if (i >= recorded_.size()) {
        Diverge(i, std::nullopt, event,
                "the code decides more events than were recorded");
        return false;
      }
      const Event& recorded = recorded_[i];
      if (recorded.seq != expected_seq) {
        Diverge(i, recorded, event,
                "seq " + std::to_string(recorded.seq) +
                    " is out of order: expected " +
                    std::to_string(expected_seq));
        return false;
      }
      std::string reason = Compare(def_, recorded, event);
      if (!reason.empty()) {
        Diverge(i, recorded, event, reason);
        return false;
      }
      Apply(def_, report_.state, recorded);
      ++report_.matched;
    }
    return true;
  }

  void Diverge(size_t index, std::optional<Event> recorded,
               std::optional<Event> decided, std::string reason) {
    Divergence divergence;
    divergence.index = index;
    divergence.seq =
        recorded.has_value() ? recorded->seq : report_.state.last_seq + 1;
    divergence.recorded_json =
        recorded.has_value() ? EncodeHistoryEvent(*recorded, def_) : "nothing";
    divergence.decided_json =
        decided.has_value() ? EncodeHistoryEvent(*decided, def_) : "nothing";
    divergence.recorded = std::move(recorded);
    divergence.decided = std::move(decided);
    divergence.reason = std::move(reason);
    report_.divergence = std::move(divergence);
  }

  const SagaDefinition& def_;
  const std::vector<Event>& recorded_;
  ReplayReport report_;
};

}  // namespace

ReplayReport Replay(const SagaDefinition& definition,
                    const std::vector<Event>& recorded,
                    const DecideFn& decide) {
  return Replayer(definition, recorded).Run(decide);
}

ReplayReport ReplayHistory(const History& history,
                           const SagaDefinition* definition,
                           const DecideFn& decide) {
  if (definition == nullptr) {
    return Replay(history.definition, history.events, decide);
  }
  std::vector<Event> events;
  events.reserve(history.events.size());
  for (const Event& event : history.events) {
    Event mapped = event;
    if (event.step >= 0) {
      const std::string name = StepName(history.definition, event.step);
      mapped.step = definition->StepIndex(name);
      if (mapped.step < 0) {
        // Whatever the prefix shows comes first; then this event.
        const size_t index = events.size();
        ReplayReport report = Replay(*definition, events, decide);
        const bool prefix_diverged = report.divergence.has_value() &&
                                     (report.divergence->index < index ||
                                      report.divergence->recorded.has_value());
        if (prefix_diverged) return report;
        // The code may decide something else where this event was
        // recorded (report.divergence at `index`, nothing recorded).
        Divergence divergence = report.divergence.value_or(Divergence{});
        divergence.index = index;
        divergence.seq = event.seq;
        divergence.recorded = event;
        divergence.recorded_json =
            EncodeHistoryEvent(event, history.definition);
        std::string missing = "step '" + name + "' is not a step of " +
                              definition->name + " version " +
                              std::to_string(definition->version);
        if (divergence.decided.has_value()) {
          divergence.reason = "the code decides " +
                              Label(*definition, *divergence.decided) +
                              " where " + Label(history.definition, event) +
                              " was recorded (" + missing + ")";
        } else {
          divergence.decided_json = "nothing";
          divergence.reason = std::move(missing);
        }
        report.divergence = std::move(divergence);
        return report;
      }
    }
    events.push_back(std::move(mapped));
  }
  return Replay(*definition, events, decide);
}

}  // namespace saga::core
