// SagaDriver: runs one saga through the pure core the way the engine does
// (decide, number the events, apply them), with no I/O, so a test can play
// any sequence of answers, timers, cancels and operator actions and look at
// the decisions, the state and the history.
//
// Every decision is checked against the decider's contract (non-fatal
// failures naming the event): events come unnumbered and stamped with the
// decision time, they round-trip through the codec, the commands are the
// ones the resulting state implies, and folding the whole history from
// scratch gives the incrementally applied state.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/state.h"

namespace saga::testing {

// An input every booking test definition accepts.
inline constexpr char kBookingInput[] =
    R"({"patient_id":"p1","preferred_date":"2024-05-17","specialty":"eye"})";

class SagaDriver {
 public:
  // How time and jitter move from one decision to the next.
  struct Pace {
    int64_t start_ms = 1000;  // `now` at first
    int64_t tick_ms = 0;      // added to `now` before each signal
    int64_t restart_ms = 0;   // added to `now` before Resume (a restart)
    // Each decision draws a new `random` (steps of 0.37, wrapping in [0, 1)),
    // as jitter draws vary in a real run.
    bool vary_random = false;
    // A refused signal fails the test (fatally) instead of being returned.
    bool refusal_fails = false;
  };
  // Time stands still (a test moves `now` itself) and `random` stays 0: for
  // tests of exact due times.
  static Pace Still() { return Pace{}; }
  // As in a real run: time moves a few ms per signal, a restart takes 5 s,
  // jitter draws vary and every signal must be accepted: for recording
  // histories to replay.
  static Pace Recording() {
    return Pace{1714564800000, 7, 5000, /*vary_random=*/true,
                /*refusal_fails=*/true};
  }

  explicit SagaDriver(core::SagaDefinition def, Pace pace = Still());

  const core::SagaDefinition& def() const { return def_; }
  const core::SagaState& state() const { return state_; }
  const std::vector<core::Event>& history() const { return history_; }

  // The time and jitter draw the next decision sees; tests may set them.
  int64_t now;
  double random = 0.0;
  // Decisions draw completion tokens "token-1", "token-2", ... in turn.
  int tokens_drawn = 0;

  // Starts saga "s1" (scheduled, with a start_at_ms later than `now`).
  core::Decision Start(const std::string& input = kBookingInput,
                       int64_t start_at_ms = 0);
  // Starts saga "s1" as the child of `parent` (core/child_saga.h).
  core::Decision StartAsChild(const std::string& input,
                              const core::ParentLink& parent);
  // SignalSaga: signal `name` under idempotency key `key`.
  core::Decision SignalSaga(const std::string& name, const std::string& key,
                            const std::string& payload = "{}");
  core::Decision Send(const core::Signal& signal);

  // Answers step `step`'s call in flight (a parallel branch's).
  core::Decision AnswerStep(int step, core::CallOutcome outcome,
                            const std::string& output = "{}",
                            const std::string& error = "");
  // Answers the call in flight (the first started, with parallel steps).
  core::Decision Answer(core::CallOutcome outcome,
                        const std::string& output = "",
                        const std::string& error = "");
  core::Decision Succeed(const std::string& output = "{}");
  core::Decision FailForGood(const std::string& error);
  core::Decision FailRetryably(const std::string& error = "busy");
  // The participant could not be reached: nothing sent.
  core::Decision NotSent();
  // No answer before the deadline: the outcome is unknown.
  core::Decision TimeOut();

  // The participant of an asynchronous step accepted the call in flight.
  core::Decision Accept();
  // CompleteStep for the current step with `token` (by default, the current
  // attempt's).
  core::Decision Complete(core::CallOutcome outcome,
                          const std::string& output = "{}",
                          const std::string& error = "",
                          const std::string* token = nullptr);

  // Fires the pending timer (a backoff, a waiting step's due time, a
  // scheduled start, the deadline, the end of a wait for a completion) at
  // its due time (or now, if later).
  core::Decision FireTimer();
  static core::Signal Timer();
  core::Decision Cancel(const std::string& reason);
  // The orchestrator restarted (see Pace::restart_ms).
  core::Decision Resume();
  // An operator action by "alice", reason "fixed by hand".
  core::Decision Operate(core::Signal::Kind kind, int step = -1);

 private:
  core::DecideContext NextContext(bool tick);
  core::Decision Commit(core::Decision d);

  core::SagaDefinition def_;
  Pace pace_;
  core::SagaState state_;
  std::vector<core::Event> history_;
};

// Every field of a saga state on a few lines, for comparing states in tests.
std::string Describe(const core::SagaState& s);
// "StepStarted 1/2" (step/attempt) for step events, the bare name otherwise.
std::string Label(const core::Event& e);
std::vector<std::string> Labels(const std::vector<core::Event>& events);

}  // namespace saga::testing
