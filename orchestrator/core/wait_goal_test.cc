#include "orchestrator/core/wait_goal.h"

#include "gtest/gtest.h"

namespace saga::core {
namespace {

SagaState ThreeSteps() {
  SagaState state;
  state.steps.resize(3);
  state.last_seq = 4;
  return state;
}

TEST(WaitGoalTest, AnEndedSagaHasReachedEveryGoal) {
  for (SagaStatus status : {SagaStatus::kCompleted, SagaStatus::kCompensated,
                            SagaStatus::kFailed}) {
    SagaState state = ThreeSteps();
    state.status = status;
    EXPECT_TRUE(Reached(state, {}));
    EXPECT_TRUE(Reached(state, {.step = 2}));
    EXPECT_TRUE(Reached(state, {.after_seq = 9}));
  }
}

TEST(WaitGoalTest, ARunningSagaReachesAStepWhenItSucceeds) {
  SagaState state = ThreeSteps();
  EXPECT_FALSE(Reached(state, {}));
  EXPECT_FALSE(Reached(state, {.step = 1}));
  state.steps[1].status = StepStatus::kRunning;
  EXPECT_FALSE(Reached(state, {.step = 1}));
  state.steps[1].status = StepStatus::kSucceeded;
  EXPECT_TRUE(Reached(state, {.step = 1}));
  EXPECT_FALSE(Reached(state, {.step = 2}));
}

TEST(WaitGoalTest, ACompensatedStepIsNoLongerASuccess) {
  SagaState state = ThreeSteps();
  state.status = SagaStatus::kCompensating;
  state.steps[0].status = StepStatus::kCompensated;
  EXPECT_FALSE(Reached(state, {.step = 0}));
}

TEST(WaitGoalTest, ProgressIsAnEventAfterTheGivenOne) {
  SagaState state = ThreeSteps();
  EXPECT_TRUE(Reached(state, {.after_seq = 3}));
  EXPECT_FALSE(Reached(state, {.after_seq = 4}));
}

}  // namespace
}  // namespace saga::core
