#include "orchestrator/core/decider.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/duration.h"
#include "orchestrator/core/retry_policy.h"
#include "tests/support/definitions.h"
#include "tests/support/saga_driver.h"

namespace saga::core {
namespace {

constexpr int kValidate = 0;
constexpr int kReserve = 1;
constexpr int kNotify = 2;

const char kPatient[] =
    R"({"email":"ann@example.com","name":"Ann","patient_id":"p1"})";
const char kReservation[] =
    R"({"date":"2024-05-17","doctor_email":"bob@example.com",)"
    R"("doctor_id":"d1","doctor_name":"Dr Bob","reservation_id":"r1"})";
const char kInput[] =
    R"({"patient_id":"p1","preferred_date":"2024-05-17","specialty":"eye"})";

SagaDefinition MustParse(const std::string& yaml) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(yaml, "test.yaml");
  if (!def.ok()) {
    ADD_FAILURE() << def.status();
    return SagaDefinition{};
  }
  return *def;
}

using testing::Booking;
using testing::Describe;
using testing::Label;
using testing::Labels;
// Drives the saga under test (decide, commit, apply), checking the decider's
// contract on every decision.
using Saga = testing::SagaDriver;

// The booking saga with its pivot on a budget of attempts (notify: 4
// attempts, backoff 100ms..1s), as version 1 of the definition had it; the
// tests of how a pivot gives up count attempts.
SagaDefinition BookingWithFourNotifyAttempts() {
  SagaDefinition def = Booking();
  if (def.steps.size() == 3) {
    def.steps[kNotify].retry = RetryPolicy{4, 100, 1000, 2.0, 0.2};
  }
  return def;
}

// Three compensatable steps, then a pivot: exercises reverse-order
// compensation.
SagaDefinition ThreeCompensatable() {
  return MustParse(R"(
name: three
version: 2
steps:
  - {name: a, kind: compensatable, participant: p, action: a, compensation: undo_a, timeout: 1s}
  - {name: b, kind: compensatable, participant: p, action: b, compensation: undo_b, timeout: 1s,
     compensation_retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s, multiplier: 2, jitter: 0}}
  - {name: c, kind: compensatable, participant: p, action: c, compensation: undo_c, timeout: 1s}
  - {name: d, kind: pivot, participant: p, action: d, timeout: 1s}
)");
}

// A pivot followed by a retriable step.
SagaDefinition PivotThenRetriable() {
  return MustParse(R"(
name: tail
version: 1
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release}
  - {name: charge, kind: pivot, participant: p, action: charge}
  - {name: mail, kind: retriable, participant: p, action: mail,
     retry: {max_attempts: 1, initial_backoff: 1s, max_backoff: 10s, multiplier: 2, jitter: 0}}
)");
}

Command Invoke(int step, int attempt, int64_t deadline) {
  return Command{Command::Kind::kInvokeStep, step, attempt, deadline, 0};
}
Command InvokeCompensation(int step, int attempt, int64_t deadline) {
  return Command{Command::Kind::kInvokeCompensation, step, attempt, deadline,
                 0};
}
Command WaitUntil(int64_t due) {
  Command c;
  c.kind = Command::Kind::kWaitUntil;
  c.due_ms = due;
  return c;
}
Command Finished() {
  Command c;
  c.kind = Command::Kind::kFinished;
  return c;
}

using Labels_ = std::vector<std::string>;

TEST(DeciderTest, StartRecordsTheSagaAndCallsTheFirstStep) {
  Saga saga(Booking());
  Decision d = saga.Start(
      R"({ "specialty":"eye", "patient_id":"p1", "preferred_date":"2024-05-17" })");
  ASSERT_TRUE(d.refusal.ok());
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[0].type, EventType::kSagaStarted);
  EXPECT_EQ(d.events[0].saga_type, "appointment_booking");
  EXPECT_EQ(d.events[0].definition_version, 2);
  EXPECT_EQ(d.events[0].input_json, kInput);  // canonical form
  EXPECT_EQ(Label(d.events[1]), "StepStarted 0/1");
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kValidate, 1, 3000)});
  EXPECT_EQ(saga.state().status, SagaStatus::kRunning);
  EXPECT_EQ(saga.state().created_ms, 1000);
}

TEST(DeciderTest, HappyPathCompletes) {
  Saga saga(Booking());
  saga.Start();
  saga.now = 1100;
  Decision d = saga.Succeed(kPatient);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 0/1", "StepStarted 1/1"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kReserve, 1, 3100)});
  saga.now = 1200;
  d = saga.Succeed(R"({ "reservation_id": "r1", "doctor_id": "d1",
      "doctor_name": "Dr Bob", "doctor_email": "bob@example.com",
      "date": "2024-05-17" })");
  EXPECT_EQ(d.events[0].output_json, kReservation);  // canonical form
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kNotify, 1, 3200)});
  saga.now = 1300;
  d = saga.Succeed("{}");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepSucceeded 2/1", "SagaCompleted"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});

  EXPECT_EQ(Labels(saga.history()),
            (Labels_{"SagaStarted", "StepStarted 0/1", "StepSucceeded 0/1",
                     "StepStarted 1/1", "StepSucceeded 1/1", "StepStarted 2/1",
                     "StepSucceeded 2/1", "SagaCompleted"}));
  const SagaState& s = saga.state();
  EXPECT_EQ(s.status, SagaStatus::kCompleted);
  EXPECT_EQ(CurrentStep(s), -1);
  EXPECT_FALSE(CurrentActivity(s).call_in_flight);
  EXPECT_EQ(s.last_seq, 8);
  EXPECT_EQ(s.updated_ms, 1300);
  for (const StepState& step : s.steps) {
    EXPECT_EQ(step.status, StepStatus::kSucceeded);
    EXPECT_EQ(step.attempts, 1);
  }
  EXPECT_EQ(s.steps[kValidate].output_json, kPatient);
}

// A participant answered SUCCEEDED with an output that has a key twice.
// The call took effect, so the step stands and is undone if the saga rolls
// back; the output is recorded as sent (canonicalising would pick one of
// the values), and a step that maps a field from it fails (input.h).
TEST(DeciderTest, OutputWithAKeyTwiceIsKeptAndItsStepIsCompensated) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  const std::string twice = R"({"reservation_id":"r1","reservation_id":"r2"})";
  Decision d = saga.Succeed(twice);
  ASSERT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 1/1", "StepStarted 2/1"}));
  EXPECT_EQ(d.events[0].output_json, twice);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kSucceeded);
  d = saga.FailForGood("input field 'reservation_id' cannot be read");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/1", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

