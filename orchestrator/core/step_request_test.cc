#include "orchestrator/core/step_request.h"

#include <string>

#include "gtest/gtest.h"
#include "orchestrator/core/definition_loader.h"

namespace saga::core {
namespace {

constexpr char kSagaId[] = "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40";

SagaDefinition TwoSteps() {
  absl::StatusOr<SagaDefinition> definition = ParseDefinition(
      "name: two_steps\nversion: 1\n"
      "input:\n  required:\n    patient_id: string\n"
      "steps:\n"
      "  - name: reserve_doctor\n    kind: compensatable\n"
      "    participant: doctor\n    action: reserve_doctor\n"
      "    compensation: release_reservation\n"
      "    input: {patient_id: input.patient_id}\n"
      "  - name: send_email\n    kind: pivot\n"
      "    participant: email\n    action: send_confirmation\n"
      "    input: {reservation_id: "
      "steps.reserve_doctor.output.reservation_id}\n",
      "two_steps.yaml");
  if (!definition.ok()) {
    ADD_FAILURE() << definition.status();
    return SagaDefinition{};
  }
  return *definition;
}

SagaState StateOf(const SagaDefinition& definition) {
  SagaState state = NewSagaState(definition, kSagaId);
  state.input_json = R"({"patient_id":"p-7"})";
  return state;
}

// The state once the first step succeeded with `output_json`.
SagaState AfterFirstStep(const SagaDefinition& definition,
                         const std::string& output_json) {
  SagaState state = StateOf(definition);
  state.steps[0].status = StepStatus::kSucceeded;
  state.steps[0].output_json = output_json;
  return state;
}

Command Call(Command::Kind kind, int step, int attempt, int64_t deadline_ms) {
  Command command;
  command.kind = kind;
  command.step = step;
  command.attempt = attempt;
  command.deadline_ms = deadline_ms;
  return command;
}

// Participants deduplicate by these exact bytes and keep them in their
// databases: a change here breaks every participant and recorded database.
TEST(IdempotencyKeyTest, FormatIsFixedForExecuteAndCompensate) {
  EXPECT_EQ(IdempotencyKey(kSagaId, "reserve_doctor", false),
            "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/reserve_doctor/execute");
  EXPECT_EQ(IdempotencyKey(kSagaId, "reserve_doctor", true),
            "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/reserve_doctor/compensate");
  EXPECT_EQ(IdempotencyKey("s", "a/b", false), "s/a/b/execute");
  EXPECT_EQ(IdempotencyKey("", "", true), "//compensate");
}

TEST(StepRequestForTest, ExecuteCarriesTheStepsActionKeyAndMappedInput) {
  const SagaDefinition definition = TwoSteps();
  absl::StatusOr<StepRequest> request =
      StepRequestFor(definition, StateOf(definition),
                     Call(Command::Kind::kInvokeStep, 0, 3, 1700000000123));
  ASSERT_TRUE(request.ok()) << request.status();
  StepRequest expected;
  expected.participant = "doctor";
  expected.compensation = false;
  expected.saga_id = kSagaId;
  expected.step = "reserve_doctor";
  expected.action = "reserve_doctor";
  expected.idempotency_key =
      "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/reserve_doctor/execute";
  expected.attempt = 3;
  expected.deadline_ms = 1700000000123;
  expected.input_json = R"({"patient_id":"p-7"})";
  EXPECT_EQ(*request, expected);
}

TEST(StepRequestForTest, CompensationNamesTheExecuteItUndoesAndItsOutput) {
  const SagaDefinition definition = TwoSteps();
  const SagaState state =
      AfterFirstStep(definition, R"({"reservation_id":"r-1"})");
  absl::StatusOr<StepRequest> request = StepRequestFor(
      definition, state,
      Call(Command::Kind::kInvokeCompensation, 0, 1, 1700000000999));
  ASSERT_TRUE(request.ok()) << request.status();
  StepRequest expected;
  expected.participant = "doctor";
  expected.compensation = true;
  expected.saga_id = kSagaId;
  expected.step = "reserve_doctor";
  expected.action = "release_reservation";
  expected.idempotency_key =
      "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/reserve_doctor/compensate";
  expected.attempt = 1;
  expected.deadline_ms = 1700000000999;
  expected.input_json = R"({"patient_id":"p-7"})";
  expected.original_idempotency_key =
      "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/reserve_doctor/execute";
  expected.original_output_json = R"({"reservation_id":"r-1"})";
  EXPECT_EQ(*request, expected);
}

TEST(StepRequestForTest, MapsAnEarlierStepsOutput) {
  const SagaDefinition definition = TwoSteps();
  const SagaState state =
      AfterFirstStep(definition, R"({"reservation_id":"r-1"})");
  absl::StatusOr<StepRequest> request = StepRequestFor(
      definition, state, Call(Command::Kind::kInvokeStep, 1, 1, 5));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->participant, "email");
  EXPECT_EQ(request->action, "send_confirmation");
  EXPECT_EQ(request->idempotency_key,
            "0b6f1c9e-4d2a-4c1b-9f3e-7a5d2e8c1b40/send_email/execute");
  EXPECT_EQ(request->input_json, R"({"reservation_id":"r-1"})");
  EXPECT_TRUE(request->original_idempotency_key.empty());
}

TEST(StepRequestForTest, MissingMappedFieldIsFailedPrecondition) {
  const SagaDefinition definition = TwoSteps();
  const SagaState state = AfterFirstStep(definition, R"({"other":"x"})");
  absl::StatusOr<StepRequest> request = StepRequestFor(
      definition, state, Call(Command::Kind::kInvokeStep, 1, 1, 5));
  EXPECT_EQ(request.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace saga::core
