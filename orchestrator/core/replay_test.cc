#include "orchestrator/core/replay.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/history_file.h"
#include "tests/support/definitions.h"
#include "tests/support/saga_driver.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

constexpr int kValidate = 0;
constexpr int kReserve = 1;
constexpr int kNotify = 2;

const char kInput[] =
    R"({"patient_id":"p1","preferred_date":"2024-05-17","specialty":"eye"})";
const char kPatient[] =
    R"({"email":"ann@example.com","name":"Ann","patient_id":"p1"})";
const char kReservation[] =
    R"({"date":"2024-05-17","doctor_email":"bob@example.com",)"
    R"("doctor_id":"d1","doctor_name":"Dr Bob","reservation_id":"r1"})";

// The histories here are of version 1 of the booking saga, as the golden
// ones are.
constexpr auto Booking = &testing::BookingV1;

// A pivot followed by a retriable step.
SagaDefinition PivotThenRetriable() {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(R"(
name: tail
version: 1
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release}
  - {name: charge, kind: pivot, participant: p, action: charge}
  - {name: mail, kind: retriable, participant: p, action: mail,
     retry: {max_attempts: 1, initial_backoff: 1s, max_backoff: 10s, multiplier: 2, jitter: 0.5}}
)",
                                                       "tail.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : SagaDefinition{};
}

// An asynchronous step (completed through CompleteStep) between two
// synchronous ones.
SagaDefinition AsyncCharge() {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(R"(
name: pay
version: 1
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release}
  - {name: charge, kind: compensatable, participant: payment, action: charge, compensation: refund,
     completion: async, timeout: 1h, call_timeout: 2s,
     retry: {max_attempts: 2, initial_backoff: 1s, max_backoff: 1s, multiplier: 1, jitter: 0.5}}
  - {name: confirm, kind: pivot, participant: p, action: confirm}
)",
                                                       "pay.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : SagaDefinition{};
}

// Records a history the way a real run goes (SagaDriver::Recording()): time
// moves between signals, jitter draws vary, every signal is accepted.
class Recorder : public testing::SagaDriver {
 public:
  explicit Recorder(SagaDefinition def)
      : SagaDriver(std::move(def), Recording()) {
    Start(kInput);
  }
};

struct Scenario {
  std::string name;
  std::function<SagaDefinition()> definition;
  std::function<void(Recorder&)> run;
};