TEST(DeciderTest, ValidateFailureCompensatesNothing) {
  Saga saga(Booking());
  saga.Start();
  Decision d = saga.FailForGood("no such patient");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 0/1", "CompensationStarted",
                                       "SagaCompensated"}));
  EXPECT_FALSE(d.events[0].retryable);
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason,
            "step 'validate_patient' failed: no such patient");
  EXPECT_EQ(d.events[2].error, saga.state().reason);
  EXPECT_EQ(saga.state().steps[kValidate].status, StepStatus::kFailed);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kPending);
}

TEST(DeciderTest, ReserveFailureCompensatesNothing) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  Decision d = saga.FailForGood("no doctor available");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/1", "CompensationStarted",
                                       "SagaCompensated"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason,
            "step 'reserve_doctor' failed: no doctor available");
  EXPECT_EQ(saga.state().steps[kValidate].status, StepStatus::kSucceeded);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kFailed);
  EXPECT_FALSE(saga.state().steps[kReserve].outcome_unknown);
}

TEST(DeciderTest, NotifyFailureReleasesTheReservation) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.now = 5000;
  Decision d = saga.FailForGood("mailbox does not exist");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/1", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_EQ(d.commands,
            std::vector<Command>{InvokeCompensation(kReserve, 1, 7000)});
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensating);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kCompensating);

  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepSucceeded 1/1", "SagaCompensated"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
  const SagaState& s = saga.state();
  EXPECT_EQ(s.status, SagaStatus::kCompensated);
  EXPECT_EQ(s.reason, "step 'notify' failed: mailbox does not exist");
  EXPECT_EQ(s.steps[kValidate].status, StepStatus::kSucceeded);
  EXPECT_EQ(s.steps[kReserve].status, StepStatus::kCompensated);
  EXPECT_EQ(s.steps[kNotify].status, StepStatus::kFailed);
}

TEST(DeciderTest, RetryableFailureWaitsThenRetries) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.now = 2000;
  Decision d = saga.FailRetryably("busy");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2"}));
  EXPECT_TRUE(d.events[0].retryable);
  EXPECT_FALSE(d.events[0].outcome_unknown);
  EXPECT_EQ(d.events[1].due_ms, 2100);
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(2100)});
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kWaitingRetry);

  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepStarted 1/2"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kReserve, 2, 4100)});
  d = saga.Succeed(kReservation);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 1/2", "StepStarted 2/1"}));
  EXPECT_EQ(saga.state().steps[kReserve].attempts, 2);
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
}

TEST(DeciderTest, BackoffDueTimesFollowThePolicy) {
  Saga saga(Booking());
  saga.Start();
  // validate_patient: {5, 100ms, 2s, 2.0, 0.2}; the draw shortens each
  // delay by up to 20%.
  saga.random = 0.5;
  const std::vector<int64_t> delays = {90, 180, 360, 720};
  for (size_t i = 0; i < delays.size(); ++i) {
    saga.now += 7;
    const int64_t failed_at = saga.now;
    Decision d = saga.FailRetryably("busy");
    ASSERT_EQ(d.events.size(), 2u);
    EXPECT_EQ(d.events[1].due_ms, failed_at + delays[i]) << i;
    EXPECT_EQ(d.events[1].due_ms,
              failed_at + BackoffMs(saga.def().steps[0].retry,
                                    static_cast<int>(i) + 1, 0.5));
    saga.FireTimer();
  }
}

// A booking whose pivot (notify, 4 attempts) failed three times and is now
// on its last attempt.
void FailNotifyUntilItsLastAttempt(Saga& saga) {
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  for (int attempt = 1; attempt < 4; ++attempt) {
    saga.FailRetryably("smtp down");
    saga.FireTimer();
  }
}

TEST(DeciderTest, RetriesExhaustedStartsCompensation) {
  Saga saga(BookingWithFourNotifyAttempts());
  FailNotifyUntilItsLastAttempt(saga);
  EXPECT_EQ(CurrentActivity(saga.state()).in_flight_attempt, 4);
  Decision d = saga.FailRetryably("smtp down");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/4", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_EQ(saga.state().reason,
            "step 'notify' gave up after 4 attempts: smtp down");
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kCompensated);
}

TEST(DeciderTest, PivotWithAnUnansweredLastAttemptIsAskedAgain) {
  Saga saga(BookingWithFourNotifyAttempts());
  FailNotifyUntilItsLastAttempt(saga);
  // The last allowed attempt times out: the emails may have gone out, so
  // releasing the reservation now could leave a booking that was announced
  // but does not exist.
  Decision d = saga.TimeOut();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 2/4", "RetryScheduled 2/5"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kRunning);
  saga.FireTimer();
  // A definite answer for the same key settles it: nothing was sent.
  d = saga.FailRetryably("smtp down");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/5", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

TEST(DeciderTest, PivotUnansweredAtRestartIsAskedAgainPastItsAttempts) {
  Saga saga(BookingWithFourNotifyAttempts());
  FailNotifyUntilItsLastAttempt(saga);
  Decision d = saga.Resume();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 2/4", "RetryScheduled 2/5"}));
  saga.FireTimer();
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
}

TEST(DeciderTest, UnknownOutcomeOfAnExhaustedStepIsCompensated) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  for (int attempt = 1; attempt < 5; ++attempt) {
    Decision d = saga.TimeOut();
    EXPECT_TRUE(d.events[0].outcome_unknown);
    saga.FireTimer();
  }
  Decision d = saga.TimeOut();
  // The reservation may exist although no call was answered: release it.
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/5", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_EQ(saga.state().reason,
            "step 'reserve_doctor' gave up after 5 attempts: deadline");
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kCompensated);
}

TEST(DeciderTest, TimedOutThenSucceededStepIsCompensatedWhenTheSagaFails) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.TimeOut();
  EXPECT_TRUE(saga.state().steps[kReserve].outcome_unknown);
  saga.FireTimer();
  saga.Succeed(kReservation);
  EXPECT_FALSE(saga.state().steps[kReserve].outcome_unknown);
  Decision d = saga.FailForGood("bounce");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/1", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

TEST(DeciderTest, DefiniteFailureAfterTimeoutSettlesTheStep) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.TimeOut();
  saga.FireTimer();
  // The same idempotency key answered "no": the timed-out attempt did not
  // apply either, so there is nothing to release.
  Decision d = saga.FailForGood("no doctor available");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/2", "CompensationStarted",
                                       "SagaCompensated"}));
  EXPECT_FALSE(saga.state().steps[kReserve].outcome_unknown);
}

