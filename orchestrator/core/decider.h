// The decider: given a saga's state and what just happened, decides the
// events to record and the commands to run once they are durable. Pure: the
// clock and the random draw for jitter are inputs, so a recorded history
// replays to the same state and commands.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/state.h"

namespace saga::core {

enum class CallOutcome {
  kSucceeded,
  kBusinessFailure,  // definite no; never retried
  // The participant answered that nothing was applied under the key: this
  // attempt and every earlier one (they share the key). May retry.
  kRetryableFailure,
  // This attempt applied nothing, but the participant never looked at the
  // key (the call was not sent, or was refused before the handler), so it
  // settles nothing about an earlier attempt's unknown outcome. May retry.
  kNotApplied,
  kUnknown,  // timeout / transport error: may or may not have applied
  // An asynchronous step's participant took the call on: the result comes
  // later through CompleteStep (a kStepCompletion signal). For a saga step
  // the orchestrator started (or found) the child, whose id is the output. From
  // any other call it is taken as an unknown outcome (a participant that breaks
  // the protocol may still have applied something).
  kAccepted,
};

// What just happened to a saga.
struct Signal {
  enum class Kind {
    // Start-up or re-claim: continue from the state as recorded. A call that
    // was in flight when the previous owner stopped has an unknown outcome.
    kResume,
    kCallResult,  // a participant answered (or the call failed)
    kTimerFired,  // a backoff timer is due
    kCancel,      // an API/operator request to roll back
    // Operator repairs (recorded as an OperatorAction event first):
    // Retry now: a FAILED saga gets a fresh round of attempts for the
    // compensation (or post-pivot step) that gave up; a saga waiting out a
    // backoff calls at once.
    kOperatorRetry,
    // `step` is being compensated (or its compensation gave up) and the
    // operator has undone its effect by hand: compensation goes on with the
    // earlier steps.
    kOperatorSkipStep,
    // A FAILED saga ends COMPENSATED: the operator undid what was left.
    kOperatorMarkCompensated,
    // SignalSaga: `signal_name` with payload `output_json` under the
    // sender's idempotency key `signal_key`. Recorded, and consumed by a
    // wait step for that name now or once the saga gets there. The same key
    // again (same name and payload) changes nothing: the first delivery
    // stands; with another name or payload it is refused (AlreadyExists).
    kSagaSignal,
    // CompleteStep: the result of an asynchronous step's current attempt,
    // reported by its participant with the attempt's completion token.
    // `step`, `completion_token`, `outcome` (kSucceeded or
    // kBusinessFailure), `output_json`, `error`. Refused (FailedPrecondition)
    // unless the step's current attempt is waiting (accepted, or its call
    // still in flight) and the token is that attempt's; a token is spent by
    // the result it brings, and dies with its attempt.
    kStepCompletion,
    // The saga is a child (child_saga.h) and its parent rolls back the step
    // that started it: a running saga is cancelled (`error`: the reason),
    // a COMPLETED one compensates its steps in reverse; one that has
    // already been undone (COMPENSATED) or gave up (FAILED) stays as it is.
    kParentRollback,
  };
  Kind kind = Kind::kResume;
  // kCallResult: which call. Stale results (not the call in flight) are
  // ignored by the decider.
  int step = -1;
  int attempt = 0;
  bool compensation = false;
  CallOutcome outcome = CallOutcome::kSucceeded;
  std::string output_json;
  std::string error;  // kCallResult failure text, or kCancel/operator reason
  std::string operator_name;     // operator signals
  std::string signal_name;       // kSagaSignal
  std::string signal_key;        // kSagaSignal
  std::string completion_token;  // kStepCompletion
};

// Most signals a saga keeps unconsumed; past it SignalSaga is refused
// (ResourceExhausted), so a sender in a loop cannot grow a history forever.
inline constexpr size_t kMaxPendingSignals = 64;

// The error recorded for a call whose result was lost because the
// orchestrator stopped (StepFailed / CompensationStepFailed on kResume).
extern const char kRestartedWhileInFlightError[];

struct DecideContext {
  // A constructor, not an aggregate, so the callers that have no token to
  // give keep writing {now, random}.
  DecideContext() = default;
  DecideContext(int64_t now, double random,
                std::vector<std::string> tokens = {})
      : now_ms(now),
        unit_random(random),
        completion_tokens(std::move(tokens)) {}

