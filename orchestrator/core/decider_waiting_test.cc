// The decider's rules for steps that wait in the orchestrator (wait for a
// signal, delay), for the saga deadline and for scheduled starts.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/input.h"
#include "orchestrator/core/replay.h"
#include "tests/support/saga_driver.h"

namespace saga::core {
namespace {

using testing::Labels;
using Saga = testing::SagaDriver;
using Labels_ = std::vector<std::string>;

constexpr int kHold = 0;
constexpr int kApprove = 1;
constexpr int kCoolOff = 2;
constexpr int kCharge = 3;
constexpr int kReceipt = 4;
constexpr int64_t kMinute = 60 * 1000;

SagaDefinition MustParse(const std::string& yaml) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(yaml, "test.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : SagaDefinition{};
}

// hold (compensatable) -> approve (wait, 30m) -> cool_off (delay 10m) ->
// charge (pivot, reads the approval) -> receipt (wait, 5m); deadline 1h.
SagaDefinition Approval() {
  return MustParse(R"(
name: approval
version: 1
deadline: 1h
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release, timeout: 1s}
  - {name: approve, kind: wait, signal: approval, timeout: 30m}
  - {name: cool_off, kind: delay, duration: 10m}
  - {name: charge, kind: pivot, participant: p, action: charge, timeout: 1s,
     input: {approved_by: steps.approve.output.by}}
  - {name: receipt, kind: wait, timeout: 5m}
)");
}

Command WaitUntil(int64_t due) {
  Command c;
  c.kind = Command::Kind::kWaitUntil;
  c.due_ms = due;
  return c;
}

// Runs the saga up to `approve` waiting for its signal, at t=1000+.
Saga WaitingForApproval() {
  Saga saga(Approval());
  saga.Start("{}");
  saga.Succeed();
  EXPECT_EQ(saga.state().steps[kApprove].status, StepStatus::kWaiting);
  return saga;
}

TEST(DeciderWaitingTest, AWaitStepWaitsForItsSignalAndItsPayloadIsTheOutput) {
  Saga saga(Approval());
  saga.Start("{}");
  Decision d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 0/1", "StepStarted 1/1"}));
  EXPECT_EQ(d.events[1].due_ms, 1000 + 30 * kMinute);  // its timeout
  // Nothing to call: only the earliest timer, the wait's timeout (the
  // deadline comes later).
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1000 + 30 * kMinute)});

  d = saga.SignalSaga("approval", "k1", R"({"by": "dr who"})");
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(Labels(d.events), (Labels_{"SignalReceived", "StepSucceeded 1/1",
                                       "StepStarted 2/1"}));
  EXPECT_EQ(d.events[1].signal_key, "k1");
  EXPECT_EQ(saga.state().steps[kApprove].output_json, R"({"by":"dr who"})");
  ASSERT_EQ(saga.state().signals.size(), 1u);
  EXPECT_EQ(saga.state().signals[0].consumed_by, kApprove);

  // The delay, then the pivot gets the approval through its input mapping.
  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 2/1", "StepStarted 3/1"}));
  EXPECT_EQ(saga.state().steps[kCoolOff].output_json,
            R"({"due_unix_ms":)" + std::to_string(1000 + 10 * kMinute) + "}");
  absl::StatusOr<std::string> input =
      BuildStepInput(saga.def(), saga.state(), kCharge);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(*input, R"({"approved_by":"dr who"})");
}

TEST(DeciderWaitingTest, ASignalSentEarlyIsKeptAndConsumedWhenTheStepStarts) {
  Saga saga(Approval());
  saga.Start("{}");
  Decision d = saga.SignalSaga("approval", "early", R"({"by":"ann"})");
  EXPECT_EQ(Labels(d.events), Labels_{"SignalReceived"});
  // The call in flight is under way: it is not sent twice.
  EXPECT_EQ(d.commands, (std::vector<Command>{WaitUntil(1000 + 60 * kMinute)}));
  EXPECT_EQ(saga.state().signals[0].consumed_by, -1);

  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 0/1", "StepStarted 1/1",
                     "StepSucceeded 1/1", "StepStarted 2/1"}));
  EXPECT_EQ(saga.state().steps[kApprove].output_json, R"({"by":"ann"})");
  EXPECT_EQ(saga.state().signals[0].consumed_by, kApprove);
}

