// Saga definitions: the declarative model loaded from sagas/*.yaml.
// Pure data; no I/O. See definition_loader.h for parsing and validation.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/core/step_kind.h"

namespace saga::core {

// A retry budget: attempts, time, or both (whichever runs out first; see
// MayRetry). Retriable steps, and a pivot whose outcome is unknown, ignore
// the budget: they are retried until they succeed or answer definitely.
struct RetryPolicy {
  // Total attempts including the first; 0: no bound (give_up_after bounds
  // the retries instead).
  int max_attempts = 3;
  int64_t initial_backoff_ms = 100;
  int64_t max_backoff_ms = 5000;
  double multiplier = 2.0;
  // Fraction in [0, 1] of the backoff that is randomised (see BackoffMs).
  double jitter = 0.2;
  // No attempt is scheduled once this long has passed since the round's
  // first attempt started; 0: no bound.
  int64_t give_up_after_ms = 0;
};

// One entry of a step's input mapping: the step's input field `target`
// takes the value found at `source`, a dotted path rooted at either
// "input" (the saga input) or "steps.<step>.output" (an earlier step's
// output), e.g. "steps.reserve_doctor.output.reservation_id"; parsed by
// ParseInputPath (input_path.h).
struct InputMapping {
  std::string target;
  std::string source;
};

struct StepDefinition {
  std::string name;
  StepKind kind = StepKind::kCompensatable;
  std::string participant;   // logical participant name, e.g. "doctor"
  std::string action;        // e.g. "reserve_doctor"
  std::string compensation;  // compensating action; empty unless compensatable
  // A call step: the deadline of one call; for an asynchronous step, of
  // the wait for the completion, counted from the attempt's start. A wait
  // step: how long it waits for its signal (0: no bound).
  int64_t timeout_ms = 5000;
  RetryPolicy retry;
  RetryPolicy compensation_retry;
  std::vector<InputMapping> input;
  // kWait: the name of the signal it waits for (SignalSaga).
  std::string signal;
  // kDelay: how long it waits once started, or (when `until` is set) the
  // source path of the time it waits until: an RFC 3339 string or Unix
  // milliseconds (see delay_due.h).
  int64_t delay_ms = 0;
  std::string until;
  // `completion: async`: the participant may answer Execute with ACCEPTED
  // and report the result later through CompleteStep (see decider.h).
  bool async_completion = false;
  // Asynchronous steps: deadline of the Execute call itself (`call_timeout`,
  // default 5s, at most `timeout`); unused otherwise.
  int64_t call_timeout_ms = 5000;
  // A step of a `parallel:` group: the group's number (0, 1, ... in the
  // order the groups appear) and its branch's (0, 1, ... within the
  // group); a step outside any group has group -1. See RunsBefore.
  int group = -1;
  int branch = 0;
  // kSaga: the type of the child saga it starts (`saga_type`). Such a step
  // is asynchronous (async_completion): its call starts the child, and the
  // child's end completes it; `timeout` (0: none) bounds each attempt's
  // wait.
  std::string saga_type;
};

// A required field of the saga input and its JSON type: one of "string",
// "number", "integer", "boolean", "object", "array".
struct InputField {
  std::string name;
  std::string type;
};

struct SagaDefinition {
  std::string name;  // the saga type, e.g. "appointment_booking"
  int version = 1;
  std::string description;
  std::vector<InputField> required_input;
  std::vector<StepDefinition> steps;
  // How long the saga may run from its start (the scheduled start for a
  // saga started with start_at); 0: no bound. See decider.h.
  int64_t deadline_ms = 0;
  // `business_key`: the saga input field a new saga's business key is
  // taken from, as "input.<field>" (see business_key.h); empty: none.
  std::string business_key_source;

  // Index of the named step, or -1.
  int StepIndex(const std::string& step_name) const;
};

// Whether step j must have succeeded before step k starts (and so whether
// k may read j's output): every earlier step, except one in another branch
// of the same parallel group. Steps are kept in definition order, a group's
// branches one after the other, so a straight line of steps is the case
// where every earlier step runs before.
bool RunsBefore(const SagaDefinition& definition, int j, int k);

}  // namespace saga::core