TEST(DeciderTest, CancelWhileWaitingAfterTimeoutCompensatesTheUnknownStep) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.TimeOut();
  Decision d = saga.Cancel("patient called");
  EXPECT_EQ(Labels(d.events), (Labels_{"CancelRequested", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_EQ(CurrentActivity(saga.state()).retry_due_ms, 0);
  // The backoff timer that was armed before the cancel is now meaningless.
  EXPECT_TRUE(saga.Send(Saga::Timer()).events.empty());
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason, "patient called");
}

TEST(DeciderTest, CompensatesInReverseOrder) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  saga.Succeed();
  Decision d = saga.FailForGood("declined");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 3/1", "CompensationStarted",
                                       "CompensationStepStarted 2/1"}));
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepSucceeded 2/1",
                                       "CompensationStepStarted 1/1"}));
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepSucceeded 1/1",
                                       "CompensationStepStarted 0/1"}));
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepSucceeded 0/1", "SagaCompensated"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(saga.state().steps[k].status, StepStatus::kCompensated) << k;
  }
}

TEST(DeciderTest, CompensationRetriesThenSucceeds) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  saga.FailForGood("c refused");  // compensate b, then a
  EXPECT_EQ(CurrentStep(saga.state()), 1);
  saga.now = 10000;
  Decision d = saga.FailRetryably("doctor service down");
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepFailed 1/1",
                                       "CompensationRetryScheduled 1/2"}));
  EXPECT_EQ(d.events[1].due_ms, 10100);
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(10100)});
  EXPECT_EQ(saga.state().steps[1].status, StepStatus::kCompensating);
  EXPECT_EQ(saga.state().steps[1].error, "doctor service down");

  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepStarted 1/2"}));
  EXPECT_EQ(d.commands,
            std::vector<Command>{InvokeCompensation(1, 2, 10100 + 1000)});
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepSucceeded 1/2",
                                       "CompensationStepStarted 0/1"}));
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().steps[1].compensation_attempts, 2);
}

TEST(DeciderTest, CompensationThatGivesUpFailsTheSaga) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  saga.FailForGood("c refused");
  // b's compensation_retry allows 3 attempts; even a business refusal of a
  // compensation is retried.
  saga.FailForGood("locked");
  saga.FireTimer();
  saga.TimeOut();
  saga.FireTimer();
  Decision d = saga.FailRetryably("still down");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepFailed 1/3", "SagaFailed"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
  const SagaState& s = saga.state();
  EXPECT_EQ(s.status, SagaStatus::kFailed);
  EXPECT_EQ(s.reason,
            "compensation of step 'b' gave up after 3 attempts: still down");
  EXPECT_EQ(s.steps[1].status, StepStatus::kCompensationFailed);
  EXPECT_EQ(s.steps[0].status, StepStatus::kSucceeded);  // never reached
}

TEST(DeciderTest, CancelWithACallInFlightCompensatesThatStep) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  ASSERT_TRUE(CurrentActivity(saga.state()).call_in_flight);
  Decision d = saga.Cancel("patient called");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 1/1", "CompensationStarted",
                     "CompensationStepStarted 1/1"}));
  EXPECT_EQ(d.events[0].error, "patient called");
  EXPECT_EQ(d.events[1].error, "cancelled while the call was in flight");
  EXPECT_TRUE(d.events[1].retryable);
  EXPECT_TRUE(d.events[1].outcome_unknown);
  EXPECT_EQ(d.events[2].error, "cancelled: patient called");
  EXPECT_TRUE(saga.state().cancel_requested);

  // The reservation call answers late: stale.
  Signal late;
  late.kind = Signal::Kind::kCallResult;
  late.step = kReserve;
  late.attempt = 1;
  late.outcome = CallOutcome::kSucceeded;
  late.output_json = kReservation;
  d = saga.Send(late);
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.commands.empty());

  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepSucceeded 1/1", "SagaCompensated"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason, "patient called");
}

TEST(DeciderTest, CancelDuringReadOnlyStepHasNothingToUndo) {
  Saga saga(Booking());
  saga.Start();
  Decision d = saga.Cancel("typo");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 0/1", "CompensationStarted",
                     "SagaCompensated"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
}

TEST(DeciderTest, CancelWhileWaitingForRetry) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.FailRetryably("busy");  // definite: nothing reserved
  Decision d = saga.Cancel("");
  EXPECT_EQ(Labels(d.events), (Labels_{"CancelRequested", "CompensationStarted",
                                       "SagaCompensated"}));
  EXPECT_EQ(saga.state().reason, "cancelled");
}

TEST(DeciderTest, CancelIsRefusedOncePivotIsInFlight) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  Decision d = saga.Cancel("too late");
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(d.refusal.message().find("'notify'"), std::string::npos)
      << d.refusal;
  EXPECT_NE(d.refusal.message().find("past the point of no return"),
            std::string::npos);
  EXPECT_EQ(saga.state().status, SagaStatus::kRunning);
  EXPECT_FALSE(saga.state().cancel_requested);
}