  int64_t now_ms = 0;
  double unit_random = 0.0;  // in [0, 1); used for backoff jitter
  // Unguessable secrets (the engine draws 128 random bits each), one for
  // each attempt of an asynchronous step this decision starts, taken in
  // the order the attempts start: each is recorded in its StepStarted, so
  // a replay gives the recorded ones. A decision of a parallel group may
  // start several; no two steps share a token. A caller gives as many as
  // the definition has asynchronous steps (none for most definitions).
  std::vector<std::string> completion_tokens;
};

struct Command {
  enum class Kind {
    kInvokeStep,          // call Execute(step, attempt) with deadline_ms
    kInvokeCompensation,  // call Compensate(step, attempt) with deadline_ms
    // signal kTimerFired at due_ms (a backoff, or the end of the wait for an
    // asynchronous step's completion)
    kWaitUntil,
    kFinished,  // the saga reached a terminal state
    // A saga step waits for its child (attempt `attempt` of `step`):
    // complete the step (kStepCompletion) once the child has ended. Given
    // again on every resume, so a child that ended while nobody watched is
    // found then.
    kAwaitChild,
  };
  Kind kind = Kind::kInvokeStep;
  int step = -1;
  int attempt = 0;
  int64_t deadline_ms = 0;
  int64_t due_ms = 0;
  bool operator==(const Command&) const = default;
};

struct Decision {
  // Record these (in order, in one transaction), apply them, then run the
  // commands. Empty events and commands: nothing to do (e.g. stale result).
  // Always: commands == CommandsAfter(definition, state, state + events).
  std::vector<Event> events;
  std::vector<Command> commands;
  // Non-OK when the signal was refused (e.g. FailedPrecondition: cancel
  // after the pivot succeeded, or of an ended saga). Nothing is recorded.
  absl::Status refusal;
};

// The W3C trace context a saga runs under, recorded in SagaStarted.
struct TraceContext {
  std::string traceparent;
  std::string tracestate;
};

// A child saga's parent: the saga and the name of its step that starts the
// child (empty for a saga started through the API).
struct ParentLink {
  std::string saga_id;
  std::string step;
};

// What a saga started through the API is known by besides its input (see
// business_key.h and RerunSaga): recorded in SagaStarted.
struct StartLabels {
  std::string business_key;
  // A rerun: the ended saga whose input it reuses, and the operator who
  // asked for it and why.
  std::string rerun_of;
  std::string operator_name;
  std::string reason;
};

// The first events of a new saga (SagaStarted, then StepStarted for the
// first step) and the command to call it. `started_by` names the
// authenticated caller (empty: none), recorded in SagaStarted. A
// `start_at_ms` later than ctx.now_ms schedules the start: SagaStarted
// records it and the first step starts when the timer fires.
Decision DecideStart(const SagaDefinition& definition,
                     const std::string& input_json, const DecideContext& ctx,
                     const TraceContext& trace = {},
                     const std::string& started_by = "",
                     int64_t start_at_ms = 0, const ParentLink& parent = {},
                     const StartLabels& labels = {});

Decision Decide(const SagaDefinition& definition, const SagaState& state,
                const Signal& signal, const DecideContext& ctx);

// The one rule for where compensation may start, which every path that can
// roll a saga back asks (a step's failure, a cancel, restart recovery;
// deadlines and operator repairs as they come): never once the pivot has
// succeeded, never while the pivot's call is in flight, and never while
// its outcome is unknown (it was called and did not answer: its effect may
// stand, so it is asked again, same key, until it answers definitely).
// OK, or FailedPrecondition saying which of these holds.
absl::Status MayStartCompensation(const SagaDefinition& definition,
                                  const SagaState& state);

// The commands implied by a state with nothing new happening: used after
// applying a decision's events, and by replay to compare. Each call in
// flight (one per parallel branch under way) is its call; a saga step
// waiting for its child is kAwaitChild; a running saga with anything timed
// (a backoff, a waiting step's due time, a scheduled start, the deadline)
// gets one kWaitUntil at the earliest of them; ended: kFinished.
//
// Deadlines (SagaDefinition::deadline_ms): when the timer finds the
// deadline passed while the saga runs, DeadlinePassed is recorded; if the
// saga may still roll back (MayStartCompensation) it compensates with the
// reason "deadline passed" (a call in flight is settled as unknown, as a
// cancel does); past the pivot nothing is undone and the saga runs on.
std::vector<Command> PendingCommands(const SagaDefinition& definition,
                                     const SagaState& state);

// What to run once `after` (a state reached from `before` by recorded
// events, of one decision or of several decided in a row and committed
// together) is durable: PendingCommands(after), less the calls that were
// already in flight in `before` (same step, attempt and direction: they
// are under way, and sending them again would only repeat them).
std::vector<Command> CommandsAfter(const SagaDefinition& definition,
                                   const SagaState& before,
                                   const SagaState& after);

}  // namespace saga::core