std::vector<Scenario> Scenarios() {
  return {
      {"success", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.Succeed();
       }},
      {"validate fails", Booking,
       [](Recorder& r) { r.FailForGood("patient p1 is inactive"); }},
      {"reserve fails", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.FailForGood("no doctor of specialty astrology");
       }},
      {"notify fails", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("mailbox does not exist");
         r.Succeed();
       }},
      {"retries then success", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         for (int i = 0; i < 3; ++i) {
           r.FailRetryably();
           r.FireTimer();
         }
         r.Succeed(kReservation);
         r.FailRetryably("smtp busy");
         r.FireTimer();
         r.Succeed();
       }},
      {"retries exhausted", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         for (int i = 0; i < 3; ++i) {
           r.FailRetryably("smtp down");
           r.FireTimer();
         }
         r.FailRetryably("smtp down");
         r.Succeed();
       }},
      {"timeout then success", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.TimeOut();
         r.FireTimer();
         r.Succeed(kReservation);
         r.Succeed();
       }},
      {"unknown outcome compensated", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         for (int i = 0; i < 4; ++i) {
           r.TimeOut();
           r.FireTimer();
         }
         r.TimeOut();
         r.FailRetryably("doctor service down");
         r.FireTimer();
         r.Succeed();
       }},
      {"resume after restart", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Resume();
         r.FireTimer();
         r.Succeed(kReservation);
         r.Resume();
         r.Resume();
         r.FireTimer();
         r.Succeed();
         r.Resume();
       }},
      {"resume during compensation", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("bounce");
         r.Resume();
         r.FireTimer();
         r.Succeed();
       }},
      {"cancel in flight", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Cancel("patient called");
         r.Succeed();
       }},
      {"cancel while waiting", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.FailRetryably();
         r.Cancel("");
       }},
      {"compensation retries", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("bounce");
         for (int i = 0; i < 3; ++i) {
           r.FailRetryably("doctor service down");
           r.FireTimer();
         }
         r.Succeed();
       }},
      {"compensation exhausted, operator retry", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("bounce");
         for (int i = 0; i < 9; ++i) {
           r.FailRetryably("doctor service down");
           r.FireTimer();
         }
         r.FailRetryably("doctor service down");
         r.Operate(Signal::Kind::kOperatorRetry);
         r.Succeed();
       }},
      {"compensation exhausted, skipped", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("bounce");
         for (int i = 0; i < 9; ++i) {
           r.FailRetryably("doctor service down");
           r.FireTimer();
         }
         r.FailRetryably("doctor service down");
         r.Operate(Signal::Kind::kOperatorSkipStep, kReserve);
       }},
      {"compensation exhausted, marked compensated", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.Succeed(kReservation);
         r.FailForGood("bounce");
         for (int i = 0; i < 9; ++i) {
           r.FailRetryably("doctor service down");
           r.FireTimer();
         }
         r.FailRetryably("doctor service down");
         r.Operate(Signal::Kind::kOperatorMarkCompensated);
       }},
      {"operator retry while waiting", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.FailRetryably();
         r.Operate(Signal::Kind::kOperatorRetry);
         r.Succeed(kReservation);
       }},
      {"retriable step after the pivot", PivotThenRetriable,
       [](Recorder& r) {
         r.Succeed();
         r.Succeed();
         for (int i = 0; i < 4; ++i) {
           r.FailRetryably("smtp down");
           r.FireTimer();
         }
         r.Succeed();
       }},
      {"retriable step fails for good", PivotThenRetriable,
       [](Recorder& r) {
         r.Succeed();
         r.Succeed();
         r.FailForGood("no such address");
       }},
      {"async step completed", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         r.Accept();
         r.Complete(CallOutcome::kSucceeded, R"({"charge_id":"c1"})");
         r.Succeed();
       }},
      {"async step completed before its acceptance landed", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         r.Complete(CallOutcome::kSucceeded, R"({"charge_id":"c1"})");
         r.Succeed();
       }},
      {"async step declined", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         r.Accept();
         r.Complete(CallOutcome::kBusinessFailure, "", "card declined");
         r.Succeed();
       }},
      {"async wait expired, retried, completed", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         r.Accept();
         r.FireTimer();
         r.FireTimer();
         r.Accept();
         r.Resume();
         r.Complete(CallOutcome::kSucceeded, "{}");
         r.Succeed();
       }},
      {"async wait expired for good, compensated", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         for (int i = 0; i < 2; ++i) {
           r.Accept();
           r.FireTimer();
         }
         r.Succeed();
         r.Succeed();
       }},
      {"async step cancelled while waiting", AsyncCharge,
       [](Recorder& r) {
         r.Succeed();
         r.Accept();
         r.Cancel("customer left");
         r.Succeed();
         r.Succeed();
       }},
      {"still running", Booking,
       [](Recorder& r) {
         r.Succeed(kPatient);
         r.FailRetryably();
       }},
  };
}

std::vector<std::string> Types(const std::vector<Event>& events) {
  std::vector<std::string> types;
  for (const Event& e : events) types.push_back(EventTypeName(e.type));
  return types;
}

TEST(ReplayTest, EveryScenarioReplaysToTheSameStateAndCommands) {
  for (const Scenario& scenario : Scenarios()) {
    SCOPED_TRACE(scenario.name);
    Recorder r(scenario.definition());
    scenario.run(r);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    ReplayReport report = Replay(r.def(), r.history());
    EXPECT_TRUE(report.ok())
        << report.divergence->reason << "\n  recorded: "
        << (report.divergence->recorded
                ? EncodeHistoryEvent(*report.divergence->recorded, r.def())
                : "nothing");
    EXPECT_EQ(report.matched, r.history().size());
    EXPECT_EQ(report.state.status, r.state().status);
    EXPECT_EQ(report.state.last_seq, r.state().last_seq);
    EXPECT_EQ(report.pending_commands, PendingCommands(r.def(), r.state()));
    EXPECT_EQ(report.recorded_definition_version, 0);
  }
}

TEST(ReplayTest, TheRecordedTraceContextIsAnInput) {
  const SagaDefinition def = Booking();
  std::vector<Event> history =
      DecideStart(def, kInput, DecideContext{1000, 0},
                  TraceContext{"00-4bf92f3577b34da6a3ce929d0e0e4736-"
                               "00f067aa0ba902b7-01",
                               "k=v"})
          .events;
  for (size_t i = 0; i < history.size(); ++i) history[i].seq = i + 1;
  ReplayReport report = Replay(def, history);
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
  EXPECT_EQ(report.matched, history.size());
  EXPECT_EQ(report.state.traceparent, history[0].traceparent);
}

