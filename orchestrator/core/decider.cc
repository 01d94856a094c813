#include "orchestrator/core/decider.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "nlohmann/json.hpp"
#include "orchestrator/core/delay_due.h"
#include "orchestrator/core/duration.h"
#include "orchestrator/core/retry_policy.h"
#include "orchestrator/core/step_kind.h"
#include "orchestrator/core/strict_json.h"

namespace saga::core {

const char kRestartedWhileInFlightError[] =
    "orchestrator restarted while the call was in flight";

namespace {

using Json = nlohmann::json;

constexpr char kCancelledInFlightError[] =
    "cancelled while the call was in flight";
constexpr char kDeadlinePassedReason[] = "deadline passed";
constexpr char kAcceptedSynchronousError[] =
    "the participant answered ACCEPTED, but the step does not complete "
    "asynchronously";

// Compares secrets without an early exit, so the time taken does not tell
// how much of a guess was right.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// Events carry JSON in canonical form so that they round-trip through
// EncodeEventData/DecodeEvent unchanged; text that is not strict JSON (not
// JSON, or an object with a key twice) is kept as is (the event codec
// preserves it verbatim): the call did take effect, and canonicalising a
// repeated key would silently pick one of its values.
std::string CanonicalJson(const std::string& text) {
  if (text.empty()) return text;
  absl::StatusOr<Json> parsed = ParseStrictJson(text, "output");
  if (!parsed.ok()) return text;
  return parsed->dump(-1, ' ', false, Json::error_handler_t::replace);
}

int PivotIndex(const SagaDefinition& definition) {
  for (size_t i = 0; i < definition.steps.size(); ++i) {
    if (RulesFor(definition.steps[i].kind).is_pivot) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// Emits events onto a working copy of the state, applying each one at once
// so that every later rule sees the state the earlier events produce. This
// keeps the decision and a replay of its events in agreement by
// construction.
class Builder {
 public:
  Builder(const SagaDefinition& definition, const SagaState& state,
          const DecideContext& ctx)
      : def_(definition), before_(state), state_(state), ctx_(ctx) {}

  const SagaState& state() const { return state_; }
  const StepDefinition& step_def(int k) const { return def_.steps[k]; }

  Event Make(EventType type, int step = -1, int attempt = 0) const {
    Event event;
    event.type = type;
    event.at_ms = ctx_.now_ms;
    event.step = step;
    event.attempt = attempt;
    return event;
  }

  void Emit(Event event) {
    Apply(def_, state_, event);
    events_.push_back(std::move(event));
  }

  // StepStarted or CompensationStepStarted; an attempt of an asynchronous
  // step gets the decision's next unused completion token.
  Event MakeStarted(EventType type, int k, int attempt) {
    Event event = Make(type, k, attempt);
    if (type == EventType::kStepStarted && def_.steps[k].async_completion &&
        tokens_used_ < ctx_.completion_tokens.size()) {
      event.completion_token = ctx_.completion_tokens[tokens_used_++];
    }
    return event;
  }

  // Starts attempt `attempt` of step k: a call step's intent to call, or a
  // wait or delay step's wait, which may end at once (its signal came
  // already, its time has passed) or fail (its time cannot be read).
  void StartStep(int k, int attempt) {
    const StepDefinition& step = def_.steps[k];
    Event started = MakeStarted(EventType::kStepStarted, k, attempt);
    switch (step.kind) {
      case StepKind::kWait: {
        if (step.timeout_ms > 0) started.due_ms = ctx_.now_ms + step.timeout_ms;
        Emit(std::move(started));
        for (const ReceivedSignal& signal : state_.signals) {
          if (signal.consumed_by < 0 && signal.name == step.signal) {
            Succeed(k, attempt, signal.payload_json, signal.key);
            return;
          }
        }
        return;
      }
      case StepKind::kDelay: {
        absl::StatusOr<int64_t> due = DelayDueMs(def_, state_, k, ctx_.now_ms);
        started.due_ms = due.ok() ? *due : 0;
        Emit(std::move(started));
        if (!due.ok()) {
          FailForGood(k, attempt, std::string(due.status().message()));
        } else if (*due <= ctx_.now_ms) {
          Succeed(k, attempt, DelayOutput(*due), "");
        }
        return;
      }
      default:
        Emit(std::move(started));
        return;
    }
  }

  static std::string DelayOutput(int64_t due_ms) {
    return "{\"due_unix_ms\":" + std::to_string(due_ms) + "}";
  }

  void Succeed(int k, int n, const std::string& output_json,
               const std::string& signal_key) {
    Event event = Make(EventType::kStepSucceeded, k, n);
    event.output_json = CanonicalJson(output_json);
    event.signal_key = signal_key;
    Emit(std::move(event));
    StartReadySteps();
  }

  // A definite failure of step k: roll back while the saga may, else end
  // FAILED for an operator.
  void FailForGood(int k, int n, const std::string& error) {
    Event event = Make(EventType::kStepFailed, k, n);
    event.error = error;
    event.retryable = false;
    Emit(std::move(event));
    const std::string& name = def_.steps[k].name;
    const std::string stop_why = "stopped: step '" + name + "' failed";
    if (MayStartCompensation(def_, state_).ok()) {
      BeginCompensation("step '" + name + "' failed: " + error, stop_why);
    } else {
      Fail("step '" + name + "' failed after the point of no return: " + error,
           stop_why);
    }
  }

  // Before the saga rolls back or fails while other steps are under way (a
  // cancel, the deadline, a parallel branch that failed): a call in flight,
  // or an accepted one whose completion is awaited, may still take effect,
  // so its outcome becomes unknown (it gets compensated, and its late result
  // or completion no longer matches the current attempt); a wait or delay
  // step stops waiting. A step waiting out a backoff keeps what it had.
  void StopActiveSteps(const std::string& why) {
    if (state_.status != SagaStatus::kRunning) return;
    const std::vector<ActiveStep> active = state_.active;
    for (const ActiveStep& a : active) {
      const int k = a.step;
      if (a.call_in_flight || a.awaiting_completion) {
        Event failed = Make(EventType::kStepFailed, k, a.in_flight_attempt);
        failed.error = why;
        failed.retryable = true;
        failed.outcome_unknown = true;
        Emit(std::move(failed));
      } else if (state_.steps[k].status == StepStatus::kWaiting) {
        Event failed =
            Make(EventType::kStepFailed, k, state_.steps[k].attempts);
        failed.error = why;
        Emit(std::move(failed));
      }
    }
  }

  // The deadline passed while the saga runs: recorded; rolled back unless
  // the saga is past the point of no return.
  void OnDeadline() {
    Event passed = Make(EventType::kDeadlinePassed);
    absl::Status may = MayStartCompensation(def_, state_);
    passed.error = may.ok()
                       ? "the saga rolls back"
                       : "nothing is undone: " + std::string(may.message());
    Emit(std::move(passed));
    if (!may.ok()) return;
    BeginCompensation(kDeadlinePassedReason,
                      "stopped: the saga's deadline passed");
  }

  // What a timer finds due now: first the deadline, then a scheduled
  // start, then each step under way, in the order they started, for as long
  // as the saga runs in the same direction.
  void OnTimer() {
    const int64_t now = ctx_.now_ms;
    if (state_.status == SagaStatus::kRunning && state_.deadline_ms != 0 &&
        !state_.deadline_passed && now >= state_.deadline_ms) {
      OnDeadline();
      return;
    }
    if (state_.start_due_ms != 0) {
      if (now >= state_.start_due_ms) StartReadySteps();
      return;
    }
    const SagaStatus direction = state_.status;
    const std::vector<ActiveStep> active = state_.active;
    for (const ActiveStep& a : active) {
      const ActiveStep* live = ActiveOf(state_, a.step);
      if (state_.status != direction || live == nullptr) continue;
      OnStepTimer(ActiveStep(*live), now);
    }
  }

  void OnStepTimer(const ActiveStep& a, int64_t now) {
    const int k = a.step;
    const StepDefinition& step = def_.steps[k];
    if (a.awaiting_completion) {
      // 0: a saga step without a timeout waits for its child unbounded.
      if (a.completion_due_ms != 0 && now >= a.completion_due_ms) {
        OnCallResult(k, CallOutcome::kUnknown, "",
                     "no completion within the step's timeout (" +
                         std::to_string(step.timeout_ms) +
                         "ms) after the participant accepted the call");
      }
    } else if (a.retry_due_ms != 0) {
      if (now >= a.retry_due_ms) {
        const EventType type = state_.status == SagaStatus::kCompensating
                                   ? EventType::kCompensationStepStarted
                                   : EventType::kStepStarted;
        Emit(MakeStarted(type, k, a.retry_attempt));
      }
    } else if (state_.steps[k].status == StepStatus::kWaiting &&
               a.wait_due_ms != 0 && now >= a.wait_due_ms) {
      if (step.kind == StepKind::kDelay) {
        Succeed(k, state_.steps[k].attempts, DelayOutput(a.wait_due_ms), "");
      } else {
        FailForGood(k, state_.steps[k].attempts,
                    "no signal '" + step.signal + "' within " +
                        FormatDurationMs(step.timeout_ms));
      }
    }
  }

  // Whether step k may start now: it has not succeeded and nothing is
  // pending for it, and every step that runs before it succeeded.
  bool IsReady(int k) const {
    const StepStatus status = state_.steps[k].status;
    if (status != StepStatus::kPending && status != StepStatus::kFailed) {
      return false;
    }
    if (ActiveOf(state_, k) != nullptr) return false;
    for (int j = 0; j < k; ++j) {
      if (RunsBefore(def_, j, k) &&
          state_.steps[j].status != StepStatus::kSucceeded) {
        return false;
      }
    }
    return true;
  }

  // Starts every step whose turn has come (the next one in a straight line;
  // each branch's next one in a parallel group), or ends the saga once
  // every step succeeded. A step that ends at once (a delay already due)
  // starts what follows it before this returns.
  void StartReadySteps() {
    bool all_succeeded = true;
    for (size_t i = 0; i < def_.steps.size(); ++i) {
      if (state_.status != SagaStatus::kRunning) return;
      const int k = static_cast<int>(i);
      if (state_.steps[k].status == StepStatus::kSucceeded) continue;
      all_succeeded = false;
      if (IsReady(k)) StartStep(k, state_.steps[k].attempts + 1);
    }
    if (all_succeeded) Emit(Make(EventType::kSagaCompleted));
  }

  // REQUIRES: MayStartCompensation(def_, state()) is OK; every caller asks
  // it first, so a breach is a bug and stops the process before it records
  // a rollback past the point of no return.
  //
  // Steps still under way are stopped first (see StopActiveSteps: `why`
  // says why), so nothing runs forward once the rollback begins.
  void BeginCompensation(const std::string& reason, const std::string& why) {
    if (absl::Status may = MayStartCompensation(def_, state_); !may.ok()) {
      std::fprintf(stderr,
                   "saga %s: broken invariant: compensation started although "
                   "%s\n",
                   state_.saga_id.c_str(), std::string(may.message()).c_str());
      std::fflush(stderr);
      std::abort();
    }
    StopActiveSteps(why);
    Event event = Make(EventType::kCompensationStarted);
    event.error = reason;
    Emit(std::move(event));
    NextCompensation();
  }

  // A step with a compensation is undone if its effect may exist: it
  // succeeded, its outcome is unknown, or a compensation of it was started
  // and not finished.
  bool NeedsCompensation(int k) const {
    if (!RulesFor(def_.steps[k].kind).has_compensation) return false;
    const StepState& step = state_.steps[k];
    if (step.status == StepStatus::kCompensated) return false;
    return step.status == StepStatus::kSucceeded ||
           step.status == StepStatus::kCompensating || step.outcome_unknown;
  }

  // Undoes the step that ended last among those that need it (steps end in
  // order in a straight line; a parallel group's in the order they
  // completed), or ends the rollback.
  void NextCompensation() {
    int next = -1;
    for (int k = static_cast<int>(def_.steps.size()) - 1; k >= 0; --k) {
      if (NeedsCompensation(k) &&
          (next < 0 ||
           state_.steps[k].ended_seq > state_.steps[next].ended_seq)) {
        next = k;
      }
    }
    if (next >= 0) {
      Emit(Make(EventType::kCompensationStepStarted, next, 1));
      return;
    }
    Event event = Make(EventType::kSagaCompensated);
    event.error = state_.rollback_reason;
    Emit(std::move(event));
  }

  // A cancel (an API request, or a parent rolling its child back): recorded
  // with its reason, then the rollback. REQUIRES: MayStartCompensation.
  void Cancel(const std::string& reason) {
    Event cancel = Make(EventType::kCancelRequested);
    cancel.error = reason;
    Emit(std::move(cancel));
    BeginCompensation(reason.empty() ? "cancelled" : "cancelled: " + reason,
                      kCancelledInFlightError);
  }

  // Ends the saga FAILED for an operator; forward steps still under way
  // are stopped first (`why`, see StopActiveSteps).
  void Fail(const std::string& reason, const std::string& why = "") {
    StopActiveSteps(why);
    Event event = Make(EventType::kSagaFailed);
    event.error = reason;
    Emit(std::move(event));
  }

  // The result of step k's call in flight (already checked not to be
  // stale), or of its accepted call's completion.
  void OnCallResult(int k, CallOutcome outcome, const std::string& output_json,
                    const std::string& error) {
    const int n = ActiveOf(state_, k)->in_flight_attempt;
    const StepDefinition& step = def_.steps[k];
    if (state_.status == SagaStatus::kCompensating) {
      OnCompensationResult(k, n, outcome,
                           outcome == CallOutcome::kAccepted
                               ? kAcceptedSynchronousError
                               : error);
      return;
    }
    if (outcome == CallOutcome::kAccepted) {
      if (step.async_completion) {
        Event accepted = Make(EventType::kStepAccepted, k, n);
        if (step.kind == StepKind::kSaga) accepted.child_saga_id = output_json;
        Emit(std::move(accepted));
        return;
      }
      OnCallResult(k, CallOutcome::kUnknown, "", kAcceptedSynchronousError);
      return;
    }
    switch (outcome) {
      case CallOutcome::kSucceeded:
        Succeed(k, n, output_json, "");
        return;
      case CallOutcome::kBusinessFailure:
        FailForGood(k, n, error);
        return;
      case CallOutcome::kAccepted:  // handled above
      case CallOutcome::kRetryableFailure:
      case CallOutcome::kNotApplied:
      case CallOutcome::kUnknown: {
        Event event = Make(EventType::kStepFailed, k, n);
        event.error = error;
        event.retryable = true;
        // An answer under the key settles earlier attempts; an attempt that
        // applied nothing without the participant looking leaves them as
        // they were.
        event.outcome_unknown = outcome == CallOutcome::kUnknown ||
                                (outcome == CallOutcome::kNotApplied &&
                                 state_.steps[k].outcome_unknown);
        Emit(std::move(event));
        // Where the saga cannot roll back (past the pivot, or the pivot's
        // outcome unknown), giving up is no option: the step is asked
        // again, with the same key, until it answers definitely.
        const bool retry_forever = !MayStartCompensation(def_, state_).ok();
        const StepState& now = state_.steps[k];
        const int64_t elapsed = ctx_.now_ms - now.round_started_ms;
        if (MayRetry(step.retry, retry_forever, n, elapsed)) {
          Event retry = Make(EventType::kRetryScheduled, k, n + 1);
          retry.due_ms =
              ctx_.now_ms + BackoffMs(step.retry, n, ctx_.unit_random);
          Emit(std::move(retry));
        } else {
          BeginCompensation("step '" + step.name + "' gave up " +
                                DescribeGiveUp(step.retry, n, elapsed) + ": " +
                                error,
                            "stopped: step '" + step.name + "' gave up");
        }
        return;
      }
    }
  }

  void OnCompensationResult(int k, int n, CallOutcome outcome,
                            const std::string& error) {
    const StepDefinition& step = def_.steps[k];
    if (outcome == CallOutcome::kSucceeded) {
      Emit(Make(EventType::kCompensationStepSucceeded, k, n));
      NextCompensation();
      return;
    }
    // A compensation has to succeed eventually: even a "business" refusal
    // is retried until the policy gives up and an operator steps in.
    Event event = Make(EventType::kCompensationStepFailed, k, n);
    event.error = error;
    Emit(std::move(event));
    const int64_t elapsed = ctx_.now_ms - state_.steps[k].round_started_ms;
    if (MayRetry(step.compensation_retry, false, n, elapsed)) {
      Event retry = Make(EventType::kCompensationRetryScheduled, k, n + 1);
      retry.due_ms =
          ctx_.now_ms + BackoffMs(step.compensation_retry, n, ctx_.unit_random);
      Emit(std::move(retry));
    } else {
      Fail("compensation of step '" + step.name + "' gave up " +
           DescribeGiveUp(step.compensation_retry, n, elapsed) + ": " + error);
    }
  }

  Decision Finish() && {
    Decision decision;
    decision.commands = CommandsAfter(def_, before_, state_);
    decision.events = std::move(events_);
    return decision;
  }

 private:
  const SagaDefinition& def_;
  const SagaState& before_;  // outlives the builder (the callers' state)
  SagaState state_;
  const DecideContext& ctx_;
  size_t tokens_used_ = 0;  // of ctx_.completion_tokens
  std::vector<Event> events_;
};

Decision Refuse(absl::Status status) {
  Decision decision;
  decision.refusal = std::move(status);
  return decision;
}

Decision DecideCancel(const SagaDefinition& definition, const SagaState& state,
                      const Signal& signal, const DecideContext& ctx) {
  if (state.status == SagaStatus::kCompensating) return Decision{};
  if (absl::Status may = MayStartCompensation(definition, state); !may.ok()) {
    return Refuse(absl::FailedPreconditionError("cannot cancel: " +
                                                std::string(may.message())));
  }
  Builder b(definition, state, ctx);
  b.Cancel(signal.error);
  return std::move(b).Finish();
}

Decision DecideResume(const SagaDefinition& definition, const SagaState& state,
                      const DecideContext& ctx) {
  Builder b(definition, state, ctx);
  // Calls that were in flight have lost their result; anything else
  // pending (a backoff, a wait, a scheduled start, the wait for a
  // completion) keeps its timer, which the commands re-arm.
  bool lost_calls = false;
  for (const ActiveStep& a : state.active) {
    if (!a.call_in_flight) continue;
    lost_calls = true;
    const ActiveStep* now = ActiveOf(b.state(), a.step);
    if (b.state().status == state.status && now != nullptr &&
        now->call_in_flight) {
      b.OnCallResult(a.step, CallOutcome::kUnknown, "",
                     kRestartedWhileInFlightError);
    }
  }
  if (lost_calls || !state.active.empty() || state.start_due_ms != 0) {
    // Handled above, or nothing new.
  } else if (state.status == SagaStatus::kRunning) {
    b.StartReadySteps();
  } else {
    b.NextCompensation();
  }
  return std::move(b).Finish();
}

Event OperatorEvent(const Builder& b, const Signal& signal, const char* action,
                    int step) {
  Event event = b.Make(EventType::kOperatorAction, step);
  event.operator_action = action;
  event.operator_name = signal.operator_name;
  event.error = signal.error;
  return event;
}

std::string Describe(const SagaDefinition& definition, const SagaState& state) {
  std::string text = std::string("the saga is ") + SagaStatusName(state.status);
  for (const ActiveStep& a : state.active) {
    const bool waiting = state.steps[a.step].status == StepStatus::kWaiting;
    text += ", step '" + definition.steps[a.step].name + "' " +
            (a.call_in_flight        ? "has a call in flight"
             : a.awaiting_completion ? "waits for its completion"
             : waiting               ? "is waiting"
                                     : "waits out a backoff");
  }
  return text;
}

Decision DecideOperatorRetry(const SagaDefinition& definition,
                             const SagaState& state, const Signal& signal,
                             const DecideContext& ctx) {
  Builder b(definition, state, ctx);
  if (state.status == SagaStatus::kFailed) {
    const int k = StuckStep(state);
    if (k < 0) {
      return Refuse(absl::FailedPreconditionError(
          "nothing to retry: no step of the FAILED saga gave up"));
    }
    b.Emit(OperatorEvent(b, signal, kOperatorRetry, k));
    if (b.state().status == SagaStatus::kCompensating) {
      b.Emit(b.Make(EventType::kCompensationStepStarted, k, 1));
    } else {
      // The step that gave up starts a fresh round (its attempts were
      // reset); parallel steps stopped with it go on where they were.
      b.StartReadySteps();
    }
    return std::move(b).Finish();
  }
  std::vector<ActiveStep> backing_off;
  for (const ActiveStep& a : state.active) {
    if (a.retry_due_ms != 0) backing_off.push_back(a);
  }
  if (!IsTerminal(state.status) && !backing_off.empty()) {
    b.Emit(OperatorEvent(b, signal, kOperatorRetry, backing_off[0].step));
    const EventType type = state.status == SagaStatus::kCompensating
                               ? EventType::kCompensationStepStarted
                               : EventType::kStepStarted;
    for (const ActiveStep& a : backing_off) {
      b.Emit(b.MakeStarted(type, a.step, a.retry_attempt));
    }
    return std::move(b).Finish();
  }
  return Refuse(absl::FailedPreconditionError(
      "nothing to retry: " + Describe(definition, state) +
      " (retry applies to a FAILED saga or one waiting out a backoff)"));
}

Decision DecideOperatorSkip(const SagaDefinition& definition,
                            const SagaState& state, const Signal& signal,
                            const DecideContext& ctx) {
  const int k = signal.step;
  if (k < 0 || k >= static_cast<int>(definition.steps.size())) {
    return Refuse(absl::InvalidArgumentError("no such step"));
  }
  const std::string name = definition.steps[k].name;
  const bool compensating_k =
      state.status == SagaStatus::kCompensating &&
      state.steps[k].status == StepStatus::kCompensating;
  const bool failed_at_k =
      state.status == SagaStatus::kFailed && StuckStep(state) == k &&
      state.steps[k].status == StepStatus::kCompensationFailed;
  if (!compensating_k && !failed_at_k) {
    return Refuse(absl::FailedPreconditionError(
        "cannot skip step '" + name +
        "': only the step being compensated can be skipped, and " +
        Describe(definition, state)));
  }
  if (const ActiveStep* a = ActiveOf(state, k); a && a->call_in_flight) {
    return Refuse(absl::FailedPreconditionError(
        "cannot skip step '" + name +
        "' while its compensation call is in flight; try again once it "
        "answers"));
  }
  Builder b(definition, state, ctx);
  b.Emit(OperatorEvent(b, signal, kOperatorSkipStep, k));
  b.NextCompensation();
  return std::move(b).Finish();
}

Decision DecideOperatorMarkCompensated(const SagaDefinition& definition,
                                       const SagaState& state,
                                       const Signal& signal,
                                       const DecideContext& ctx) {
  if (state.status != SagaStatus::kFailed) {
    return Refuse(absl::FailedPreconditionError(
        "only a FAILED saga can be marked compensated; " +
        Describe(definition, state)));
  }
  Builder b(definition, state, ctx);
  b.Emit(OperatorEvent(b, signal, kOperatorMarkCompensated, -1));
  Event end = b.Make(EventType::kSagaCompensated);
  end.error =
      "marked compensated by " + signal.operator_name + ": " + signal.error;
  b.Emit(std::move(end));
  return std::move(b).Finish();
}

bool SomeStepWaitsFor(const SagaDefinition& definition,
                      const std::string& name) {
  for (const StepDefinition& step : definition.steps) {
    if (step.kind == StepKind::kWait && step.signal == name) return true;
  }
  return false;
}

Decision DecideSagaSignal(const SagaDefinition& definition,
                          const SagaState& state, const Signal& signal,
                          const DecideContext& ctx) {
  const std::string payload =
      signal.output_json.empty() ? "{}" : CanonicalJson(signal.output_json);
  for (const ReceivedSignal& received : state.signals) {
    if (received.key != signal.signal_key) continue;
    if (received.name == signal.signal_name &&
        received.payload_json == payload) {
      return Decision{};  // delivered before: that delivery stands
    }
    return Refuse(absl::AlreadyExistsError(
        "idempotency key '" + signal.signal_key + "' was used for signal '" +
        received.name + "' with another name or payload"));
  }
  if (IsTerminal(state.status)) {
    return Refuse(absl::FailedPreconditionError(
        std::string("saga already ended as ") + SagaStatusName(state.status)));
  }
  if (state.status == SagaStatus::kCompensating) {
    return Refuse(absl::FailedPreconditionError(
        "the saga is rolling back, so no step will wait for signal '" +
        signal.signal_name + "'"));
  }
  if (!SomeStepWaitsFor(definition, signal.signal_name)) {
    return Refuse(absl::InvalidArgumentError(
        "saga type '" + definition.name + "' v" +
        std::to_string(definition.version) + " has no wait step for signal '" +
        signal.signal_name + "'"));
  }
  size_t pending = 0;
  for (const ReceivedSignal& received : state.signals) {
    if (received.consumed_by < 0) ++pending;
  }
  if (pending >= kMaxPendingSignals) {
    return Refuse(absl::ResourceExhaustedError(
        "the saga already keeps " + std::to_string(pending) +
        " signals that no step has consumed"));
  }
  Builder b(definition, state, ctx);
  Event received = b.Make(EventType::kSignalReceived);
  received.signal_name = signal.signal_name;
  received.signal_key = signal.signal_key;
  received.output_json = payload;
  b.Emit(std::move(received));
  for (const ActiveStep& a : state.active) {
    const int k = a.step;
    if (state.steps[k].status == StepStatus::kWaiting &&
        definition.steps[k].kind == StepKind::kWait &&
        definition.steps[k].signal == signal.signal_name) {
      b.Succeed(k, state.steps[k].attempts, payload, signal.signal_key);
      break;  // one signal is one step's output
    }
  }
  return std::move(b).Finish();
}

Decision DecideCompletion(const SagaDefinition& definition,
                          const SagaState& state, const Signal& signal,
                          const DecideContext& ctx) {
  auto refuse = [](const std::string& why) {
    return Refuse(
        absl::FailedPreconditionError("completion token not accepted: " + why));
  };
  if (signal.outcome != CallOutcome::kSucceeded &&
      signal.outcome != CallOutcome::kBusinessFailure) {
    return Refuse(absl::InvalidArgumentError(
        "a completion is a success or a business failure"));
  }
  if (signal.step < 0 ||
      static_cast<size_t>(signal.step) >= definition.steps.size()) {
    return Refuse(absl::InvalidArgumentError("no such step"));
  }
  const std::string name = "step '" + definition.steps[signal.step].name + "'";
  if (!definition.steps[signal.step].async_completion) {
    return refuse(name + " does not complete asynchronously");
  }
  const ActiveStep* attempt = ActiveOf(state, signal.step);
  if (state.status != SagaStatus::kRunning || attempt == nullptr ||
      !(attempt->call_in_flight || attempt->awaiting_completion)) {
    return refuse(name + " has no attempt waiting for a completion (" +
                  Describe(definition, state) + ")");
  }
  if (signal.completion_token.empty() ||
      !SameSecret(signal.completion_token, attempt->completion_token)) {
    return refuse("it is not the token of the current attempt of " + name);
  }
  // A completion that overtakes the ACCEPTED answer is the call's result
  // all the same; the answer then finds no call in flight and is ignored.
  Builder b(definition, state, ctx);
  b.OnCallResult(signal.step, signal.outcome, signal.output_json, signal.error);
  return std::move(b).Finish();
}

Decision DecideParentRollback(const SagaDefinition& definition,
                              const SagaState& state, const Signal& signal,
                              const DecideContext& ctx) {
  if (state.status != SagaStatus::kCompleted) {
    if (IsTerminal(state.status)) return Decision{};
    return DecideCancel(definition, state, signal, ctx);
  }
  if (absl::Status may = MayStartCompensation(definition, state); !may.ok()) {
    return Refuse(absl::FailedPreconditionError(
        "cannot roll back the completed saga: " + std::string(may.message())));
  }
  Builder b(definition, state, ctx);
  b.Cancel(signal.error);
  return std::move(b).Finish();
}

}  // namespace

absl::Status MayStartCompensation(const SagaDefinition& definition,
                                  const SagaState& state) {
  const int pivot = PivotIndex(definition);
  if (pivot < 0) return absl::OkStatus();
  const std::string name = "the pivot step '" + definition.steps[pivot].name;
  const StepState& step = state.steps[pivot];
  if (step.status == StepStatus::kSucceeded) {
    return absl::FailedPreconditionError(
        name + "' has succeeded, so the saga is past the point of no return");
  }
  if (const ActiveStep* a = ActiveOf(state, pivot);
      a != nullptr && (a->call_in_flight || a->awaiting_completion)) {
    return absl::FailedPreconditionError(
        name +
        "' has been called and has not answered, so the saga may be past the "
        "point of no return");
  }
  if (step.outcome_unknown) {
    return absl::FailedPreconditionError(
        name +
        "' was called and did not answer, so the saga may be past the point "
        "of no return; it is asked again with the same idempotency key until "
        "it answers");
  }
  return absl::OkStatus();
}

Decision DecideStart(const SagaDefinition& definition,
                     const std::string& input_json, const DecideContext& ctx,
                     const TraceContext& trace, const std::string& started_by,
                     int64_t start_at_ms, const ParentLink& parent,
                     const StartLabels& labels) {
  const SagaState initial = NewSagaState(definition, "");
  Builder b(definition, initial, ctx);
  Event started = b.Make(EventType::kSagaStarted);
  started.saga_type = definition.name;
  started.definition_version = definition.version;
  started.input_json = CanonicalJson(input_json);
  started.traceparent = trace.traceparent;
  started.tracestate = trace.tracestate;
  started.started_by = started_by;
  started.parent_saga_id = parent.saga_id;
  started.parent_step = parent.step;
  started.business_key = labels.business_key;
  started.rerun_of = labels.rerun_of;
  if (!labels.rerun_of.empty()) {
    started.operator_name = labels.operator_name;
    started.error = labels.reason;
  }
  const bool scheduled = start_at_ms > ctx.now_ms;
  if (scheduled) started.due_ms = start_at_ms;
  b.Emit(std::move(started));
  if (!scheduled) b.StartReadySteps();
  return std::move(b).Finish();
}

Decision Decide(const SagaDefinition& definition, const SagaState& state,
                const Signal& signal, const DecideContext& ctx) {
  // Operator repairs also apply to ended (FAILED) sagas.
  switch (signal.kind) {
    case Signal::Kind::kOperatorRetry:
      return DecideOperatorRetry(definition, state, signal, ctx);
    case Signal::Kind::kOperatorSkipStep:
      return DecideOperatorSkip(definition, state, signal, ctx);
    case Signal::Kind::kOperatorMarkCompensated:
      return DecideOperatorMarkCompensated(definition, state, signal, ctx);
    case Signal::Kind::kSagaSignal:
      // A repeated delivery is answered even after the saga ended.
      return DecideSagaSignal(definition, state, signal, ctx);
    case Signal::Kind::kParentRollback:
      // Undoes a COMPLETED saga too.
      return DecideParentRollback(definition, state, signal, ctx);
    default:
      break;
  }
  if (IsTerminal(state.status)) {
    if (signal.kind == Signal::Kind::kStepCompletion) {
      return DecideCompletion(definition, state, signal, ctx);
    }
    if (signal.kind == Signal::Kind::kCancel) {
      return Refuse(
          absl::FailedPreconditionError(std::string("saga already ended as ") +
                                        SagaStatusName(state.status)));
    }
    if (signal.kind == Signal::Kind::kResume) {
      Decision decision;
      decision.commands = PendingCommands(definition, state);
      return decision;
    }
    return Decision{};
  }

  switch (signal.kind) {
    case Signal::Kind::kCallResult: {
      const ActiveStep* call = ActiveOf(state, signal.step);
      const bool current =
          call != nullptr && call->call_in_flight &&
          signal.attempt == call->in_flight_attempt &&
          signal.compensation == (state.status == SagaStatus::kCompensating);
      if (!current) return Decision{};
      Builder b(definition, state, ctx);
      b.OnCallResult(signal.step, signal.outcome, signal.output_json,
                     signal.error);
      return std::move(b).Finish();
    }

    case Signal::Kind::kTimerFired: {
      Builder b(definition, state, ctx);
      b.OnTimer();
      return std::move(b).Finish();
    }

    case Signal::Kind::kCancel:
      return DecideCancel(definition, state, signal, ctx);

    case Signal::Kind::kResume:
      return DecideResume(definition, state, ctx);

    case Signal::Kind::kStepCompletion:
      return DecideCompletion(definition, state, signal, ctx);

    case Signal::Kind::kOperatorRetry:
    case Signal::Kind::kOperatorSkipStep:
    case Signal::Kind::kOperatorMarkCompensated:
    case Signal::Kind::kSagaSignal:
    case Signal::Kind::kParentRollback:
      break;  // decided above
  }
  return Decision{};
}

std::vector<Command> CommandsAfter(const SagaDefinition& definition,
                                   const SagaState& before,
                                   const SagaState& after) {
  std::vector<Command> commands = PendingCommands(definition, after);
  if (before.status != after.status) return commands;
  std::erase_if(commands, [&before](const Command& command) {
    if (command.kind != Command::Kind::kInvokeStep &&
        command.kind != Command::Kind::kInvokeCompensation) {
      return false;
    }
    const ActiveStep* was = ActiveOf(before, command.step);
    return was != nullptr && was->call_in_flight &&
           was->in_flight_attempt == command.attempt;
  });
  return commands;
}

std::vector<Command> PendingCommands(const SagaDefinition& definition,
                                     const SagaState& state) {
  if (IsTerminal(state.status)) {
    Command finished;
    finished.kind = Command::Kind::kFinished;
    return {finished};
  }
  std::vector<Command> commands;
  int64_t due = 0;
  auto earliest = [&due](int64_t at) {
    if (at != 0 && (due == 0 || at < due)) due = at;
  };
  for (const ActiveStep& a : state.active) {
    if (a.call_in_flight) {
      Command call;
      call.kind = state.status == SagaStatus::kCompensating
                      ? Command::Kind::kInvokeCompensation
                      : Command::Kind::kInvokeStep;
      call.step = a.step;
      call.attempt = a.in_flight_attempt;
      call.deadline_ms = a.in_flight_deadline_ms;
      commands.push_back(call);
    }
    if (a.awaiting_completion &&
        definition.steps[a.step].kind == StepKind::kSaga) {
      Command await;
      await.kind = Command::Kind::kAwaitChild;
      await.step = a.step;
      await.attempt = a.in_flight_attempt;
      commands.push_back(await);
    }
    earliest(a.retry_due_ms);
    earliest(a.wait_due_ms);
    if (a.awaiting_completion) earliest(a.completion_due_ms);
  }
  earliest(state.start_due_ms);
  if (state.status == SagaStatus::kRunning && !state.deadline_passed) {
    earliest(state.deadline_ms);
  }
  if (due != 0) {
    Command wait;
    wait.kind = Command::Kind::kWaitUntil;
    wait.due_ms = due;
    commands.push_back(wait);
  }
  return commands;
}

}  // namespace saga::core
