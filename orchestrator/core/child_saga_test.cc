// Child sagas (child_saga.h): the load-time rules between definitions, the
// parent's decisions while its saga step runs and rolls back, and the
// child's rollback when its parent undoes it.
#include "orchestrator/core/child_saga.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/child_saga_check.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/replay.h"
#include "tests/support/saga_driver.h"

namespace saga::core {
namespace {

using testing::Labels;
using Saga = testing::SagaDriver;
using Labels_ = std::vector<std::string>;

constexpr int kHold = 0;
constexpr int kPay = 1;
constexpr int kConfirm = 2;

SagaDefinition MustParse(const std::string& yaml) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(yaml, "test.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : SagaDefinition{};
}

// hold (compensatable) -> pay (child saga `payment`, 1h) -> confirm (pivot).
SagaDefinition Booking() {
  return MustParse(R"(
name: booking
version: 1
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release}
  - {name: pay, kind: saga, saga_type: payment, timeout: 1h,
     input: {amount: input.amount}}
  - {name: confirm, kind: pivot, participant: p, action: confirm,
     input: {payment_id: steps.pay.output.charge.payment_id}}
)");
}

// charge (compensatable) -> receipt (compensatable).
SagaDefinition Payment() {
  return MustParse(R"(
name: payment
version: 1
input: {required: {amount: number}}
steps:
  - {name: charge, kind: compensatable, participant: bank, action: charge, compensation: refund}
  - {name: receipt, kind: compensatable, participant: mail, action: send, compensation: retract}
)");
}

Command Await(int step, int attempt) {
  return Command{Command::Kind::kAwaitChild, step, attempt, 0, 0};
}

// The booking with `pay` accepted: its child started, the step waiting.
Saga PayingBooking() {
  Saga saga(Booking());
  saga.Start(R"({"amount": 12})");
  saga.Succeed();
  Decision d = saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  EXPECT_EQ(Labels(d.events), (Labels_{"StepAccepted 1/1"}));
  return saga;
}

TEST(ChildSagaTest, ChildIdIsAFunctionOfParentAndStep) {
  const std::string parent = "0f8fad5b-d9cb-469f-a165-70867728950e";
  const std::string id = ChildSagaId(parent, 1);
  EXPECT_EQ(id, ChildSagaId(parent, 1));
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '8');  // version 8: derived
  EXPECT_NE(id, ChildSagaId(parent, 2));
  EXPECT_NE(id, ChildSagaId("0f8fad5b-d9cb-469f-a165-70867728950f", 1));
  EXPECT_NE(id, parent);
  // A grandchild is another child again.
  EXPECT_NE(ChildSagaId(id, 1), id);
}

TEST(ChildSagaTest, LoaderReadsASagaStep) {
  const SagaDefinition def = Booking();
  const StepDefinition& pay = def.steps[kPay];
  EXPECT_EQ(pay.kind, StepKind::kSaga);
  EXPECT_EQ(pay.saga_type, "payment");
  EXPECT_EQ(pay.timeout_ms, 3600 * 1000);
  EXPECT_TRUE(pay.async_completion);
  ASSERT_EQ(pay.input.size(), 1u);
  EXPECT_EQ(pay.input[0].source, "input.amount");
}

TEST(ChildSagaTest, LoaderRefusesFieldsThatDoNotFitASagaStep) {
  struct Case {
    std::string step;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"{name: pay, kind: saga}", "step 'pay': field 'saga_type'"},
      {"{name: pay, kind: saga, saga_type: Pay}", "must match"},
      {"{name: pay, kind: saga, saga_type: payment, participant: p}",
       "field 'participant': a saga step starts a child saga"},
      {"{name: pay, kind: saga, saga_type: payment, compensation: undo}",
       "rolling it back rolls its child saga back"},
      {"{name: pay, kind: saga, saga_type: payment, completion: async}",
       "field 'completion'"},
      {"{name: pay, kind: compensatable, participant: p, action: a, "
       "compensation: c, saga_type: payment}",
       "field 'saga_type': unknown field"},
      {"{name: pay, kind: wait, saga_type: payment}",
       "field 'saga_type': unknown field"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SagaDefinition> def = ParseDefinition(
        "name: x\nversion: 1\nsteps:\n  - " + c.step + "\n", "x.yaml");
    ASSERT_FALSE(def.ok()) << c.step;
    EXPECT_NE(def.status().message().find(c.error), std::string::npos)
        << def.status();
    EXPECT_EQ(def.status().message().rfind("x.yaml: ", 0), 0u) << def.status();
  }
}