TEST(ReplayTest, WhoStartedTheSagaIsAnInput) {
  const SagaDefinition def = Booking();
  std::vector<Event> history =
      DecideStart(def, kInput, DecideContext{1000, 0}, {}, "booking-service")
          .events;
  for (size_t i = 0; i < history.size(); ++i) history[i].seq = i + 1;
  ReplayReport report = Replay(def, history);
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
  EXPECT_EQ(report.matched, history.size());
  EXPECT_EQ(report.state.started_by, "booking-service");
}

TEST(ReplayTest, ScenariosCoverTheInterestingEvents) {
  std::vector<std::string> seen;
  for (const Scenario& scenario : Scenarios()) {
    Recorder r(scenario.definition());
    scenario.run(r);
    for (const std::string& type : Types(r.history())) seen.push_back(type);
    if (scenario.name == "resume after restart") {
      EXPECT_EQ(r.history()[4].error, kRestartedWhileInFlightError);
    }
  }
  for (const char* type :
       {"StepFailed", "RetryScheduled", "CancelRequested",
        "CompensationStepFailed", "CompensationRetryScheduled", "SagaFailed",
        "OperatorAction", "SagaCompensated", "SagaCompleted", "StepAccepted"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), type), seen.end()) << type;
  }
}

// The history of a saga whose reservation failed for good:
//   0 SagaStarted, 1 StepStarted v, 2 StepSucceeded v, 3 StepStarted r,
//   4 StepFailed r, 5 CompensationStarted, 6 SagaCompensated.
std::vector<Event> ReserveFailsHistory() {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailForGood("no doctor");
  return r.history();
}

TEST(ReplayTest, ADeciderThatRetriesBusinessFailuresIsCaught) {
  DecideFn retries_everything = [](const SagaDefinition& def,
                                   const SagaState& state, const Signal& signal,
                                   const DecideContext& ctx) {
    Signal changed = signal;
    if (changed.outcome == CallOutcome::kBusinessFailure) {
      changed.outcome = CallOutcome::kRetryableFailure;
    }
    return Decide(def, state, changed, ctx);
  };
  const SagaDefinition def = Booking();
  const std::vector<Event> history = ReserveFailsHistory();
  ReplayReport report = Replay(def, history, retries_everything);
  ASSERT_FALSE(report.ok());
  const Divergence& d = *report.divergence;
  EXPECT_EQ(d.index, 4u);
  EXPECT_EQ(d.seq, 5);
  ASSERT_TRUE(d.recorded.has_value());
  ASSERT_TRUE(d.decided.has_value());
  EXPECT_EQ(d.recorded->type, EventType::kStepFailed);
  EXPECT_EQ(d.decided->seq, 5);
  EXPECT_EQ(d.reason,
            "field 'retryable' differs: recorded false, the code decides true");
  EXPECT_EQ(report.matched, 4u);
  EXPECT_EQ(report.state.last_seq, 4);
  EXPECT_EQ(report.pending_commands.size(), 1u);
  EXPECT_EQ(report.pending_commands[0].kind, Command::Kind::kInvokeStep);
  EXPECT_TRUE(Replay(def, history).ok());
}

TEST(ReplayTest, ADeciderThatSkipsACompensationIsCaught) {
  // Forgets that reserve_doctor has anything to undo.
  DecideFn skips_release = [](const SagaDefinition& def, const SagaState& state,
                              const Signal& signal, const DecideContext& ctx) {
    SagaDefinition changed = def;
    changed.steps[kReserve].kind = StepKind::kReadOnly;
    return Decide(changed, state, signal, ctx);
  };
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.Succeed(kReservation);
  r.FailForGood("bounce");
  r.Succeed();
  ASSERT_EQ(Types(r.history())[8], "CompensationStepStarted");
  ReplayReport report = Replay(r.def(), r.history(), skips_release);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 8u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides SagaCompensated where CompensationStepStarted "
            "reserve_doctor attempt 1 was recorded");
  EXPECT_EQ(report.state.status, SagaStatus::kCompensating);
}

TEST(ReplayTest, ADeciderThatDecidesNothingIsCaught) {
  DecideFn ignores_timers = [](const SagaDefinition& def,
                               const SagaState& state, const Signal& signal,
                               const DecideContext& ctx) {
    if (signal.kind == Signal::Kind::kTimerFired) return Decision{};
    return Decide(def, state, signal, ctx);
  };
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  r.FireTimer();
  r.Succeed(kReservation);
  ReplayReport report = Replay(r.def(), r.history(), ignores_timers);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 6u);
  EXPECT_FALSE(report.divergence->decided.has_value());
  EXPECT_EQ(report.divergence->reason,
            "the code decides nothing for a timer (backoff, wait, delay, "
            "scheduled start or deadline)");
}