TEST(DeciderTest, CancelIsAllowedWhilePivotWaitsForRetry) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.FailRetryably("smtp busy");
  Decision d = saga.Cancel("changed mind");
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(Labels(d.events), (Labels_{"CancelRequested", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

// The reproduction of a real inconsistency: the pivot's call timed out
// (the emails may have gone out) and the saga waits to ask again. A cancel
// accepted then released the reservation while the emails announced it.
TEST(DeciderTest, CancelIsRefusedWhileThePivotsOutcomeIsUnknown) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.TimeOut();
  ASSERT_EQ(saga.state().steps[kNotify].status, StepStatus::kWaitingRetry);
  ASSERT_TRUE(saga.state().steps[kNotify].outcome_unknown);
  Decision d = saga.Cancel("changed mind");
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d.refusal.message(),
            "cannot cancel: the pivot step 'notify' was called and did not "
            "answer, so the saga may be past the point of no return; it is "
            "asked again with the same idempotency key until it answers");
  EXPECT_FALSE(saga.state().cancel_requested);
  // Asked again with the same key, the pivot says the emails went out.
  saga.FireTimer();
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
  EXPECT_EQ(saga.state().steps[kReserve].status, StepStatus::kSucceeded);
}

TEST(DeciderTest, CancelIsAllowedOnceThePivotAnswersThatNothingWasSent) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.TimeOut();
  ASSERT_FALSE(saga.Cancel("changed mind").refusal.ok());
  saga.FireTimer();
  // The same key answered "not applied": the unanswered attempt did not
  // send either, so the saga may roll back again.
  saga.FailRetryably("smtp busy");
  EXPECT_FALSE(saga.state().steps[kNotify].outcome_unknown);
  Decision d = saga.Cancel("changed mind");
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(Labels(d.events), (Labels_{"CancelRequested", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

// A call that was not sent (or refused before the handler) applied
// nothing, but the participant never looked at the key: an earlier attempt
// that went unanswered may still have taken effect.
TEST(DeciderTest, NotSentAfterAnUnansweredPivotKeepsItsOutcomeUnknown) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.TimeOut();
  saga.FireTimer();
  Decision d = saga.NotSent();
  EXPECT_TRUE(d.events[0].outcome_unknown);
  EXPECT_TRUE(saga.state().steps[kNotify].outcome_unknown);
  EXPECT_EQ(saga.Cancel("changed mind").refusal.code(),
            absl::StatusCode::kFailedPrecondition);
  saga.FireTimer();
  saga.FailRetryably("smtp busy");  // an answer under the key settles it
  EXPECT_FALSE(saga.state().steps[kNotify].outcome_unknown);
  EXPECT_TRUE(saga.Cancel("changed mind").refusal.ok());
}

TEST(DeciderTest, NotSentAttemptsUseTheBudgetAndLeaveNothingToUndo) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  Decision d;
  for (int attempt = 1; attempt <= 5; ++attempt) {
    d = saga.NotSent();
    EXPECT_FALSE(d.events[0].outcome_unknown) << attempt;
    if (attempt < 5) saga.FireTimer();
  }
  // reserve_doctor (5 attempts) gave up; none of its calls was sent.
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/5", "CompensationStarted",
                                       "SagaCompensated"}));
}

TEST(MayStartCompensationTest, NamesWhyThePivotForbidsIt) {
  Saga saga(Booking());
  saga.Start();
  EXPECT_TRUE(MayStartCompensation(saga.def(), saga.state()).ok());
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  absl::Status in_flight = MayStartCompensation(saga.def(), saga.state());
  EXPECT_EQ(in_flight.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(in_flight.message().find("has been called and has not answered"),
            std::string::npos)
      << in_flight;
  saga.FailRetryably("smtp busy");
  EXPECT_TRUE(MayStartCompensation(saga.def(), saga.state()).ok());
  saga.FireTimer();
  saga.TimeOut();
  absl::Status unknown = MayStartCompensation(saga.def(), saga.state());
  EXPECT_NE(unknown.message().find("was called and did not answer"),
            std::string::npos)
      << unknown;
  saga.FireTimer();
  saga.Succeed();
  absl::Status done = MayStartCompensation(saga.def(), saga.state());
  EXPECT_NE(done.message().find("has succeeded"), std::string::npos) << done;
}

TEST(MayStartCompensationTest, AlwaysAllowedWithoutAPivot) {
  Saga saga(MustParse(R"(
name: nopivot
version: 1
steps:
  - {name: a, kind: compensatable, participant: p, action: a, compensation: u}
)"));
  saga.Start("{}");
  EXPECT_TRUE(MayStartCompensation(saga.def(), saga.state()).ok());
  saga.TimeOut();
  EXPECT_TRUE(MayStartCompensation(saga.def(), saga.state()).ok());
}

// The booking's pivot has a time budget (give_up_after: 1h): an email
// outage delays the emails and only an outage longer than the budget
// releases the reservation.
TEST(DeciderTest, EmailOutageShorterThanTheBudgetDelaysTheBooking) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  const int64_t first_send = saga.now;
  while (saga.now < first_send + 50 * 60 * 1000) {
    saga.NotSent();
    ASSERT_EQ(saga.state().status, SagaStatus::kRunning);
    saga.FireTimer();
  }
  EXPECT_GT(saga.state().steps[kNotify].attempts, 100);
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompleted);
}

TEST(DeciderTest, EmailOutageLongerThanTheBudgetReleasesTheReservation) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  const int64_t first_send = saga.now;
  Decision d;
  while (saga.state().status == SagaStatus::kRunning) {
    ASSERT_LT(saga.now, first_send + 2 * 3600 * 1000);
    d = saga.FailRetryably("smtp down");
    if (saga.state().status == SagaStatus::kRunning) saga.FireTimer();
  }
  EXPECT_GE(saga.now - first_send, 3600 * 1000);
  // No attempt is scheduled past the hour; the last one started within
  // one capped backoff (30s) of it.
  EXPECT_LT(saga.now - first_send, 3600 * 1000 + 30 * 1000);
  EXPECT_EQ(Labels(d.events)[1], "CompensationStarted");
  const int attempts = saga.state().steps[kNotify].attempts;
  EXPECT_EQ(saga.state().reason,
            "step 'notify' gave up after " + std::to_string(attempts) +
                " attempts in " + FormatDurationMs(saga.now - first_send) +
                " (its give_up_after is 1h): smtp down");
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
}

TEST(DeciderTest, PivotWithAnUnknownOutcomeIsAskedAgainPastItsTimeBudget) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  const int64_t first_send = saga.now;
  saga.FailRetryably("smtp down");
  saga.now = first_send + 3 * 3600 * 1000;
  saga.FireTimer();
  Decision d = saga.TimeOut();
  EXPECT_EQ(Labels(d.events)[1], "RetryScheduled 2/3");
  saga.FireTimer();
  d = saga.FailRetryably("smtp down");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/3", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
}

TEST(DeciderTest, CompensationGivesUpWhenItsTimeBudgetRunsOut) {
  Saga saga(MustParse(R"(
name: timed
version: 1
steps:
  - {name: a, kind: compensatable, participant: p, action: a, compensation: u,
     compensation_retry: {give_up_after: 10s, initial_backoff: 1s, max_backoff: 1s, jitter: 0}}
  - {name: b, kind: pivot, participant: p, action: b}
)"));
  saga.Start("{}");
  saga.Succeed();
  saga.FailForGood("no");
  for (int attempt = 1; attempt <= 10; ++attempt) {
    saga.FailRetryably("down");
    ASSERT_EQ(saga.state().status, SagaStatus::kCompensating) << attempt;
    saga.FireTimer();
  }
  Decision d = saga.FailRetryably("down");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepFailed 0/11", "SagaFailed"}));
  EXPECT_EQ(saga.state().reason,
            "compensation of step 'a' gave up after 11 attempts in 10s (its "
            "give_up_after is 10s): down");
}

TEST(DeciderTest, CancelIsRefusedAfterThePivotSucceeded) {
  Saga saga(PivotThenRetriable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  ASSERT_EQ(CurrentStep(saga.state()), 2);
  Decision d = saga.Cancel("too late");
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(d.refusal.message().find("'charge'"), std::string::npos);
}

TEST(DeciderTest, CancelAfterTheEndIsRefused) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.Succeed();
  Decision d = saga.Cancel("too late");
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d.refusal.message(), "saga already ended as COMPLETED");
}