absl::Status Check(const std::vector<SagaDefinition>& defs) {
  std::vector<SourcedDefinition> sourced;
  for (const SagaDefinition& def : defs) {
    sourced.push_back({def.name + ".yaml", &def});
  }
  return CheckChildSagas(sourced);
}

TEST(ChildSagaTest, CheckAcceptsTheBookingAndItsPayment) {
  EXPECT_TRUE(Check({Booking(), Payment()}).ok())
      << Check({Booking(), Payment()});
}

TEST(ChildSagaTest, CheckRefusesAnUnknownChildType) {
  absl::Status s = Check({Booking()});
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "booking.yaml: step 'pay': field 'saga_type': unknown saga type "
            "'payment' (known: booking)");
}

TEST(ChildSagaTest, CheckRefusesACycle) {
  const SagaDefinition a = MustParse(R"(
name: a
version: 1
steps:
  - {name: to_b, kind: saga, saga_type: b}
)");
  const SagaDefinition b = MustParse(R"(
name: b
version: 1
steps:
  - {name: to_a, kind: saga, saga_type: a}
)");
  absl::Status s = Check({a, b});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "b.yaml: step 'to_a': field 'saga_type': 'a' starts 'b' starts "
            "'a': a saga type must not start itself through its child sagas "
            "(each would start another without end)");
  const SagaDefinition self = MustParse(R"(
name: self
version: 1
steps:
  - {name: again, kind: saga, saga_type: self}
)");
  EXPECT_FALSE(Check({self}).ok());
}

TEST(ChildSagaTest, CheckRefusesAChildBeforeThePivotThatCannotBeUndone) {
  const SagaDefinition payment = MustParse(R"(
name: payment
version: 1
input: {required: {amount: number}}
steps:
  - {name: charge, kind: pivot, participant: bank, action: charge}
)");
  absl::Status s = Check({Booking(), payment});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("booking.yaml: step 'pay': field 'kind': a saga "
                             "step before the pivot"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("has the pivot 'charge'"), std::string::npos);
  // After the pivot, the same child is fine: it is never undone there.
  const SagaDefinition after = MustParse(R"(
name: booking
version: 1
steps:
  - {name: confirm, kind: pivot, participant: p, action: confirm}
  - {name: pay, kind: saga, saga_type: payment, input: {amount: input.amount}}
)");
  EXPECT_TRUE(Check({after, payment}).ok());
}

TEST(ChildSagaTest, CheckRefusesAMissingRequiredInputOfTheChild) {
  const SagaDefinition booking = MustParse(R"(
name: booking
version: 1
steps:
  - {name: pay, kind: saga, saga_type: payment}
)");
  absl::Status s = Check({booking, Payment()});
  EXPECT_EQ(s.message(),
            "booking.yaml: step 'pay': field 'input': saga type 'payment' "
            "requires input field 'amount', which the step does not map");
}

TEST(ChildSagaTest, TheStepsCallStartsTheChildAndItsAcceptanceNamesIt) {
  Saga saga(Booking());
  saga.Start(R"({"amount": 12})");
  Decision d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 0/1", "StepStarted 1/1"}));
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].kind, Command::Kind::kInvokeStep);
  d = saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].child_saga_id, ChildSagaId("s1", kPay));
  EXPECT_EQ(saga.state().steps[kPay].child_saga_id, ChildSagaId("s1", kPay));
  // Watch the child, and time out the wait after the step's timeout.
  ASSERT_EQ(d.commands.size(), 2u);
  EXPECT_EQ(d.commands[0], Await(kPay, 1));
  EXPECT_EQ(d.commands[1].kind, Command::Kind::kWaitUntil);
  EXPECT_EQ(d.commands[1].due_ms,
            saga.state().steps[kPay].started_ms + 3600 * 1000);
}

TEST(ChildSagaTest, AResumeWatchesTheChildAgain) {
  Saga saga = PayingBooking();
  Decision d = saga.Resume();
  EXPECT_TRUE(d.events.empty());
  ASSERT_FALSE(d.commands.empty());
  EXPECT_EQ(d.commands[0], Await(kPay, 1));
}

TEST(ChildSagaTest, WithoutATimeoutTheStepWaitsForItsChildUnbounded) {
  SagaDefinition def = Booking();
  def.steps[kPay].timeout_ms = 0;
  Saga saga(def);
  saga.Start(R"({"amount": 12})");
  saga.Succeed();
  Decision d = saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  EXPECT_EQ(d.commands, std::vector<Command>{Await(kPay, 1)});
  saga.now += 400LL * 24 * 3600 * 1000;
  d = saga.FireTimer();
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(CurrentActivity(saga.state()).awaiting_completion);
}

