// The decider on parallel groups: branches start at once and join; a
// branch that fails for good stops the others and compensation undoes what
// completed in the reverse order of completion; timers, restarts, cancels
// and signals handle every branch under way.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "tests/support/saga_driver.h"

namespace saga::core {
namespace {

using Saga = testing::SagaDriver;
using testing::Labels;
using Labels_ = std::vector<std::string>;

// a, then three branches (b | c then d | hold, which waits for a signal),
// then the pivot e, then two retriable branches m1 | m2.
constexpr int kA = 0, kB = 1, kC = 2, kD = 3, kHold = 4, kE = 5, kM1 = 6,
              kM2 = 7;

SagaDefinition Parallel() {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(R"(
name: par
version: 1
steps:
  - {name: a, kind: compensatable, participant: p, action: a, compensation: undo_a, timeout: 1s}
  - parallel:
      - {name: b, kind: compensatable, participant: p, action: b, compensation: undo_b, timeout: 1s,
         retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s, multiplier: 2, jitter: 0}}
      - steps:
          - {name: c, kind: compensatable, participant: q, action: c, compensation: undo_c, timeout: 1s}
          - {name: d, kind: compensatable, participant: q, action: d, compensation: undo_d, timeout: 1s,
             input: {x: steps.c.output.x}}
      - {name: hold, kind: wait, signal: go}
  - {name: e, kind: pivot, participant: p, action: e, timeout: 1s, input: {x: steps.d.output.x}}
  - parallel:
      - {name: m1, kind: retriable, participant: p, action: m1, timeout: 1s}
      - {name: m2, kind: retriable, participant: p, action: m2, timeout: 1s}
)",
                                                       "par.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : SagaDefinition{};
}

// Started, a succeeded: b, c and hold are under way.
Saga InTheGroup() {
  Saga saga(Parallel());
  saga.Start("{}");
  saga.Succeed();
  return saga;
}

TEST(DeciderParallelTest, TheLoaderKeepsBranchesInOrderAndKnowsWhatRunsBefore) {
  const SagaDefinition def = Parallel();
  ASSERT_EQ(def.steps.size(), 8u);
  EXPECT_EQ(def.steps[kA].group, -1);
  EXPECT_EQ(def.steps[kB].group, 0);
  EXPECT_EQ(def.steps[kD].branch, 1);
  EXPECT_EQ(def.steps[kHold].branch, 2);
  EXPECT_EQ(def.steps[kM2].group, 1);
  EXPECT_TRUE(RunsBefore(def, kA, kB));
  EXPECT_TRUE(RunsBefore(def, kC, kD));
  EXPECT_FALSE(RunsBefore(def, kB, kC));
  EXPECT_FALSE(RunsBefore(def, kB, kD));
  EXPECT_FALSE(RunsBefore(def, kD, kC));
  EXPECT_TRUE(RunsBefore(def, kHold, kE));
  EXPECT_FALSE(RunsBefore(def, kM1, kM2));
}

TEST(DeciderParallelTest, BranchesStartAtOnceAndTheGroupJoins) {
  Saga saga(Parallel());
  saga.Start("{}");
  Decision d = saga.Succeed();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 0/1", "StepStarted 1/1",
                                       "StepStarted 2/1", "StepStarted 4/1"}));
  ASSERT_EQ(d.commands.size(), 2u);  // b and c call; hold waits
  EXPECT_EQ(d.commands[0].step, kB);
  EXPECT_EQ(d.commands[1].step, kC);

  // c's success starts d only; b's call, still in flight, is not sent again.
  d = saga.AnswerStep(kC, CallOutcome::kSucceeded, R"({"x":1})");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 2/1", "StepStarted 3/1"}));
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].step, kD);
  EXPECT_EQ(saga.state().active.size(), 3u);

  d = saga.AnswerStep(kB, CallOutcome::kSucceeded);
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 1/1"}));
  EXPECT_TRUE(d.commands.empty());
  d = saga.AnswerStep(kD, CallOutcome::kSucceeded, R"({"x":2})");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 3/1"}));
  // The last branch joins the group: the pivot starts.
  d = saga.SignalSaga("go", "k1");
  EXPECT_EQ(Labels(d.events), (Labels_{"SignalReceived", "StepSucceeded 4/1",
                                       "StepStarted 5/1"}));
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 5/1", "StepStarted 6/1",
                                       "StepStarted 7/1"}));
  saga.AnswerStep(kM2, CallOutcome::kSucceeded);
  d = saga.AnswerStep(kM1, CallOutcome::kSucceeded);
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 6/1", "SagaCompleted"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
  EXPECT_TRUE(saga.state().active.empty());
}

