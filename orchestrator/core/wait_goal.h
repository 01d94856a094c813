// What a caller waiting on a saga waits for, and whether the saga has got
// there. One rule for every waiter: the engine's (sagas it drives, judged on
// each commit) and the awaiter's (sagas driven elsewhere, judged on what the
// store recorded), so AwaitSaga answers alike wherever the saga runs.
// Pure.
#pragma once

#include <cstdint>

#include "orchestrator/core/state.h"

namespace saga::core {

struct WaitGoal {
  // The step whose success ends the wait (an index into the definition's
  // steps); -1: none.
  int step = -1;
  // Any event recorded after this sequence number ends the wait; -1: none.
  int64_t after_seq = -1;
};

// True once the saga has ended (in any terminal status, whatever the goal),
// or goal.step has succeeded, or an event after goal.after_seq is recorded.
// REQUIRES: goal.step < state.steps.size().
bool Reached(const SagaState& state, const WaitGoal& goal);

}  // namespace saga::core
