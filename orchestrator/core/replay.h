// Replay: runs a recorded history through the decider, offline, and checks
// that the code in hand (and the definition given) would record the same
// events for the same signals. This is how a change to the decider or to a
// definition is checked against sagas that already ran. Pure.
//
// How: the history must begin with what DecideStart produces for the
// recorded input. Then, at each decision boundary, the signal that caused
// the next recorded event is inferred from that event and the state:
//   StepSucceeded                     -> a call result: success, its output
//   StepFailed, not retryable         -> a business failure
//   StepFailed, retryable             -> a retryable failure, or an unknown
//                                        outcome when outcome_unknown (a
//                                        resume when its error is
//                                        kRestartedWhileInFlightError)
//   StepAccepted                      -> the call's answer ACCEPTED
//   StepSucceeded, StepFailed (not retryable) while an asynchronous step
//   waits for its completion          -> CompleteStep, with the token its
//                                        StepStarted recorded
//   StepFailed, retryable, while it waits -> the end of the wait (timer)
//   CompensationStep{Succeeded,Failed} likewise, for the compensation call
//   StepStarted, CompensationStepStarted,
//   SagaCompleted, SagaCompensated    -> the backoff timer when a retry is
//                                        pending, else a resume
//   CancelRequested                   -> a cancel with the recorded reason
//   OperatorAction                    -> the operator's signal
// The decider runs with now = that event's at_ms, a zero jitter draw and the
// completion token of the next recorded StepStarted, and
// its events are compared field by field with the recorded ones (seq aside;
// a RetryScheduled / CompensationRetryScheduled due_ms matches anywhere in
// the step policy's jitter window, see BackoffMs). The RECORDED events are
// then applied and the next boundary follows them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/history_file.h"
#include "orchestrator/core/state.h"

namespace saga::core {

// Decide's signature, so that a test can replay with a changed decider.
using DecideFn = std::function<Decision(const SagaDefinition&, const SagaState&,
                                        const Signal&, const DecideContext&)>;

// The first place where the recording and the code disagree.
struct Divergence {
  // 0-based position in the recorded history; the history's size when the
  // code decides more events than were recorded.
  size_t index = 0;
  // The recorded event's seq, or the seq the decided event would get.
  int64_t seq = 0;
  // nullopt: nothing was recorded there / the code decides nothing there.
  // Steps index the definition replayed against, except for a recorded
  // event whose step that definition lacks (see ReplayHistory).
  std::optional<Event> recorded;
  std::optional<Event> decided;
  // The two events as a history file shows them (EncodeHistoryEvent), or
  // "nothing".
  std::string recorded_json;
  std::string decided_json;
  std::string reason;  // one line
};

struct ReplayReport {
  std::optional<Divergence> divergence;
  bool ok() const { return !divergence.has_value(); }

  // Recorded events that matched (all of them when ok()).
  size_t matched = 0;
  // The state after the matched events, and the commands it implies
  // (PendingCommands): what an engine would do next with this saga.
  SagaState state;
  std::vector<Command> pending_commands;
  // The recorded SagaStarted's definition version when it is not the
  // version replayed against (replaying against a new version is allowed:
  // the version number itself is then not compared); 0 otherwise.
  int recorded_definition_version = 0;
};

// Replays `recorded` (seq 1, 2, ... in order) against `definition`. Never
// aborts on a malformed history: a seq out of order, an unknown step, or an
// event no signal explains is reported as a divergence.
ReplayReport Replay(const SagaDefinition& definition,
                    const std::vector<Event>& recorded,
                    const DecideFn& decide = Decide);

// Replays a decoded history file against the definition it ran with, or,
// when `definition` is given, against that (usually a new version of the
// saga's definition): events are re-indexed by step name, and an event for
// a step `definition` lacks is a divergence at that event.
ReplayReport ReplayHistory(const History& history,
                           const SagaDefinition* definition = nullptr,
                           const DecideFn& decide = Decide);

}  // namespace saga::core