TEST(DeciderParallelTest,
     AFailedBranchStopsTheOthersAndCompensationUndoesInReverseCompletionOrder) {
  Saga saga = InTheGroup();
  saga.AnswerStep(kC, CallOutcome::kSucceeded, R"({"x":1})");  // d starts
  saga.AnswerStep(kD, CallOutcome::kSucceeded, R"({"x":1})");
  // b gives up while hold waits: hold stops (nothing to undo); d and c
  // completed, in that order of completion after a.
  Decision d = saga.AnswerStep(kB, CallOutcome::kBusinessFailure, "", "no");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "StepFailed 4/1", "CompensationStarted",
                     "CompensationStepStarted 3/1"}));
  EXPECT_EQ(d.events[1].error, "stopped: step 'b' failed");
  EXPECT_EQ(saga.Succeed().events[1].step, kC);
  EXPECT_EQ(saga.Succeed().events[1].step, kA);
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepSucceeded 0/1", "SagaCompensated"}));
  EXPECT_EQ(saga.state().reason, "step 'b' failed: no");
}

TEST(DeciderParallelTest, ABranchCompletedLaterIsUndoneFirst) {
  // c then b complete; d's call is in flight when the saga is cancelled:
  // its outcome is unknown, and it ended last.
  Saga saga = InTheGroup();
  saga.AnswerStep(kC, CallOutcome::kSucceeded, R"({"x":1})");
  saga.AnswerStep(kB, CallOutcome::kSucceeded);
  Decision d = saga.Cancel("changed my mind");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 4/1", "StepFailed 3/1",
                     "CompensationStarted", "CompensationStepStarted 3/1"}));
  EXPECT_FALSE(d.events[1].outcome_unknown);  // a wait calls no one
  EXPECT_TRUE(d.events[2].outcome_unknown);
  // Then b (completed after c), then c, then a.
  EXPECT_EQ(saga.Succeed().events[1].step, kB);
  EXPECT_EQ(saga.Succeed().events[1].step, kC);
  EXPECT_EQ(saga.Succeed().events[1].step, kA);
  EXPECT_EQ(saga.Succeed().events[1].type, EventType::kSagaCompensated);
  // d's late answer finds nothing in flight and changes nothing.
  EXPECT_TRUE(saga.AnswerStep(kD, CallOutcome::kSucceeded).events.empty());
}

TEST(DeciderParallelTest, EachBranchBacksOffOnItsOwn) {
  Saga saga = InTheGroup();
  saga.now += 10;
  Decision d = saga.AnswerStep(kB, CallOutcome::kRetryableFailure, "", "busy");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2"}));
  // c's call stays under way; one timer for b's backoff.
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].kind, Command::Kind::kWaitUntil);
  EXPECT_EQ(d.commands[0].due_ms, saga.now + 100);
  saga.now += 100;
  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepStarted 1/2"}));
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].step, kB);
  EXPECT_EQ(d.commands[0].attempt, 2);
}

TEST(DeciderParallelTest, ARestartSettlesEveryCallThatWasInFlight) {
  Saga saga = InTheGroup();
  Decision d = saga.Resume();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2", "StepFailed 2/1",
                     "RetryScheduled 2/2"}));
  EXPECT_EQ(d.events[0].error, kRestartedWhileInFlightError);
  // hold keeps waiting: nothing of it was lost.
  EXPECT_EQ(saga.state().steps[kHold].status, StepStatus::kWaiting);
}

TEST(DeciderParallelTest, AfterThePivotAFailedBranchLeavesTheSagaFailed) {
  Saga saga = InTheGroup();
  saga.AnswerStep(kC, CallOutcome::kSucceeded, R"({"x":1})");
  saga.AnswerStep(kD, CallOutcome::kSucceeded, R"({"x":1})");
  saga.AnswerStep(kB, CallOutcome::kSucceeded);
  saga.SignalSaga("go", "k1");
  saga.Succeed();  // the pivot
  Decision d = saga.AnswerStep(kM1, CallOutcome::kBusinessFailure, "", "bad");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 6/1", "StepFailed 7/1", "SagaFailed"}));
  EXPECT_TRUE(d.events[1].outcome_unknown);
  // A cancel is refused past the pivot; an operator retry runs both again.
  d = saga.Operate(Signal::Kind::kOperatorRetry);
  EXPECT_EQ(Labels(d.events), (Labels_{"OperatorAction 7/0", "StepStarted 6/2",
                                       "StepStarted 7/1"}));
  saga.AnswerStep(kM1, CallOutcome::kSucceeded);
  d = saga.AnswerStep(kM2, CallOutcome::kSucceeded);
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
}

TEST(DeciderParallelTest, TheDeadlineStopsEveryBranch) {
  SagaDefinition def = Parallel();
  def.deadline_ms = 60000;
  Saga saga(def);
  saga.Start("{}");
  saga.Succeed();
  saga.now += 60000;
  Decision d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"DeadlinePassed", "StepFailed 1/1", "StepFailed 2/1",
                     "StepFailed 4/1", "CompensationStarted",
                     "CompensationStepStarted 2/1"}));
}

