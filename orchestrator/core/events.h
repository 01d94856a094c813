// The saga's append-only history. Every transition is one or more events,
// committed before anything they decide is acted on. An event's payload is
// stored as a JSON object (see EncodeEventData / DecodeEvent); every event
// must round-trip encode -> decode unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace saga::core {

enum class EventType {
  // saga_type, definition_version, input_json, traceparent, tracestate,
  // started_by, due_ms (a scheduled start: when the first step starts; 0:
  // at once), parent_saga_id and parent_step (a child saga: the saga and
  // the step that started it; empty otherwise), business_key (see
  // business_key.h; empty: none) and rerun_of (a rerun: the ended saga whose
  // input it started from, with operator_name and error, who asked and why;
  // empty otherwise)
  kSagaStarted,
  // step, attempt: intent to call Execute (with completion_token for an
  // asynchronous step); for a wait or delay step: it starts waiting, until
  // due_ms (0: no bound)
  kStepStarted,
  // step, attempt, output_json; for a wait step: signal_key (the signal
  // whose payload is the output)
  kStepSucceeded,
  kStepFailed,               // step, attempt, error, retryable, outcome_unknown
  kRetryScheduled,           // step, attempt (the next one), due_ms
  kCancelRequested,          // error (the reason)
  kCompensationStarted,      // error (why the saga rolls back)
  kCompensationStepStarted,  // step, attempt: intent to call Compensate
  kCompensationStepSucceeded,   // step, attempt
  kCompensationStepFailed,      // step, attempt, error
  kCompensationRetryScheduled,  // step, attempt (the next one), due_ms
  kSagaCompleted,
  kSagaCompensated,  // error (the reason it rolled back)
  kSagaFailed,       // error (which compensation gave up)
  // An operator's repair (see decider.h): operator_action, operator_name,
  // error (the reason), step (the step it concerns, or -1).
  kOperatorAction,
  // A signal sent to the saga (SignalSaga): signal_name, signal_key (the
  // sender's idempotency key), output_json (the payload). Kept until a wait
  // step for that name consumes it.
  kSignalReceived,
  // The saga's deadline passed while it ran (error: what was done about
  // it). Before the pivot a rollback follows in the same decision.
  kDeadlinePassed,
  // step, attempt: the participant accepted an asynchronous step's call;
  // its result comes later through CompleteStep (or the wait times out).
  // A saga step's: child_saga_id, the child it started (or found started).
  kStepAccepted,
};

// Stable names used in storage and the API, e.g. "StepStarted".
const char* EventTypeName(EventType type);
absl::StatusOr<EventType> ParseEventType(const std::string& name);

struct Event {
  EventType type = EventType::kSagaStarted;
  // 1-based position in the saga's history; assigned before append.
  int64_t seq = 0;
  // Decision time (Unix ms), given to the decider as input.
  int64_t at_ms = 0;
  // Index into the definition's steps; -1 for saga-level events.
  int step = -1;
  int attempt = 0;

  // Payload; which fields are meaningful depends on `type` (see above).
  std::string saga_type;
  int definition_version = 0;
  std::string input_json;
  std::string output_json;
  std::string error;
  bool retryable = false;
  bool outcome_unknown = false;
  int64_t due_ms = 0;
  std::string operator_action;  // "retry", "skip_step", "mark_compensated"
  std::string operator_name;
  // W3C trace context the saga runs under (see observability/
  // trace_context.h); empty in histories recorded before it was kept.
  std::string traceparent;
  std::string tracestate;
  // The authenticated caller (token name) that started the saga; empty when
  // authentication was off, and in histories recorded before it was kept.
  std::string started_by;
  // Signals (see kSignalReceived); empty otherwise.
  std::string signal_name;
  std::string signal_key;
  // StepStarted of an asynchronous step: the secret the participant must
  // present to CompleteStep for this attempt (drawn by the engine, given to
  // the decider as DecideContext::completion_token). Never shown to API
  // clients: see WithoutSecrets.
  std::string completion_token;
  // Child sagas (see child_saga.h): SagaStarted of a child names its parent
  // and the parent's step; StepAccepted of a saga step names the child.
  std::string parent_saga_id;
  std::string parent_step;
  std::string child_saga_id;
  // SagaStarted: the saga's business key and, for a rerun, the saga rerun.
  std::string business_key;
  std::string rerun_of;

  bool operator==(const Event&) const = default;
};

// The payload fields of `event` (everything except type, seq, at_ms, step
// and attempt, which are stored in their own columns) as a JSON object.
std::string EncodeEventData(const Event& event);

// What clients may see of `event` (GetSagaHistory, WatchSaga, exports): a
// completion token is replaced by kRedacted, so an exported history still
// replays (the decider takes the token as an input) but completes nothing.
inline constexpr char kRedacted[] = "[redacted]";
Event WithoutSecrets(Event event);

absl::StatusOr<Event> DecodeEvent(const std::string& type_name, int64_t seq,
                                  int64_t at_ms, int step, int attempt,
                                  const std::string& data_json);

}  // namespace saga::core