TEST(DeciderWaitingTest,
     ARepeatedKeyIsAnsweredWithTheFirstDeliveryEvenAfterTheEnd) {
  Saga saga = WaitingForApproval();
  ASSERT_TRUE(saga.SignalSaga("approval", "k1", R"({"by":"a"})").refusal.ok());
  const size_t recorded = saga.history().size();

  Decision again = saga.SignalSaga("approval", "k1", R"({ "by" : "a" })");
  EXPECT_TRUE(again.refusal.ok());
  EXPECT_TRUE(again.events.empty());

  Decision other = saga.SignalSaga("approval", "k1", R"({"by":"b"})");
  EXPECT_EQ(other.refusal.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(saga.history().size(), recorded);

  // Run to the end; the first delivery is still answered, a new one is not.
  saga.FireTimer();
  saga.Succeed();
  saga.SignalSaga("receipt", "r1");
  ASSERT_EQ(saga.state().status, SagaStatus::kCompleted);
  EXPECT_TRUE(saga.SignalSaga("approval", "k1", R"({"by":"a"})").refusal.ok());
  EXPECT_EQ(saga.SignalSaga("approval", "k2").refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderWaitingTest, ASignalNoStepWaitsForIsRefused) {
  Saga saga = WaitingForApproval();
  Decision d = saga.SignalSaga("aproval", "k1");
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.refusal.message(),
            "saga type 'approval' v1 has no wait step for signal 'aproval'");
}

TEST(DeciderWaitingTest, PendingSignalsAreBounded) {
  Saga saga = WaitingForApproval();
  for (size_t i = 0; i < kMaxPendingSignals; ++i) {
    ASSERT_TRUE(
        saga.SignalSaga("receipt", "r" + std::to_string(i)).refusal.ok());
  }
  EXPECT_EQ(saga.SignalSaga("receipt", "one-more").refusal.code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(DeciderWaitingTest, AWaitThatTimesOutRollsTheSagaBack) {
  Saga saga = WaitingForApproval();
  Decision d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/1", "CompensationStarted",
                                       "CompensationStepStarted 0/1"}));
  EXPECT_EQ(d.events[0].error, "no signal 'approval' within 30m");
  EXPECT_FALSE(d.events[0].retryable);
  EXPECT_EQ(saga.state().rollback_reason,
            "step 'approve' failed: no signal 'approval' within 30m");
  // A signal for a saga rolling back would never be used.
  EXPECT_EQ(saga.SignalSaga("approval", "late").refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderWaitingTest, CancelStopsTheWaitAndCompensates) {
  Saga saga = WaitingForApproval();
  Decision d = saga.Cancel("patient called");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 1/1", "CompensationStarted",
                     "CompensationStepStarted 0/1"}));
  EXPECT_FALSE(d.events[1].outcome_unknown);  // nothing was called
  EXPECT_EQ(saga.state().steps[kApprove].status, StepStatus::kFailed);
  EXPECT_EQ(CurrentActivity(saga.state()).wait_due_ms, 0);
}

TEST(DeciderWaitingTest, ARestartKeepsWaitingUntilTheRecordedDueTime) {
  Saga saga = WaitingForApproval();
  const int64_t due = CurrentActivity(saga.state()).wait_due_ms;
  saga.now += 5 * kMinute;
  Decision d = saga.Resume();
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(due)});
  // A timer that fires early changes nothing and is armed again.
  d = saga.Send(Saga::Timer());
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(due)});
}

TEST(DeciderWaitingTest, ADelayWaitsUntilATimeFromTheInput) {
  SagaDefinition def = MustParse(R"(
name: later
version: 1
steps:
  - {name: until_slot, kind: delay, until: input.slot_at}
  - {name: go, kind: read_only, participant: p, action: go}
)");
  {
    Saga saga(def);
    saga.now = 1000;
    Decision d = saga.Start(R"({"slot_at":"1970-01-01T00:00:05Z"})");
    EXPECT_EQ(d.events[1].due_ms, 5000);
    EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(5000)});
    d = saga.FireTimer();
    EXPECT_EQ(Labels(d.events),
              (Labels_{"StepSucceeded 0/1", "StepStarted 1/1"}));
  }
  {
    // Unix milliseconds in the past: due at once.
    Saga saga(def);
    Decision d = saga.Start(R"({"slot_at":500})");
    EXPECT_EQ(Labels(d.events),
              (Labels_{"SagaStarted", "StepStarted 0/1", "StepSucceeded 0/1",
                       "StepStarted 1/1"}));
  }
  {
    // Not a time: a definite failure, asking again would read the same.
    Saga saga(def);
    Decision d = saga.Start(R"({"slot_at":"tomorrow"})");
    EXPECT_EQ(Labels(d.events),
              (Labels_{"SagaStarted", "StepStarted 0/1", "StepFailed 0/1",
                       "CompensationStarted", "SagaCompensated"}));
    EXPECT_EQ(d.events[2].error,
              "step 'until_slot': field 'until': source 'input.slot_at': "
              "\"tomorrow\" is not a time (an RFC 3339 string such as "
              "\"2026-12-06T10:00:00Z\", or Unix milliseconds)");
  }
}