TEST(DeciderTest, CancelWhileCompensatingIsANoOp) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.FailForGood("bounce");
  Decision d = saga.Cancel("again");
  EXPECT_TRUE(d.refusal.ok());
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.commands.empty());
}

TEST(DeciderTest, StaleResultsAreIgnored) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.FailRetryably("busy");
  saga.FireTimer();  // reserve attempt 2 in flight
  const int64_t last_seq = saga.state().last_seq;

  Signal s;
  s.kind = Signal::Kind::kCallResult;
  s.outcome = CallOutcome::kSucceeded;
  s.output_json = kReservation;
  s.step = kReserve;
  s.attempt = 1;  // an earlier attempt
  EXPECT_TRUE(saga.Send(s).events.empty());
  s.attempt = 2;
  s.step = kValidate;  // another step
  EXPECT_TRUE(saga.Send(s).events.empty());
  s.step = kReserve;
  s.compensation = true;  // a compensation that is not running
  EXPECT_TRUE(saga.Send(s).events.empty());
  EXPECT_EQ(saga.state().last_seq, last_seq);

  s.compensation = false;  // the current call
  EXPECT_EQ(saga.Send(s).events.size(), 2u);
  Decision d = saga.Send(s);  // a duplicate answer
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.commands.empty());
}

TEST(DeciderTest, ResultsAfterTheEndAreIgnored) {
  Saga saga(Booking());
  saga.Start();
  saga.FailForGood("no such patient");
  Signal s;
  s.kind = Signal::Kind::kCallResult;
  s.step = kValidate;
  s.attempt = 1;
  Decision d = saga.Send(s);
  EXPECT_TRUE(d.refusal.ok());
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.commands.empty());
  EXPECT_TRUE(saga.Send(Saga::Timer()).events.empty());
}

TEST(DeciderTest, ResumeWithACallInFlightTreatsItAsUnknown) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.now = 50000;
  Decision d = saga.Resume();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2"}));
  EXPECT_EQ(d.events[0].error,
            "orchestrator restarted while the call was in flight");
  EXPECT_TRUE(d.events[0].retryable);
  EXPECT_TRUE(d.events[0].outcome_unknown);
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(50100)});
  EXPECT_TRUE(saga.state().steps[kReserve].outcome_unknown);
}

TEST(DeciderTest, ResumeWithACompensationInFlightRetriesIt) {
  Saga saga(Booking());
  saga.Start();
  saga.Succeed(kPatient);
  saga.Succeed(kReservation);
  saga.FailForGood("bounce");
  Decision d = saga.Resume();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepFailed 1/1",
                                       "CompensationRetryScheduled 1/2"}));
  d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepStarted 1/2"}));
}

TEST(DeciderTest, ResumeOfAnUnansweredLastAttemptGivesUp) {
  Saga saga(MustParse(R"(
name: once
version: 1
steps:
  - {name: a, kind: compensatable, participant: p, action: a, compensation: u,
     retry: {max_attempts: 1}}
)"));
  saga.Start("{}");
  Decision d = saga.Resume();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 0/1", "CompensationStarted",
                                       "CompensationStepStarted 0/1"}));
}

TEST(DeciderTest, ResumeWhileWaitingReArmsTheTimer) {
  Saga saga(Booking());
  saga.Start();
  saga.FailRetryably("busy");
  Decision d = saga.Resume();
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1100)});
}

TEST(DeciderTest, ResumeOfAnEndedSagaFinishes) {
  Saga saga(Booking());
  saga.Start();
  saga.FailForGood("no such patient");
  Decision d = saga.Resume();
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
}

TEST(DeciderTest, StartRecordsTheTraceContext) {
  const SagaDefinition def = Booking();
  const TraceContext trace{
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "k=v"};
  Decision start = DecideStart(def, kInput, DecideContext{1000, 0}, trace);
  ASSERT_FALSE(start.events.empty());
  EXPECT_EQ(start.events[0].traceparent, trace.traceparent);
  EXPECT_EQ(start.events[0].tracestate, trace.tracestate);
  SagaState state = NewSagaState(def, "s1");
  Apply(def, state, start.events[0]);
  EXPECT_EQ(state.traceparent, trace.traceparent);
  EXPECT_EQ(state.tracestate, trace.tracestate);
}

TEST(DeciderTest, StartRecordsWhoStartedTheSaga) {
  const SagaDefinition def = Booking();
  Decision start =
      DecideStart(def, kInput, DecideContext{1000, 0}, {}, "booking-service");
  ASSERT_FALSE(start.events.empty());
  EXPECT_EQ(start.events[0].started_by, "booking-service");
  SagaState state = NewSagaState(def, "s1");
  Apply(def, state, start.events[0]);
  EXPECT_EQ(state.started_by, "booking-service");
}

TEST(DeciderTest, ResumeOfAnIdleRunningSagaStartsTheNextStep) {
  const SagaDefinition def = Booking();
  Decision start = DecideStart(def, kInput, DecideContext{1000, 0});
  SagaState state = NewSagaState(def, "s1");
  Apply(def, state, start.events[0]);  // SagaStarted only
  Signal resume;
  resume.kind = Signal::Kind::kResume;
  Decision d = Decide(def, state, resume, DecideContext{2000, 0});
  EXPECT_EQ(Labels(d.events), (Labels_{"StepStarted 0/1"}));
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kValidate, 1, 4000)});

  for (int k = 0; k < 3; ++k) state.steps[k].status = StepStatus::kSucceeded;
  d = Decide(def, state, resume, DecideContext{2000, 0});
  EXPECT_EQ(Labels(d.events), (Labels_{"SagaCompleted"}));
}

TEST(DeciderTest, ResumeOfAnIdleCompensatingSagaContinues) {
  const SagaDefinition def = Booking();
  SagaState state = NewSagaState(def, "s1");
  state.status = SagaStatus::kCompensating;
  state.steps[kReserve].status = StepStatus::kSucceeded;
  Signal resume;
  resume.kind = Signal::Kind::kResume;
  Decision d = Decide(def, state, resume, DecideContext{2000, 0});
  EXPECT_EQ(Labels(d.events), (Labels_{"CompensationStepStarted 1/1"}));
  state.steps[kReserve].status = StepStatus::kCompensated;
  d = Decide(def, state, resume, DecideContext{2000, 0});
  EXPECT_EQ(Labels(d.events), (Labels_{"SagaCompensated"}));
}

