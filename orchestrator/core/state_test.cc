#include "orchestrator/core/state.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

using testing::Booking;

Event At(EventType type, int64_t at_ms, int step = -1, int attempt = 0) {
  Event e;
  e.type = type;
  e.at_ms = at_ms;
  e.step = step;
  e.attempt = attempt;
  return e;
}

Event Started(int64_t at_ms) {
  Event e = At(EventType::kSagaStarted, at_ms);
  e.saga_type = "appointment_booking";
  e.definition_version = 1;
  e.input_json = R"({"patient_id":"p1"})";
  return e;
}

TEST(StateTest, NewStateHasOnePendingStepPerDefinitionStep) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  EXPECT_EQ(s.saga_id, "s1");
  ASSERT_EQ(s.steps.size(), 3u);
  for (const StepState& step : s.steps) {
    EXPECT_EQ(step.status, StepStatus::kPending);
  }
  EXPECT_EQ(s.status, SagaStatus::kRunning);
  EXPECT_EQ(CurrentStep(s), -1);
  EXPECT_EQ(s.last_seq, 0);
}

TEST(StateTest, AppliesForwardEvents) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1000));
  EXPECT_EQ(s.last_seq, 1);
  EXPECT_EQ(s.created_ms, 1000);
  EXPECT_EQ(s.updated_ms, 1000);
  EXPECT_EQ(s.saga_type, "appointment_booking");
  EXPECT_EQ(s.definition_version, 1);
  EXPECT_EQ(s.input_json, R"({"patient_id":"p1"})");

  Apply(def, s, At(EventType::kStepStarted, 1010, 0, 1));
  EXPECT_EQ(CurrentStep(s), 0);
  EXPECT_EQ(s.steps[0].status, StepStatus::kRunning);
  EXPECT_EQ(s.steps[0].attempts, 1);
  EXPECT_EQ(s.steps[0].started_ms, 1010);
  EXPECT_TRUE(CurrentActivity(s).call_in_flight);
  EXPECT_EQ(CurrentActivity(s).in_flight_attempt, 1);
  EXPECT_EQ(CurrentActivity(s).in_flight_deadline_ms, 1010 + 2000);

  Event failed = At(EventType::kStepFailed, 1020, 0, 1);
  failed.error = "timeout";
  failed.retryable = true;
  failed.outcome_unknown = true;
  Apply(def, s, failed);
  EXPECT_EQ(s.steps[0].status, StepStatus::kFailed);
  EXPECT_EQ(s.steps[0].error, "timeout");
  EXPECT_TRUE(s.steps[0].outcome_unknown);
  EXPECT_EQ(s.steps[0].ended_ms, 1020);
  EXPECT_FALSE(CurrentActivity(s).call_in_flight);

  Event retry = At(EventType::kRetryScheduled, 1020, 0, 2);
  retry.due_ms = 1120;
  Apply(def, s, retry);
  EXPECT_EQ(s.steps[0].status, StepStatus::kWaitingRetry);
  EXPECT_EQ(CurrentActivity(s).retry_due_ms, 1120);
  EXPECT_EQ(CurrentActivity(s).retry_attempt, 2);

  Apply(def, s, At(EventType::kStepStarted, 1120, 0, 2));
  EXPECT_EQ(s.steps[0].attempts, 2);
  EXPECT_EQ(s.steps[0].started_ms, 1010);  // the first attempt's
  EXPECT_EQ(CurrentActivity(s).retry_due_ms, 0);
  EXPECT_EQ(CurrentActivity(s).in_flight_attempt, 2);
  EXPECT_EQ(CurrentActivity(s).in_flight_deadline_ms, 3120);

  Event ok = At(EventType::kStepSucceeded, 1130, 0, 2);
  ok.output_json = R"({"name":"Ann"})";
  Apply(def, s, ok);
  EXPECT_EQ(s.steps[0].status, StepStatus::kSucceeded);
  EXPECT_EQ(s.steps[0].output_json, R"({"name":"Ann"})");
  EXPECT_FALSE(s.steps[0].outcome_unknown);
  EXPECT_EQ(s.steps[0].ended_ms, 1130);
  EXPECT_FALSE(CurrentActivity(s).call_in_flight);
  EXPECT_EQ(s.last_seq, 6);
  EXPECT_EQ(s.updated_ms, 1130);
}