TEST(DeciderWaitingTest,
     TheDeadlineBeforeThePivotRollsBackWithTheCallInFlight) {
  Saga saga(Approval());
  saga.Start("{}");
  saga.now = 1000 + 60 * kMinute;
  Decision d = saga.Send(Saga::Timer());
  EXPECT_EQ(Labels(d.events),
            (Labels_{"DeadlinePassed", "StepFailed 0/1", "CompensationStarted",
                     "CompensationStepStarted 0/1"}));
  // The hold may have been applied: it is compensated (with a tombstone).
  EXPECT_TRUE(d.events[1].outcome_unknown);
  EXPECT_EQ(saga.state().rollback_reason, "deadline passed");
  EXPECT_TRUE(saga.state().deadline_passed);
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason, "deadline passed");
}

TEST(DeciderWaitingTest, TheDeadlineAfterThePivotIsRecordedAndUndoesNothing) {
  Saga saga = WaitingForApproval();
  saga.SignalSaga("approval", "k1", R"({"by":"a"})");
  saga.FireTimer();  // cool_off
  saga.Succeed();    // charge: past the point of no return
  ASSERT_EQ(saga.state().steps[kReceipt].status, StepStatus::kWaiting);
  saga.now = 1000 + 60 * kMinute;
  Decision d = saga.Send(Saga::Timer());
  EXPECT_EQ(Labels(d.events), Labels_{"DeadlinePassed"});
  EXPECT_EQ(d.events[0].error,
            "nothing is undone: the pivot step 'charge' has succeeded, so the "
            "saga is past the point of no return");
  EXPECT_EQ(saga.state().status, SagaStatus::kRunning);
  // Only the receipt's own timeout is left to wait for.
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(
                            CurrentActivity(saga.state()).wait_due_ms)});
  // Its timeout after the pivot fails the saga for an operator.
  d = saga.FireTimer();
  EXPECT_EQ(saga.state().status, SagaStatus::kFailed);
  // The operator's retry waits again, from now.
  d = saga.Operate(Signal::Kind::kOperatorRetry);
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(saga.state().steps[kReceipt].status, StepStatus::kWaiting);
  EXPECT_EQ(CurrentActivity(saga.state()).wait_due_ms, saga.now + 5 * kMinute);
  saga.SignalSaga("receipt", "r1");
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
}

TEST(DeciderWaitingTest,
     AScheduledStartWaitsThenRunsAndItsDeadlineCountsFromIt) {
  Saga saga(Approval());
  const int64_t start_at = 1000 + 24 * 60 * kMinute;
  Decision d = saga.Start("{}", start_at);
  EXPECT_EQ(Labels(d.events), Labels_{"SagaStarted"});
  EXPECT_EQ(d.events[0].due_ms, start_at);
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(start_at)});
  EXPECT_EQ(saga.state().deadline_ms, start_at + 60 * kMinute);

  // A restart keeps the schedule.
  EXPECT_TRUE(saga.Resume().events.empty());
  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), Labels_{"StepStarted 0/1"});
  EXPECT_EQ(saga.state().start_due_ms, 0);
}

TEST(DeciderWaitingTest, CancellingAScheduledSagaEndsItWithNothingToUndo) {
  Saga saga(Approval());
  saga.Start("{}", 10 * 60 * kMinute);
  Decision d = saga.Cancel("not needed");
  EXPECT_EQ(Labels(d.events), (Labels_{"CancelRequested", "CompensationStarted",
                                       "SagaCompensated"}));
  EXPECT_EQ(saga.state().start_due_ms, 0);
}

// What `sagactl definition check` relies on: a saga waiting for a signal
// replays against its own definition, and a new version without the wait
// would strand it.
TEST(DeciderWaitingTest, ReplayFollowsSignalsAndTimersAndCatchesAStrandedWait) {
  Saga saga(Approval());
  saga.Start("{}");
  saga.SignalSaga("approval", "early", R"({"by":"a"})");
  saga.Succeed();    // hold; the kept signal is consumed at once
  saga.FireTimer();  // cool_off
  History history;
  history.saga.saga_id = "s1";
  history.saga.saga_type = "approval";
  history.saga.status = "RUNNING";
  history.definition = saga.def();
  history.events = saga.history();
  ReplayReport same = ReplayHistory(history);
  EXPECT_TRUE(same.ok()) << same.divergence->reason;
  EXPECT_EQ(same.matched, history.events.size());

  SagaDefinition without_wait = MustParse(R"(
name: approval
version: 2
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release, timeout: 1s}
  - {name: cool_off, kind: delay, duration: 10m}
  - {name: charge, kind: pivot, participant: p, action: charge, timeout: 1s}
)");
  ReplayReport stranded = ReplayHistory(history, &without_wait);
  EXPECT_FALSE(stranded.ok());
}

}  // namespace
}  // namespace saga::core
