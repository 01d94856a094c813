#include "orchestrator/core/wait_goal.h"

namespace saga::core {

bool Reached(const SagaState& state, const WaitGoal& goal) {
  if (IsTerminal(state.status)) return true;
  if (goal.after_seq >= 0 && state.last_seq > goal.after_seq) return true;
  return goal.step >= 0 &&
         state.steps[goal.step].status == StepStatus::kSucceeded;
}

}  // namespace saga::core
