// A saga's state: a pure fold of its events. Apply never fails on a
// well-formed history; a malformed one (e.g. an event for a step that does
// not exist) is a broken invariant and aborts with a message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"

namespace saga::core {

enum class SagaStatus {
  kRunning,
  kCompensating,
  kCompleted,
  kCompensated,
  kFailed
};

enum class StepStatus {
  kPending,
  kRunning,
  kWaitingRetry,
  kSucceeded,
  kFailed,
  kCompensating,
  kCompensated,
  kCompensationFailed,
  // A wait or delay step waiting for its signal or its time.
  kWaiting,
};

const char* SagaStatusName(SagaStatus status);  // "RUNNING", "COMPLETED", ...
const char* StepStatusName(StepStatus status);  // "PENDING", "SUCCEEDED", ...
absl::StatusOr<SagaStatus> ParseSagaStatus(const std::string& name);
bool IsTerminal(SagaStatus status);

struct StepState {
  StepStatus status = StepStatus::kPending;
  int attempts = 0;               // Execute calls started
  int compensation_attempts = 0;  // Compensate calls started
  // An Execute call's outcome was never learned (timeout, transport error,
  // crash) and no later attempt settled it: it may have taken effect.
  bool outcome_unknown = false;
  std::string output_json;  // set once succeeded
  std::string error;        // last failure
  int64_t started_ms = 0;   // first attempt
  int64_t ended_ms = 0;     // success/failure/compensation end
  // When attempt 1 of the current round of calls (Execute, or Compensate
  // once compensating; an operator retry starts a new round) started: the
  // start of the retry policy's give_up_after budget.
  int64_t round_started_ms = 0;
  // The seq of the event that ended the step's last forward attempt
  // (StepSucceeded or StepFailed): compensation undoes steps in the reverse
  // order of these, which in a parallel group is the order they completed.
  int64_t ended_seq = 0;
  // A saga step: the child it started (from its StepAccepted); empty
  // before, and when the start's outcome is unknown (the child's id is
  // ChildSagaId all the same).
  std::string child_saga_id;
  // Calls started in earlier rounds, before an operator retry started this
  // one (attempts and compensation_attempts count this round only).
  int earlier_attempts = 0;
  int earlier_compensation_attempts = 0;

  bool operator==(const StepState&) const = default;
};

// A step with something pending: a call in flight, an accepted call that
// awaits its completion, a backoff before its next attempt, or a wait or
// delay step's wait. It leaves SagaState::active when none of these holds.
struct ActiveStep {
  int step = -1;
  // A call (Execute or Compensate, by the saga's status) was started and
  // its result is not recorded yet.
  bool call_in_flight = false;
  int in_flight_attempt = 0;
  int64_t in_flight_deadline_ms = 0;  // started at + the step's timeout
  // Asynchronous steps (StepDefinition::async_completion): the current
  // attempt's completion token (from its StepStarted), whether the
  // participant has accepted the call and the saga waits for CompleteStep
  // (no call in flight), and until when (the attempt's start + the step's
  // timeout; then the outcome is unknown).
  std::string completion_token;
  bool awaiting_completion = false;
  int64_t completion_due_ms = 0;
  // Set while waiting for a backoff timer: when, and the attempt it starts.
  int64_t retry_due_ms = 0;
  int retry_attempt = 0;
  // A wait or delay step that waits (kWaiting) until this time: its
  // timeout or its delay; 0: no bound (a wait without timeout).
  int64_t wait_due_ms = 0;

  bool operator==(const ActiveStep&) const = default;
};

// A signal sent to the saga (SignalReceived), kept until a wait step for
// its name consumes it.
struct ReceivedSignal {
  std::string name;
  std::string key;  // the sender's idempotency key
  std::string payload_json;
  int64_t received_ms = 0;
  int consumed_by = -1;  // the wait step whose output it became; -1: none yet

  bool operator==(const ReceivedSignal&) const = default;
};

struct SagaState {
  std::string saga_id;
  std::string saga_type;
  int definition_version = 0;
  std::string input_json;
  // W3C trace context recorded at the start; empty for older sagas.
  std::string traceparent;
  std::string tracestate;
  // Who started it (see Event::started_by); empty without authentication.
  std::string started_by;
  // A child saga: its parent saga and the parent's step that started it
  // (from SagaStarted); empty for a saga started through the API.
  std::string parent_saga_id;
  std::string parent_step;
  // From SagaStarted: the business key (empty: none) and, for a rerun, the
  // ended saga it reran (empty otherwise).
  std::string business_key;
  std::string rerun_of;
  SagaStatus status = SagaStatus::kRunning;
  std::vector<StepState> steps;  // one per definition step

  int64_t last_seq = 0;  // seq of the last applied event
  int64_t created_ms = 0;
  int64_t updated_ms = 0;

  // The steps under way, in the order they started: one in a straight
  // line of steps, one per branch running in a parallel group, the one
  // being compensated while the saga rolls back. Empty before the first
  // step, after the end, and while nothing is pending.
  std::vector<ActiveStep> active;
  // A scheduled start (StartSaga's start_at) not reached yet: the first
  // step starts then.
  int64_t start_due_ms = 0;
  // When the saga's deadline passes (its start + the definition's
  // deadline); 0: none. deadline_passed once DeadlinePassed is recorded.
  int64_t deadline_ms = 0;
  bool deadline_passed = false;
  // Every signal received, in order.
  std::vector<ReceivedSignal> signals;

  bool cancel_requested = false;
  // Why the saga compensated or failed.
  std::string reason;
  // Why the saga is rolling back (set when compensation starts). `reason`
  // turns into the failure if a compensation gives up; an operator repair
  // that finishes the rollback reports this again.
  std::string rollback_reason;

  bool operator==(const SagaState&) const = default;
};

// Operator actions recorded in OperatorAction events.
inline constexpr char kOperatorRetry[] = "retry";
inline constexpr char kOperatorSkipStep[] = "skip_step";
inline constexpr char kOperatorMarkCompensated[] = "mark_compensated";

// For a FAILED saga, the step that gave up: the one whose compensation
// failed, or the post-pivot step that failed; -1 otherwise.
int StuckStep(const SagaState& state);

// Step k's entry in state.active, or null when nothing is pending for it.
const ActiveStep* ActiveOf(const SagaState& state, int k);
// The step that started first among those under way; -1: none.
int CurrentStep(const SagaState& state);
// The entry of CurrentStep, or an empty one (step -1) when none: for code
// and tests about sagas without parallel steps.
const ActiveStep& CurrentActivity(const SagaState& state);

// Initial state for a definition (all steps pending).
SagaState NewSagaState(const SagaDefinition& definition,
                       const std::string& saga_id);

// Applies one event. REQUIRES: event.seq == state.last_seq + 1 (when the
// event carries a seq; 0 means "not yet numbered").
void Apply(const SagaDefinition& definition, SagaState& state,
           const Event& event);

// Folds a whole history.
SagaState Fold(const SagaDefinition& definition, const std::string& saga_id,
               const std::vector<Event>& events);

}  // namespace saga::core