TEST(ChildSagaTest, TheCompletedChildsOutputIsTheStepsOutput) {
  Saga saga = PayingBooking();
  Saga child(Payment());
  child.Start(R"({"amount": 12})");
  child.Succeed(R"({"payment_id": "pay-7"})");
  child.Succeed(R"({"sent": true})");
  ASSERT_EQ(child.state().status, SagaStatus::kCompleted);
  std::optional<ChildResult> result =
      ResultOfChild(child.def(), child.state(), false);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, CallOutcome::kSucceeded);
  Decision d = saga.Complete(result->outcome, result->output_json);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 1/1", "StepStarted 2/1"}));
  EXPECT_EQ(saga.state().steps[kPay].output_json,
            R"({"charge":{"payment_id":"pay-7"},"receipt":{"sent":true}})");
  // The next step maps a field of the child's output.
  EXPECT_EQ(d.commands[0].kind, Command::Kind::kInvokeStep);
}

TEST(ChildSagaTest, ACompensatedChildIsABusinessFailureThatRollsBack) {
  Saga saga = PayingBooking();
  Saga child(Payment());
  child.Start(R"({"amount": 12})");
  child.FailForGood("card declined");
  ASSERT_EQ(child.state().status, SagaStatus::kCompensated);
  std::optional<ChildResult> result =
      ResultOfChild(child.def(), child.state(), false);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, CallOutcome::kBusinessFailure);
  EXPECT_NE(result->error.find("ended COMPENSATED: step 'charge' failed: card "
                               "declined"),
            std::string::npos)
      << result->error;
  Decision d = saga.Complete(result->outcome, "", result->error);
  // The failed child undid itself: only `hold` is compensated.
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/1", "CompensationStarted",
                                       "CompensationStepStarted 0/1"}));
}

TEST(ChildSagaTest, RollingBackAfterTheChildCompletedUndoesTheChild) {
  SagaDefinition def = Booking();
  def.steps[kConfirm].kind = StepKind::kCompensatable;  // fails for good
  def.steps[kConfirm].compensation = "unconfirm";
  Saga saga(def);
  saga.Start(R"({"amount": 12})");
  saga.Succeed();
  saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  saga.Complete(CallOutcome::kSucceeded, R"({"charge":{"payment_id":"x"}})");
  Decision d = saga.FailForGood("no room");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/1", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_EQ(d.commands[0].kind, Command::Kind::kInvokeCompensation);
  EXPECT_EQ(d.commands[0].step, kPay);
  // The child is still COMPLETED: nothing to report yet.
  Saga child(Payment());
  child.Start(R"({"amount": 12})");
  child.Succeed();
  child.Succeed();
  EXPECT_FALSE(ResultOfChild(child.def(), child.state(), true).has_value());
  // COMPENSATED: the parent's compensation of the step succeeded.
  Signal rollback;
  rollback.kind = Signal::Kind::kParentRollback;
  rollback.error = "parent s1 rolls back step 'pay'";
  Decision undo = child.Send(rollback);
  EXPECT_EQ(Labels(undo.events),
            (Labels_{"CancelRequested", "CompensationStarted",
                     "CompensationStepStarted 1/1"}));
  child.Succeed();
  child.Succeed();
  ASSERT_EQ(child.state().status, SagaStatus::kCompensated);
  std::optional<ChildResult> undone =
      ResultOfChild(child.def(), child.state(), true);
  ASSERT_TRUE(undone.has_value());
  EXPECT_EQ(undone->outcome, CallOutcome::kSucceeded);
  d = saga.Answer(undone->outcome);
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepSucceeded 1/1",
                                       "CompensationStepStarted 0/1"}));
}

TEST(ChildSagaTest, AFailedChildFailsTheParentsCompensationOfItsStep) {
  Saga child(Payment());
  child.Start(R"({"amount": 12})");
  child.Succeed();
  child.Succeed();
  Signal rollback;
  rollback.kind = Signal::Kind::kParentRollback;
  child.Send(rollback);
  // The refund gives up: the child ends FAILED.
  for (int i = 0; i < 10 && !IsTerminal(child.state().status); ++i) {
    child.FailRetryably("bank down");
    if (!IsTerminal(child.state().status)) child.FireTimer();
  }
  ASSERT_EQ(child.state().status, SagaStatus::kFailed);
  std::optional<ChildResult> result =
      ResultOfChild(child.def(), child.state(), true);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, CallOutcome::kBusinessFailure);
  // An undone or failed child is left as it is by a second rollback.
  EXPECT_TRUE(child.Send(rollback).events.empty());
}