TEST(ReplayTest, ARefusalIsCaught) {
  DecideFn refuses_cancel = [](const SagaDefinition& def,
                               const SagaState& state, const Signal& signal,
                               const DecideContext& ctx) {
    if (signal.kind == Signal::Kind::kCancel) {
      Decision d;
      d.refusal = absl::FailedPreconditionError("cancel is switched off");
      return d;
    }
    return Decide(def, state, signal, ctx);
  };
  Recorder r(Booking());
  r.Cancel("changed my mind");
  ReplayReport report = Replay(r.def(), r.history(), refuses_cancel);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 2u);
  EXPECT_EQ(report.divergence->reason,
            "the code refuses a cancel: cancel is switched off");
}

TEST(ReplayTest, ADeciderThatStopsShortIsCaught) {
  // Records the failure but forgets to schedule the retry.
  DecideFn forgets_retry = [](const SagaDefinition& def, const SagaState& state,
                              const Signal& signal, const DecideContext& ctx) {
    Decision d = Decide(def, state, signal, ctx);
    if (!d.events.empty() &&
        d.events.back().type == EventType::kRetryScheduled) {
      d.events.pop_back();
    }
    return d;
  };
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  ReplayReport report = Replay(r.def(), r.history(), forgets_retry);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 5u);
  EXPECT_EQ(report.divergence->recorded->type, EventType::kRetryScheduled);
  EXPECT_FALSE(report.divergence->decided.has_value());
  EXPECT_EQ(report.divergence->reason,
            "the code's decision ends before this RetryScheduled (no signal "
            "records one first)");
}

TEST(ReplayTest, LoweredMaxAttemptsIsCaught) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  r.FireTimer();
  r.FailRetryably();
  r.FireTimer();
  r.Succeed(kReservation);
  // 0 SagaStarted .. 4 StepFailed r/1, 5 RetryScheduled r/2, 6 StepStarted,
  // 7 StepFailed r/2, 8 RetryScheduled r/3.
  SagaDefinition changed = r.def();
  changed.version = 2;
  changed.steps[kReserve].retry.max_attempts = 2;
  ReplayReport report = Replay(changed, r.history());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 8u);
  EXPECT_EQ(report.divergence->decided->type, EventType::kCompensationStarted);
  EXPECT_EQ(report.divergence->reason,
            "the code decides CompensationStarted where RetryScheduled "
            "reserve_doctor attempt 3 was recorded");
  EXPECT_EQ(report.recorded_definition_version, 1);

  // Raising it is compatible with what was recorded.
  changed.steps[kReserve].retry.max_attempts = 9;
  report = Replay(changed, r.history());
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
  EXPECT_EQ(report.recorded_definition_version, 1);
}

TEST(ReplayTest, RetryDueTimesMatchAnywhereInTheJitterWindow) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  std::vector<Event> history = r.history();
  Event& retry = history[5];
  ASSERT_EQ(retry.type, EventType::kRetryScheduled);
  // reserve_doctor: 100ms initial backoff, jitter 0.2: [80, 100] ms.
  for (int64_t delay : {80, 91, 100}) {
    retry.due_ms = retry.at_ms + delay;
    EXPECT_TRUE(Replay(r.def(), history).ok()) << delay;
  }
  for (int64_t delay : {79, 101}) {
    retry.due_ms = retry.at_ms + delay;
    ReplayReport report = Replay(r.def(), history);
    ASSERT_FALSE(report.ok()) << delay;
    EXPECT_EQ(report.divergence->index, 5u);
    EXPECT_NE(report.divergence->reason.find("field 'due_ms' differs"),
              std::string::npos);
    EXPECT_NE(report.divergence->reason.find("window"), std::string::npos);
  }
  // A longer backoff in a new definition moves the window.
  SagaDefinition slower = r.def();
  slower.steps[kReserve].retry.initial_backoff_ms = 1000;
  retry.due_ms = retry.at_ms + 100;
  EXPECT_FALSE(Replay(slower, history).ok());
}