TEST(StateTest, DefiniteFailureClearsAnUnknownOutcome) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  Apply(def, s, At(EventType::kStepStarted, 2, 1, 1));
  Event unknown = At(EventType::kStepFailed, 3, 1, 1);
  unknown.retryable = true;
  unknown.outcome_unknown = true;
  Apply(def, s, unknown);
  EXPECT_TRUE(s.steps[1].outcome_unknown);
  Apply(def, s, At(EventType::kStepStarted, 4, 1, 2));
  EXPECT_TRUE(s.steps[1].outcome_unknown);
  Apply(def, s, At(EventType::kStepFailed, 5, 1, 2));
  EXPECT_FALSE(s.steps[1].outcome_unknown);
}

TEST(StateTest, AppliesCompensationAndFailure) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  Event cancel = At(EventType::kCancelRequested, 2);
  cancel.error = "changed mind";
  Apply(def, s, cancel);
  EXPECT_TRUE(s.cancel_requested);
  EXPECT_EQ(s.reason, "changed mind");

  Event comp = At(EventType::kCompensationStarted, 3);
  comp.error = "cancelled: changed mind";
  Apply(def, s, comp);
  EXPECT_EQ(s.status, SagaStatus::kCompensating);
  EXPECT_EQ(s.reason, "changed mind");  // the cancel's reason is kept
  EXPECT_EQ(CurrentStep(s), -1);

  Apply(def, s, At(EventType::kCompensationStepStarted, 4, 1, 1));
  EXPECT_EQ(CurrentStep(s), 1);
  EXPECT_EQ(s.steps[1].status, StepStatus::kCompensating);
  EXPECT_EQ(s.steps[1].compensation_attempts, 1);
  EXPECT_TRUE(CurrentActivity(s).call_in_flight);
  EXPECT_EQ(CurrentActivity(s).in_flight_deadline_ms, 2004);

  Event failed = At(EventType::kCompensationStepFailed, 5, 1, 1);
  failed.error = "down";
  Apply(def, s, failed);
  EXPECT_EQ(s.steps[1].status, StepStatus::kCompensating);
  EXPECT_EQ(s.steps[1].error, "down");
  EXPECT_FALSE(CurrentActivity(s).call_in_flight);

  Event retry = At(EventType::kCompensationRetryScheduled, 5, 1, 2);
  retry.due_ms = 105;
  Apply(def, s, retry);
  EXPECT_EQ(CurrentActivity(s).retry_due_ms, 105);
  EXPECT_EQ(CurrentActivity(s).retry_attempt, 2);

  Event gave_up = At(EventType::kSagaFailed, 6);
  gave_up.error = "compensation gave up";
  Apply(def, s, gave_up);
  EXPECT_EQ(s.status, SagaStatus::kFailed);
  EXPECT_EQ(s.steps[1].status, StepStatus::kCompensationFailed);
  EXPECT_EQ(s.reason, "compensation gave up");
  EXPECT_EQ(CurrentStep(s), -1);
  EXPECT_EQ(CurrentActivity(s).retry_due_ms, 0);
  EXPECT_FALSE(CurrentActivity(s).call_in_flight);
}

// Ends a Booking saga FAILED: step 1's compensation gave up after two
// attempts.
SagaState FailedInCompensation(const SagaDefinition& def) {
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  Event comp = At(EventType::kCompensationStarted, 2);
  comp.error = "doctor said no";
  Apply(def, s, comp);
  Apply(def, s, At(EventType::kCompensationStepStarted, 3, 1, 1));
  Apply(def, s, At(EventType::kCompensationStepFailed, 4, 1, 1));
  Apply(def, s, At(EventType::kCompensationStepStarted, 5, 1, 2));
  Apply(def, s, At(EventType::kCompensationStepFailed, 6, 1, 2));
  Apply(def, s, At(EventType::kSagaFailed, 7));
  return s;
}

TEST(StateTest, MarkCompensatedNoLongerLeavesTheStepCompensationFailed) {
  const SagaDefinition def = Booking();
  SagaState s = FailedInCompensation(def);
  ASSERT_EQ(s.steps[1].status, StepStatus::kCompensationFailed);
  Event mark = At(EventType::kOperatorAction, 8);
  mark.operator_action = kOperatorMarkCompensated;
  mark.operator_name = "ann";
  mark.error = "released by hand";
  Apply(def, s, mark);
  Apply(def, s, At(EventType::kSagaCompensated, 8));
  EXPECT_EQ(s.status, SagaStatus::kCompensated);
  EXPECT_EQ(s.steps[1].status, StepStatus::kCompensated);
  EXPECT_EQ(s.steps[1].ended_ms, 8);
}