TEST(DeciderTest, EarlyTimerKeepsWaiting) {
  Saga saga(Booking());
  saga.Start();
  saga.now = 1000;
  saga.FailRetryably("busy");
  ASSERT_EQ(CurrentActivity(saga.state()).retry_due_ms, 1100);
  saga.now = 1050;
  Decision d = saga.Send(Saga::Timer());
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1100)});
  saga.now = 1100;
  d = saga.Send(Saga::Timer());
  EXPECT_EQ(Labels(d.events), (Labels_{"StepStarted 0/2"}));
}

TEST(DeciderTest, TimerWithoutAPendingRetryIsIgnored) {
  Saga saga(Booking());
  saga.Start();
  Decision d = saga.Send(Saga::Timer());
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE(d.commands.empty());
}

TEST(DeciderTest, RetriableStepRetriesForeverAndFailsOnBusinessFailure) {
  Saga saga(PivotThenRetriable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  for (int attempt = 1; attempt <= 5; ++attempt) {
    Decision d = saga.FailRetryably("mail server down");
    ASSERT_EQ(d.events.size(), 2u);
    EXPECT_EQ(d.events[1].type, EventType::kRetryScheduled);
    saga.FireTimer();
  }
  Decision d = saga.FailForGood("address rejected");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 2/6", "SagaFailed"}));
  const SagaState& s = saga.state();
  EXPECT_EQ(s.status, SagaStatus::kFailed);
  EXPECT_EQ(s.reason,
            "step 'mail' failed after the point of no return: address "
            "rejected");
  EXPECT_EQ(s.steps[2].status, StepStatus::kFailed);
  EXPECT_EQ(s.steps[0].status, StepStatus::kSucceeded);  // never undone
}

TEST(DeciderTest, ReplayingTheHistoryReproducesStateAndCommands) {
  Saga saga(Booking());
  saga.random = 0.37;
  saga.Start();
  saga.now += 10;
  saga.TimeOut();
  saga.FireTimer();
  saga.Succeed(kPatient);
  saga.now += 10;
  saga.FailRetryably("busy");
  saga.FireTimer();
  saga.Succeed(kReservation);
  saga.FailRetryably("smtp");
  saga.now += 5;
  saga.FailForGood("late");  // stale: nothing in flight
  saga.FireTimer();
  saga.FailForGood("bounce");
  saga.TimeOut();
  saga.Resume();
  saga.FireTimer();
  saga.Succeed();
  ASSERT_EQ(saga.state().status, SagaStatus::kCompensated);

  // Every prefix of the history folds to a state whose pending commands are
  // what the engine was told at that point.
  std::vector<Event> prefix;
  SagaState incremental = NewSagaState(saga.def(), "s1");
  for (const Event& e : saga.history()) {
    prefix.push_back(e);
    Apply(saga.def(), incremental, e);
    const SagaState folded = Fold(saga.def(), "s1", prefix);
    EXPECT_EQ(Describe(folded), Describe(incremental));
    EXPECT_EQ(PendingCommands(saga.def(), folded),
              PendingCommands(saga.def(), incremental));
  }
  EXPECT_EQ(Describe(incremental), Describe(saga.state()));
}

TEST(DeciderTest, DecisionsAreDeterministic) {
  const SagaDefinition def = Booking();
  Saga saga(def);
  saga.Start();
  saga.Succeed(kPatient);
  Signal s;
  s.kind = Signal::Kind::kCallResult;
  s.step = kReserve;
  s.attempt = 1;
  s.outcome = CallOutcome::kUnknown;
  s.error = "deadline";
  const DecideContext ctx{123456, 0.42};
  Decision a = Decide(def, saga.state(), s, ctx);
  Decision b = Decide(def, saga.state(), s, ctx);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.commands, b.commands);
  ASSERT_EQ(a.events.size(), 2u);
  EXPECT_EQ(a.events[1].due_ms,
            123456 + BackoffMs(def.steps[kReserve].retry, 1, 0.42));
}

TEST(PendingCommandsTest, DescribeWhatTheStateWaitsFor) {
  const SagaDefinition def = Booking();
  SagaState s = NewSagaState(def, "s1");
  EXPECT_TRUE(PendingCommands(def, s).empty());
  ActiveStep& active = s.active.emplace_back();
  active.step = 1;
  active.call_in_flight = true;
  active.in_flight_attempt = 3;
  active.in_flight_deadline_ms = 99;
  EXPECT_EQ(PendingCommands(def, s), std::vector<Command>{Invoke(1, 3, 99)});
  s.status = SagaStatus::kCompensating;
  EXPECT_EQ(PendingCommands(def, s),
            std::vector<Command>{InvokeCompensation(1, 3, 99)});
  active.call_in_flight = false;
  active.retry_due_ms = 77;
  EXPECT_EQ(PendingCommands(def, s), std::vector<Command>{WaitUntil(77)});
  s.status = SagaStatus::kFailed;
  EXPECT_EQ(PendingCommands(def, s), std::vector<Command>{Finished()});
}

// Drives ThreeCompensatable to FAILED: c refuses, b's compensation gives up.
Saga FailedAtB() {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  saga.Succeed();
  saga.Succeed();
  saga.FailForGood("c refused");
  saga.FailForGood("locked");
  saga.FireTimer();
  saga.FailForGood("locked");
  saga.FireTimer();
  saga.FailForGood("locked");
  EXPECT_EQ(saga.state().status, SagaStatus::kFailed);
  return saga;
}

TEST(DeciderOperatorTest, RetryGivesAFailedCompensationAFreshRound) {
  Saga saga = FailedAtB();
  Decision d = saga.Operate(Signal::Kind::kOperatorRetry);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"OperatorAction 1/0", "CompensationStepStarted 1/1"}));
  EXPECT_EQ(d.events[0].operator_name, "alice");
  EXPECT_EQ(d.events[0].operator_action, kOperatorRetry);
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensating);
  saga.Succeed();                  // b undone
  Decision last = saga.Succeed();  // a undone
  EXPECT_EQ(Labels(last.events),
            (Labels_{"CompensationStepSucceeded 0/1", "SagaCompensated"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  // Why it rolled back, not why the compensation once gave up.
  EXPECT_EQ(last.events[1].error, "step 'c' failed: c refused");
  EXPECT_EQ(saga.state().reason, "step 'c' failed: c refused");
}

TEST(DeciderOperatorTest, RetryWhileWaitingCallsAtOnce) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  saga.FailRetryably("busy");
  ASSERT_NE(CurrentActivity(saga.state()).retry_due_ms, 0);
  Decision d = saga.Operate(Signal::Kind::kOperatorRetry);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"OperatorAction 0/0", "StepStarted 0/2"}));
}