TEST(ReplayTest, ChangedPayloadsAreNamed) {
  std::vector<Event> history = ReserveFailsHistory();
  history[4].error = "edited";
  ReplayReport report = Replay(Booking(), history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 5u);  // the reason quotes the error
  EXPECT_EQ(report.divergence->reason,
            "field 'reason' differs: recorded \"step 'reserve_doctor' failed: "
            "no doctor\", the code decides \"step 'reserve_doctor' failed: "
            "edited\"");

  history = ReserveFailsHistory();
  history[5].at_ms += 1;
  report = Replay(Booking(), history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 5u);
  EXPECT_NE(report.divergence->reason.find("field 'at_ms' differs"),
            std::string::npos);

  history = ReserveFailsHistory();
  history[0].input_json = R"({"patient_id":"p2"})";
  EXPECT_TRUE(Replay(Booking(), history).ok()) << "the input is the input";
  history[0].saga_type = "other";
  report = Replay(Booking(), history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 0u);
  EXPECT_EQ(report.divergence->reason,
            "field 'saga_type' differs: recorded \"other\", the code decides "
            "\"appointment_booking\"");
}

TEST(ReplayTest, MalformedHistoriesAreDivergencesNotCrashes) {
  const SagaDefinition def = Booking();
  ReplayReport report = Replay(def, {});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->reason, "the history is empty");
  EXPECT_EQ(report.divergence->seq, 1);

  std::vector<Event> history = ReserveFailsHistory();
  history.erase(history.begin());
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 0u);
  EXPECT_EQ(report.divergence->reason, "a history begins with SagaStarted");

  history = ReserveFailsHistory();
  history[3].seq = 9;
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 3u);
  EXPECT_EQ(report.divergence->reason, "seq 9 is out of order: expected 4");

  history = ReserveFailsHistory();
  history[4].step = 17;
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 4u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides nothing for the business failure of the call "
            "of step '#17' attempt 1");

  history = ReserveFailsHistory();
  history[4] = history[0];
  history[4].seq = 5;
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->reason,
            "SagaStarted may only be the first event");

  history = ReserveFailsHistory();
  history[4].type = static_cast<EventType>(99);
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->reason, "cannot infer the signal for Unknown");

  history = ReserveFailsHistory();
  history[4].type = EventType::kOperatorAction;
  history[4].operator_action = "reboot";
  report = Replay(def, history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->reason,
            "cannot infer the signal for OperatorAction 'reboot'");
}

TEST(ReplayTest, AHistoryCutShortOfItsDecisionIsCaught) {
  std::vector<Event> history = ReserveFailsHistory();
  history.pop_back();
  ReplayReport report = Replay(Booking(), history);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 6u);
  EXPECT_EQ(report.divergence->seq, 7);
  EXPECT_FALSE(report.divergence->recorded.has_value());
  ASSERT_TRUE(report.divergence->decided.has_value());
  EXPECT_EQ(report.divergence->decided->type, EventType::kSagaCompensated);
  EXPECT_EQ(report.divergence->reason,
            "the code decides more events than were recorded");
}

TEST(ReplayTest, ARunningSagaReportsWhatComesNext) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  ReplayReport report = Replay(r.def(), r.history());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report.state.status, SagaStatus::kRunning);
  ASSERT_EQ(report.pending_commands.size(), 1u);
  EXPECT_EQ(report.pending_commands[0].kind, Command::Kind::kWaitUntil);
  EXPECT_EQ(report.pending_commands[0].due_ms, r.history().back().due_ms);
}

TEST(ReplayTest, ReplaysADecodedHistoryFile) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.Cancel("patient called");
  r.Succeed();
  History h;
  h.definition = r.def();
  h.definition_source = "unused";
  h.saga = {"s1", "appointment_booking", 1, "COMPENSATED", kInput};
  h.events = r.history();
  absl::StatusOr<std::string> text = EncodeHistory(h);
  ASSERT_TRUE(text.ok()) << text.status();
  Json doc = Json::parse(*text);
  std::ifstream in(testing::TestDefinitionPath("booking_v1"));
  std::stringstream yaml;
  yaml << in.rdbuf();
  doc["definition"]["source_yaml"] = yaml.str();
  absl::StatusOr<History> decoded = DecodeHistory(doc.dump(), "cancel.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ReplayReport report = Replay(decoded->definition, decoded->events);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.state.status, SagaStatus::kCompensated);
}

History AsHistory(const Recorder& r) {
  History h;
  h.definition = r.def();
  h.saga = {"s1", r.def().name, r.def().version, "", kInput};
  h.events = r.history();
  return h;
}