TEST(ChildSagaTest, ParentRollbackOfARunningChildCancelsIt) {
  Saga child(Payment());
  child.Start(R"({"amount": 12})");
  child.Succeed();
  Signal rollback;
  rollback.kind = Signal::Kind::kParentRollback;
  rollback.error = "parent rolls back";
  Decision d = child.Send(rollback);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 1/1", "CompensationStarted",
                     "CompensationStepStarted 1/1"}));
  EXPECT_EQ(child.state().reason, "parent rolls back");
}

TEST(ChildSagaTest, CancellingTheParentCompensatesTheWaitingStep) {
  Saga saga = PayingBooking();
  Decision d = saga.Cancel("changed my mind");
  // The child may exist, so the step is compensated (its child rolled
  // back) before `hold`.
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 1/1", "CompensationStarted",
                     "CompensationStepStarted 1/1"}));
  EXPECT_EQ(d.commands[0].kind, Command::Kind::kInvokeCompensation);
}

TEST(ChildSagaTest, AnUnknownStartIsRetriedWithTheSameChild) {
  Saga saga(Booking());
  saga.Start(R"({"amount": 12})");
  saga.Succeed();
  Decision d = saga.TimeOut();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2"}));
  saga.FireTimer();
  d = saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  EXPECT_EQ(d.events[0].child_saga_id, ChildSagaId("s1", kPay));
}

TEST(ChildSagaTest, TheLinksRoundTripThroughTheEventCodec) {
  Event started;
  started.type = EventType::kSagaStarted;
  started.saga_type = "payment";
  started.input_json = "{}";
  started.parent_saga_id = "s1";
  started.parent_step = "pay";
  Event accepted;
  accepted.type = EventType::kStepAccepted;
  accepted.step = 1;
  accepted.attempt = 1;
  accepted.child_saga_id = ChildSagaId("s1", 1);
  for (const Event& e : {started, accepted}) {
    absl::StatusOr<Event> decoded = DecodeEvent(
        EventTypeName(e.type), 0, 0, e.step, e.attempt, EncodeEventData(e));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, e);
  }
}

TEST(ChildSagaTest, StartRecordsTheParent) {
  Decision d = DecideStart(Payment(), R"({"amount": 1})", {1000, 0.0}, {}, "",
                           0, ParentLink{"s1", "pay"});
  ASSERT_FALSE(d.events.empty());
  EXPECT_EQ(d.events[0].parent_saga_id, "s1");
  EXPECT_EQ(d.events[0].parent_step, "pay");
}

// Invariant 4 for both ends of the link: the parent's history (its step
// completed by the child, then rolled back) and the child's (started by
// the parent, completed, then rolled back by it) replay to the same state
// and commands.
TEST(ChildSagaTest, ParentAndChildHistoriesReplay) {
  SagaDefinition def = Booking();
  def.steps[kConfirm].kind = StepKind::kCompensatable;
  def.steps[kConfirm].compensation = "unconfirm";
  Saga saga(def, Saga::Recording());
  saga.Start(R"({"amount": 12})");
  saga.Succeed();
  saga.Answer(CallOutcome::kAccepted, ChildSagaId("s1", kPay));
  saga.Complete(CallOutcome::kSucceeded, R"({"charge":{"payment_id":"x"}})");
  saga.FailForGood("no room");
  saga.Answer(CallOutcome::kBusinessFailure, "",
              "child saga x (payment) ended FAILED");  // retried
  saga.FireTimer();
  saga.Succeed();  // the child is COMPENSATED now
  saga.Succeed();  // release `hold`
  ASSERT_EQ(saga.state().status, SagaStatus::kCompensated);
  ReplayReport parent = Replay(saga.def(), saga.history());
  EXPECT_TRUE(parent.ok()) << parent.divergence->reason;

  Saga child(Payment(), Saga::Recording());
  child.StartAsChild(R"({"amount": 12})", ParentLink{"parent-1", "pay"});
  child.Succeed();
  child.Succeed();
  Signal rollback;
  rollback.kind = Signal::Kind::kParentRollback;
  rollback.error = "its parent saga s1 rolls back step 'pay'";
  child.Send(rollback);
  child.Succeed();
  child.Succeed();
  ASSERT_EQ(child.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(child.state().parent_saga_id, "parent-1");
  ReplayReport report = Replay(child.def(), child.history());
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
}

}  // namespace
}  // namespace saga::core