TEST(DeciderOperatorTest, RetryIsRefusedWithACallInFlight) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  Decision d = saga.Operate(Signal::Kind::kOperatorRetry);
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderOperatorTest, SkipStepMovesCompensationToEarlierSteps) {
  Saga saga = FailedAtB();
  Decision d = saga.Operate(Signal::Kind::kOperatorSkipStep, 1);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"OperatorAction 1/0", "CompensationStepStarted 0/1"}));
  EXPECT_EQ(saga.state().steps[1].status, StepStatus::kCompensated);
  saga.Succeed();
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
}

TEST(DeciderOperatorTest, SkipOfAStepNotBeingCompensatedIsRefused) {
  Saga saga = FailedAtB();
  EXPECT_EQ(saga.Operate(Signal::Kind::kOperatorSkipStep, 0).refusal.code(),
            absl::StatusCode::kFailedPrecondition);
  Saga running(ThreeCompensatable());
  running.Start("{}");
  EXPECT_EQ(running.Operate(Signal::Kind::kOperatorSkipStep, 0).refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderOperatorTest, MarkCompensatedEndsAFailedSaga) {
  Saga saga = FailedAtB();
  Decision d = saga.Operate(Signal::Kind::kOperatorMarkCompensated);
  EXPECT_EQ(Labels(d.events), (Labels_{"OperatorAction", "SagaCompensated"}));
  EXPECT_EQ(saga.state().status, SagaStatus::kCompensated);
  EXPECT_EQ(saga.state().reason, "marked compensated by alice: fixed by hand");
  EXPECT_EQ(d.commands, std::vector<Command>{Finished()});
}

TEST(DeciderOperatorTest, MarkCompensatedIsRefusedUnlessFailed) {
  Saga saga(ThreeCompensatable());
  saga.Start("{}");
  EXPECT_EQ(saga.Operate(Signal::Kind::kOperatorMarkCompensated).refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

// Asynchronous completion: `charge` is accepted by its participant and
// completed later through CompleteStep, within an hour of its start.
SagaDefinition WithAsyncCharge(int max_attempts = 2) {
  return MustParse(
      R"(
name: pay
version: 1
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release, timeout: 1s}
  - {name: charge, kind: compensatable, participant: payment, action: charge, compensation: refund,
     completion: async, timeout: 1h, call_timeout: 2s,
     retry: {max_attempts: )" +
      std::to_string(max_attempts) +
      R"(, initial_backoff: 1s, max_backoff: 1s, multiplier: 1, jitter: 0}}
  - {name: confirm, kind: pivot, participant: p, action: confirm, timeout: 1s}
)");
}

constexpr int kHold = 0;
constexpr int kCharge = 1;
constexpr int kConfirm = 2;
constexpr int64_t kHour = 3600 * 1000;

// A saga whose `charge` (attempt 1, started at 1000) has been accepted.
Saga AcceptedCharge(int max_attempts = 2) {
  Saga saga(WithAsyncCharge(max_attempts));
  saga.Start("{}");
  saga.Succeed("{}");
  saga.Accept();
  return saga;
}

TEST(DeciderAsyncTest,
     AnAsyncAttemptRecordsItsTokenAndCallsWithItsCallTimeout) {
  Saga saga(WithAsyncCharge());
  Decision d = saga.Start("{}");
  EXPECT_EQ(d.events[1].completion_token, "");  // hold is synchronous
  d = saga.Succeed("{}");
  ASSERT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 0/1", "StepStarted 1/1"}));
  EXPECT_EQ(d.events[1].completion_token, "token-2");
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kCharge, 1, 1000 + 2000)});
  EXPECT_EQ(CurrentActivity(saga.state()).completion_token, "token-2");
  EXPECT_EQ(CurrentActivity(saga.state()).completion_due_ms, 1000 + kHour);
  EXPECT_FALSE(CurrentActivity(saga.state()).awaiting_completion);
}

TEST(DeciderAsyncTest, AcceptedStepWaitsWithNoCallUntilItsDeadline) {
  Saga saga(WithAsyncCharge());
  saga.Start("{}");
  saga.Succeed("{}");
  saga.now = 1500;
  Decision d = saga.Accept();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepAccepted 1/1"}));
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1000 + kHour)});
  EXPECT_TRUE(CurrentActivity(saga.state()).awaiting_completion);
  EXPECT_FALSE(CurrentActivity(saga.state()).call_in_flight);
  EXPECT_EQ(saga.state().steps[kCharge].status, StepStatus::kRunning);
  // A timer that fires early (e.g. re-armed after a restart) decides nothing.
  saga.now = 2000;
  d = saga.Send(Saga::Timer());
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1000 + kHour)});
}

TEST(DeciderAsyncTest, CompletionIsTheStepsResult) {
  Saga saga = AcceptedCharge();
  saga.now = 9000;
  Decision d = saga.Complete(CallOutcome::kSucceeded, R"({"charge_id":"c1"})");
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 1/1", "StepStarted 2/1"}));
  EXPECT_EQ(saga.state().steps[kCharge].output_json, R"({"charge_id":"c1"})");
  EXPECT_EQ(d.commands, std::vector<Command>{Invoke(kConfirm, 1, 10000)});
  EXPECT_FALSE(CurrentActivity(saga.state()).awaiting_completion);
  EXPECT_EQ(CurrentActivity(saga.state()).completion_token, "");
}

TEST(DeciderAsyncTest, BusinessFailureCompletionCompensatesTheEarlierSteps) {
  Saga saga = AcceptedCharge();
  Decision d =
      saga.Complete(CallOutcome::kBusinessFailure, "", "card declined");
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/1", "CompensationStarted",
                                       "CompensationStepStarted 0/1"}));
  EXPECT_EQ(saga.state().reason, "step 'charge' failed: card declined");
}