TEST(ReplayTest, DivergencesShowBothEventsAsTheHistoryFileDoes) {
  const std::vector<Event> history = ReserveFailsHistory();
  DecideFn retries = [](const SagaDefinition& def, const SagaState& state,
                        const Signal& signal, const DecideContext& ctx) {
    Signal s = signal;
    if (s.outcome == CallOutcome::kBusinessFailure) {
      s.outcome = CallOutcome::kRetryableFailure;
    }
    return Decide(def, state, s, ctx);
  };
  ReplayReport report = Replay(Booking(), history, retries);
  ASSERT_FALSE(report.ok());
  Json recorded = Json::parse(report.divergence->recorded_json);
  Json decided = Json::parse(report.divergence->decided_json);
  EXPECT_EQ(recorded["seq"], 5);
  EXPECT_EQ(recorded["type"], "StepFailed");
  EXPECT_EQ(recorded["step"], "reserve_doctor");
  EXPECT_EQ(recorded["data"]["retryable"], false);
  EXPECT_EQ(decided["seq"], 5);
  EXPECT_EQ(decided["data"]["retryable"], true);
  EXPECT_EQ(decided["at_ms"], recorded["at_ms"]);

  std::vector<Event> cut = history;
  cut.pop_back();
  report = Replay(Booking(), cut);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->recorded_json, "nothing");
  EXPECT_EQ(Json::parse(report.divergence->decided_json)["type"],
            "SagaCompensated");
}

TEST(ReplayTest, ReplayHistoryFollowsStepNamesIntoANewVersion) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.FailRetryably();
  r.FireTimer();
  r.Succeed(kReservation);
  r.Succeed();
  const History h = AsHistory(r);
  EXPECT_TRUE(ReplayHistory(h).ok());

  // v2 adds a read-only step before the others: recorded sagas diverge
  // right at the start, since new sagas would call it first.
  SagaDefinition v2 = Booking();
  v2.version = 2;
  StepDefinition audit = v2.steps[kValidate];
  audit.name = "audit";
  v2.steps.insert(v2.steps.begin(), audit);
  ReplayReport report = ReplayHistory(h, &v2);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 1u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides StepStarted audit attempt 1 where StepStarted "
            "validate_patient attempt 1 was recorded");
  EXPECT_EQ(report.recorded_definition_version, 1);

  // v3 renames nothing but drops notify: the history's notify events have
  // nowhere to go. What comes before them is checked first.
  SagaDefinition v3 = Booking();
  v3.version = 3;
  v3.steps[kReserve].kind = StepKind::kPivot;
  v3.steps[kReserve].compensation.clear();
  v3.steps.pop_back();
  report = ReplayHistory(h, &v3);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 8u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides SagaCompleted where StepStarted notify attempt 1 "
            "was recorded (step 'notify' is not a step of appointment_booking "
            "version 3)");
  EXPECT_EQ(Json::parse(report.divergence->recorded_json)["step"], "notify");
  EXPECT_EQ(Json::parse(report.divergence->decided_json)["type"],
            "SagaCompleted");

  // A longer timeout changes nothing recorded.
  SagaDefinition v4 = Booking();
  v4.version = 4;
  v4.steps[kNotify].timeout_ms = 60000;
  report = ReplayHistory(h, &v4);
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
  EXPECT_EQ(report.recorded_definition_version, 1);
}

TEST(ReplayTest, AStepMissingFromTheNewVersionIsADivergenceAtItsEvent) {
  Recorder r(Booking());
  r.Succeed(kPatient);
  r.Succeed(kReservation);
  r.FailForGood("bounce");
  r.Succeed();
  const History h = AsHistory(r);
  // A new version without validate_patient, and reserve first.
  SagaDefinition v2 = Booking();
  v2.version = 2;
  v2.steps.erase(v2.steps.begin());
  ReplayReport report = ReplayHistory(h, &v2);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 1u);
  EXPECT_EQ(report.divergence->seq, 2);
  EXPECT_EQ(report.divergence->reason,
            "the code decides StepStarted reserve_doctor attempt 1 where "
            "StepStarted validate_patient attempt 1 was recorded (step "
            "'validate_patient' is not a step of appointment_booking version "
            "2)");
  EXPECT_EQ(Json::parse(report.divergence->recorded_json)["step"],
            "validate_patient");
  EXPECT_EQ(Json::parse(report.divergence->decided_json)["step"],
            "reserve_doctor");
  EXPECT_EQ(report.matched, 1u);
}

}  // namespace
}  // namespace saga::core