TEST(StateTest, OperatorRetryKeepsTheEarlierRoundsAttempts) {
  const SagaDefinition def = Booking();
  SagaState s = FailedInCompensation(def);
  Event retry = At(EventType::kOperatorAction, 8, 1);
  retry.operator_action = kOperatorRetry;
  Apply(def, s, retry);
  EXPECT_EQ(s.steps[1].compensation_attempts, 0);
  EXPECT_EQ(s.steps[1].earlier_compensation_attempts, 2);
  Apply(def, s, At(EventType::kCompensationStepStarted, 9, 1, 1));
  EXPECT_EQ(s.steps[1].compensation_attempts, 1);
  EXPECT_EQ(s.steps[1].earlier_compensation_attempts, 2);
}

TEST(StateTest, SagaStartedRecordsTheBusinessKeyAndTheRerunLink) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s2");
  Event started = Started(1);
  started.business_key = "p1";
  started.rerun_of = "s1";
  Apply(def, s, started);
  EXPECT_EQ(s.business_key, "p1");
  EXPECT_EQ(s.rerun_of, "s1");
}

TEST(StateTest, CompensationStartedRecordsTheReasonWithoutACancel) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  Event comp = At(EventType::kCompensationStarted, 2);
  comp.error = "step 'notify' failed: bounce";
  Apply(def, s, comp);
  EXPECT_EQ(s.reason, "step 'notify' failed: bounce");
  Event done = At(EventType::kSagaCompensated, 3);
  done.error = s.reason;
  Apply(def, s, done);
  EXPECT_EQ(s.status, SagaStatus::kCompensated);
  EXPECT_TRUE(IsTerminal(s.status));
}

TEST(StateTest, FoldNumbersEventsInOrder) {
  const SagaDefinition def = Booking();
  std::vector<Event> history = {Started(1),
                                At(EventType::kStepStarted, 2, 0, 1)};
  history[0].seq = 1;
  history[1].seq = 2;
  SagaState s = Fold(def, "s9", history);
  EXPECT_EQ(s.saga_id, "s9");
  EXPECT_EQ(s.last_seq, 2);
  EXPECT_EQ(CurrentStep(s), 0);
}

TEST(StateTest, Names) {
  EXPECT_STREQ(SagaStatusName(SagaStatus::kRunning), "RUNNING");
  EXPECT_STREQ(SagaStatusName(SagaStatus::kCompensating), "COMPENSATING");
  EXPECT_STREQ(SagaStatusName(SagaStatus::kCompleted), "COMPLETED");
  EXPECT_STREQ(SagaStatusName(SagaStatus::kCompensated), "COMPENSATED");
  EXPECT_STREQ(SagaStatusName(SagaStatus::kFailed), "FAILED");
  const std::vector<std::string> step_names = {
      "PENDING", "RUNNING",      "WAITING_RETRY", "SUCCEEDED",
      "FAILED",  "COMPENSATING", "COMPENSATED",   "COMPENSATION_FAILED"};
  for (size_t i = 0; i < step_names.size(); ++i) {
    EXPECT_EQ(StepStatusName(static_cast<StepStatus>(i)), step_names[i]);
  }
  for (SagaStatus status :
       {SagaStatus::kRunning, SagaStatus::kCompensating, SagaStatus::kCompleted,
        SagaStatus::kCompensated, SagaStatus::kFailed}) {
    absl::StatusOr<SagaStatus> parsed = ParseSagaStatus(SagaStatusName(status));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, status);
  }
  EXPECT_FALSE(ParseSagaStatus("running").ok());
  EXPECT_FALSE(IsTerminal(SagaStatus::kRunning));
  EXPECT_FALSE(IsTerminal(SagaStatus::kCompensating));
  EXPECT_TRUE(IsTerminal(SagaStatus::kFailed));
}

TEST(StateDeathTest, WrongSeqAborts) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Event e = Started(1);
  e.seq = 2;
  EXPECT_DEATH(Apply(def, s, e), "broken invariant.*expected seq 1");
}

TEST(StateDeathTest, BadStepIndexAborts) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  EXPECT_DEATH(Apply(def, s, At(EventType::kStepStarted, 2, 3, 1)),
               "broken invariant.*has 3 steps");
  EXPECT_DEATH(Apply(def, s, At(EventType::kStepSucceeded, 2, -1, 1)),
               "broken invariant");
}

TEST(StateDeathTest, SecondSagaStartedAborts) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  Apply(def, s, Started(1));
  EXPECT_DEATH(Apply(def, s, Started(2)), "not the first event");
}

}  // namespace
}  // namespace saga::core