TEST(DeciderAsyncTest, WrongUsedOrLateTokensAreRefusedAndRecordNothing) {
  Saga saga = AcceptedCharge();
  const std::string wrong = "token-99";
  const std::string empty;
  for (const std::string* token : {&wrong, &empty}) {
    Decision d = saga.Complete(CallOutcome::kSucceeded, "{}", "", token);
    EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(d.events.empty());
  }
  const std::string token = CurrentActivity(saga.state()).completion_token;
  ASSERT_TRUE(saga.Complete(CallOutcome::kSucceeded).refusal.ok());
  // Spent: the step has its result and the saga has moved on.
  Signal again;
  again.kind = Signal::Kind::kStepCompletion;
  again.step = kCharge;
  again.completion_token = token;
  again.outcome = CallOutcome::kSucceeded;
  Decision d = saga.Send(again);
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(d.events.empty());
  // Once the saga has ended, too.
  saga.Succeed("{}");
  ASSERT_EQ(saga.state().status, SagaStatus::kCompleted);
  EXPECT_EQ(saga.Send(again).refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderAsyncTest, ACompletionIsNeitherRetryableNorUnknown) {
  Saga saga = AcceptedCharge();
  EXPECT_EQ(saga.Complete(CallOutcome::kUnknown).refusal.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CurrentActivity(saga.state()).awaiting_completion);
}

TEST(DeciderAsyncTest, CompletionOfASynchronousStepIsRefused) {
  Saga saga(WithAsyncCharge());
  saga.Start("{}");
  const std::string token = "token-1";
  Decision d = saga.Complete(CallOutcome::kSucceeded, "{}", "", &token);
  EXPECT_EQ(d.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d.refusal.message(),
            "completion token not accepted: step 'hold' does not complete "
            "asynchronously");
}

TEST(DeciderAsyncTest, CompletionThatOvertakesTheAcceptedAnswerIsTheResult) {
  Saga saga(WithAsyncCharge());
  saga.Start("{}");
  saga.Succeed("{}");
  ASSERT_TRUE(CurrentActivity(saga.state()).call_in_flight);
  Decision d = saga.Complete(CallOutcome::kSucceeded);
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepSucceeded 1/1", "StepStarted 2/1"}));
  // The ACCEPTED answer then lands: no longer the call in flight.
  Signal late;
  late.kind = Signal::Kind::kCallResult;
  late.step = kCharge;
  late.attempt = 1;
  late.outcome = CallOutcome::kAccepted;
  d = saga.Send(late);
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(CurrentStep(saga.state()), kConfirm);
}

TEST(DeciderAsyncTest, ExpiredWaitIsAnUnknownOutcomeRetriedWithANewToken) {
  Saga saga = AcceptedCharge();
  const std::string first = CurrentActivity(saga.state()).completion_token;
  Decision d = saga.FireTimer();
  EXPECT_EQ(saga.now, 1000 + kHour);
  EXPECT_EQ(Labels(d.events),
            (Labels_{"StepFailed 1/1", "RetryScheduled 1/2"}));
  EXPECT_TRUE(d.events[0].retryable);
  EXPECT_TRUE(d.events[0].outcome_unknown);
  EXPECT_EQ(d.events[0].error,
            "no completion within the step's timeout (3600000ms) after the "
            "participant accepted the call");
  // The attempt has ended: its token completes nothing.
  EXPECT_EQ(
      saga.Complete(CallOutcome::kSucceeded, "{}", "", &first).refusal.code(),
      absl::StatusCode::kFailedPrecondition);
  d = saga.FireTimer();
  ASSERT_EQ(Labels(d.events), (Labels_{"StepStarted 1/2"}));
  const std::string second = d.events[0].completion_token;
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first);
  EXPECT_EQ(
      saga.Complete(CallOutcome::kSucceeded, "{}", "", &first).refusal.code(),
      absl::StatusCode::kFailedPrecondition);
  saga.Accept();
  d = saga.Complete(CallOutcome::kSucceeded, "{}", "", &second);
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
  EXPECT_EQ(saga.state().steps[kCharge].status, StepStatus::kSucceeded);
  EXPECT_FALSE(saga.state().steps[kCharge].outcome_unknown);
}

TEST(DeciderAsyncTest, ExpiredWaitThatGivesUpCompensatesTheStepWithItsKey) {
  Saga saga = AcceptedCharge(/*max_attempts=*/1);
  Decision d = saga.FireTimer();
  EXPECT_EQ(Labels(d.events), (Labels_{"StepFailed 1/1", "CompensationStarted",
                                       "CompensationStepStarted 1/1"}));
  EXPECT_TRUE(saga.state().steps[kCharge].outcome_unknown);
  EXPECT_EQ(d.commands, std::vector<Command>{
                            InvokeCompensation(kCharge, 1, saga.now + kHour)});
  saga.Succeed();
  d = saga.Succeed();
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CompensationStepSucceeded 0/1", "SagaCompensated"}));
}

TEST(DeciderAsyncTest, ResumeWhileWaitingKeepsWaitingUntilTheSameDeadline) {
  Saga saga = AcceptedCharge();
  saga.now = 50000;
  Decision d = saga.Resume();
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.commands, std::vector<Command>{WaitUntil(1000 + kHour)});
  EXPECT_TRUE(saga.Complete(CallOutcome::kSucceeded).refusal.ok());
}

TEST(DeciderAsyncTest, CancelWhileWaitingCompensatesTheAcceptedStep) {
  Saga saga = AcceptedCharge();
  const std::string token = CurrentActivity(saga.state()).completion_token;
  Decision d = saga.Cancel("customer left");
  EXPECT_EQ(Labels(d.events),
            (Labels_{"CancelRequested", "StepFailed 1/1", "CompensationStarted",
                     "CompensationStepStarted 1/1"}));
  EXPECT_TRUE(saga.state().steps[kCharge].outcome_unknown);
  EXPECT_EQ(
      saga.Complete(CallOutcome::kSucceeded, "{}", "", &token).refusal.code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(DeciderAsyncTest, AcceptedFromASynchronousStepIsAnUnknownOutcome) {
  Saga saga(Booking());
  saga.Start();
  Decision d = saga.Accept();
  ASSERT_EQ(Labels(d.events),
            (Labels_{"StepFailed 0/1", "RetryScheduled 0/2"}));
  EXPECT_TRUE(d.events[0].outcome_unknown);
  EXPECT_FALSE(CurrentActivity(saga.state()).awaiting_completion);
}

TEST(DeciderAsyncTest, AnAcceptedAsyncPivotCannotBeCancelled) {
  SagaDefinition def = WithAsyncCharge();
  def.steps[kCharge].kind = StepKind::kPivot;
  def.steps[kCharge].compensation.clear();
  def.steps[kConfirm].kind = StepKind::kRetriable;
  Saga saga(def);
  saga.Start("{}");
  saga.Succeed("{}");
  saga.Accept();
  EXPECT_EQ(saga.Cancel("too late?").refusal.code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace saga::core