TEST(DeciderParallelTest, PendingCommandsCallEveryBranchAndArmOneTimer) {
  Saga saga = InTheGroup();
  saga.AnswerStep(kB, CallOutcome::kRetryableFailure, "", "busy");
  const std::vector<Command> pending =
      PendingCommands(saga.def(), saga.state());
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].kind, Command::Kind::kInvokeStep);
  EXPECT_EQ(pending[0].step, kC);
  EXPECT_EQ(pending[1].kind, Command::Kind::kWaitUntil);
}

std::string LoadError(const std::string& steps) {
  absl::StatusOr<SagaDefinition> def =
      ParseDefinition("name: bad\nversion: 1\nsteps:\n" + steps, "bad.yaml");
  return def.ok() ? "" : std::string(def.status().message());
}

// Two asynchronous branches start in one decision: each attempt gets its
// own completion token, and one branch's token completes only that branch.
TEST(DeciderParallelTest,
     AsynchronousBranchesStartedTogetherGetTheirOwnTokens) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(R"(
name: two_charges
version: 1
steps:
  - parallel:
      - {name: deposit, kind: compensatable, participant: pay, action: charge, compensation: refund,
         completion: async, timeout: 1h, call_timeout: 2s}
      - {name: fee, kind: compensatable, participant: pay, action: charge, compensation: refund,
         completion: async, timeout: 1h, call_timeout: 2s}
  - {name: notify, kind: pivot, participant: p, action: notify, timeout: 1s}
)",
                                                       "two_charges.yaml");
  ASSERT_TRUE(def.ok()) << def.status();
  Saga saga(*def);
  Decision d = saga.Start("{}");
  ASSERT_EQ(Labels(d.events),
            (Labels_{"SagaStarted", "StepStarted 0/1", "StepStarted 1/1"}));
  const std::string deposit_token = d.events[1].completion_token;
  const std::string fee_token = d.events[2].completion_token;
  EXPECT_EQ(deposit_token, "token-1");
  EXPECT_EQ(fee_token, "token-1.2");
  saga.AnswerStep(0, CallOutcome::kAccepted);
  saga.AnswerStep(1, CallOutcome::kAccepted);

  Signal wrong;
  wrong.kind = Signal::Kind::kStepCompletion;
  wrong.step = 1;
  wrong.completion_token = deposit_token;
  wrong.outcome = CallOutcome::kSucceeded;
  wrong.output_json = "{}";
  EXPECT_EQ(Decide(*def, saga.state(), wrong, DecideContext{saga.now, 0})
                .refusal.code(),
            absl::StatusCode::kFailedPrecondition);

  Signal right = wrong;
  right.completion_token = fee_token;
  EXPECT_EQ(Labels(saga.Send(right).events), (Labels_{"StepSucceeded 1/1"}));
}

TEST(DeciderParallelTest, TheLoaderRefusesGroupsThatCannotBeRunSafely) {
  const std::string a =
      "  - {name: a, kind: compensatable, participant: p, action: a, "
      "compensation: u}\n";
  EXPECT_EQ(LoadError("  - parallel:\n"
                      "      - {name: a, kind: pivot, participant: p, action: "
                      "a}\n"
                      "      - {name: b, kind: read_only, participant: p, "
                      "action: b}\n"),
            "bad.yaml: step 'a': field 'kind': a pivot cannot run in a "
            "parallel group: the other branches could still fail once it "
            "succeeded, and nothing after the point of no return may be "
            "undone");
  EXPECT_EQ(LoadError("  - parallel:\n    " + a),
            "bad.yaml: parallel group #1: field 'parallel': must be a list "
            "of at least two branches (each a step, or 'steps:' with a list "
            "of steps)");
  EXPECT_EQ(LoadError("  - parallel:\n    " + a +
                      "      - {name: b, kind: read_only, participant: p, "
                      "action: b, input: {x: steps.a.output.x}}\n"),
            "bad.yaml: step 'b': field 'input.x': source 'steps.a.output.x' "
            "names step 'a', which runs in another branch of the same "
            "parallel group: its output may not exist yet when 'b' starts");
  EXPECT_EQ(LoadError("  - parallel:\n    " + a + "      - steps: []\n"),
            "bad.yaml: parallel group #1, branch #2: field 'steps': must be a "
            "non-empty list of steps");
  EXPECT_EQ(LoadError("  - parallel:\n    " + a + "      - parallel: []\n"),
            "bad.yaml: parallel group #1, branch #2: field 'parallel': "
            "groups cannot be nested");
  EXPECT_EQ(LoadError("  - parallel: [" + a.substr(4, a.size() - 5) +
                      "]\n    name: x\n"),
            "bad.yaml: parallel group #1: field 'name': unknown field "
            "(known: parallel)");
}

}  // namespace
}  // namespace saga::core
