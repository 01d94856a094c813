#include "orchestrator/core/input_path.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::core {
namespace {

InputPath SagaInput(std::vector<std::string> fields) {
  return InputPath{InputPath::Root::kSagaInput, "", std::move(fields)};
}

InputPath StepOutput(std::string step, std::vector<std::string> fields) {
  return InputPath{InputPath::Root::kStepOutput, std::move(step),
                   std::move(fields)};
}

TEST(ParseInputPathTest, ReadsTheSagaInput) {
  EXPECT_EQ(ParseInputPath("input").value(), SagaInput({}));
  EXPECT_EQ(ParseInputPath("input.patient_id").value(),
            SagaInput({"patient_id"}));
  EXPECT_EQ(ParseInputPath("input.slot.date").value(),
            SagaInput({"slot", "date"}));
}

TEST(ParseInputPathTest, ReadsAStepOutput) {
  EXPECT_EQ(ParseInputPath("steps.reserve_doctor.output").value(),
            StepOutput("reserve_doctor", {}));
  EXPECT_EQ(
      ParseInputPath("steps.reserve_doctor.output.reservation_id").value(),
      StepOutput("reserve_doctor", {"reservation_id"}));
  EXPECT_EQ(ParseInputPath("steps.a.output.x.y").value(),
            StepOutput("a", {"x", "y"}));
}

TEST(ParseInputPathTest, KeepsFieldsThatSpellRootWords) {
  EXPECT_EQ(ParseInputPath("input.steps.output").value(),
            SagaInput({"steps", "output"}));
  EXPECT_EQ(ParseInputPath("steps.input.output.steps").value(),
            StepOutput("input", {"steps"}));
}

TEST(ParseInputPathTest, RefusesEmptySegments) {
  for (const std::string source :
       {"", ".", "input.", ".input", "input..id", "steps..output",
        "steps.a.output.", "env..x"}) {
    absl::StatusOr<InputPath> path = ParseInputPath(source);
    ASSERT_FALSE(path.ok()) << source;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(path.status().message(),
              "source '" + source + "' has an empty segment");
  }
}

TEST(ParseInputPathTest, RefusesOtherRoots) {
  for (const std::string source :
       {"env.patient", "inputs.id", "Input.id", "steps", "steps.a",
        "steps.a.outputs", "steps.a.input.id", "output.id", "$.input.id"}) {
    absl::StatusOr<InputPath> path = ParseInputPath(source);
    ASSERT_FALSE(path.ok()) << source;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(path.status().message(),
              "source '" + source +
                  "' must be input, input.<field> or "
                  "steps.<earlier step>.output[.<field>]");
  }
}

}  // namespace
}  // namespace saga::core
