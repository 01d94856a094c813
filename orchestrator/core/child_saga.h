// Child sagas: a step of kind `saga` starts another saga type (the child)
// and waits for its end. The rules that tie a parent to its child, all
// pure:
//  - The child of step k of saga P has the id ChildSagaId(P, k) and the
//    idempotency key IdempotencyKey(P, step, false): every attempt of the
//    step, before or after a crash, starts (or finds) the same child, so a
//    parent never has two children for one step.
//  - The step is asynchronous: its call starts the child and is answered
//    ACCEPTED with the child's id as the output (StepAccepted records it,
//    an input like a completion token); the child's end then
//    completes it (ResultOfChild): COMPLETED is a success whose output is
//    ChildOutput, COMPENSATED or FAILED a business failure.
//  - Compensating the step rolls the child back (Signal::kParentRollback):
//    a running child is cancelled, a COMPLETED one compensated. The
//    compensation succeeds once the child is COMPENSATED and fails (and is
//    retried under compensation_retry) while it is FAILED.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"

namespace saga::core {

// The id of the child that step `step` (its index) of saga `parent_id`
// starts: a lowercase UUID (version 8: derived, not drawn) that is a
// function of the two, and distinct for distinct steps of one parent and
// for one step of distinct UUID parents (a bijection of the parent's 128
// bits per step).
std::string ChildSagaId(const std::string& parent_id, int step);

// A COMPLETED saga's output as its parent's step sees it: a JSON object
// with each step's output under the step's name (steps without output,
// e.g. a delay's, as their recorded output or {}), so a later step of the
// parent maps e.g. steps.<parent step>.output.<child step>.<field>.
std::string ChildOutput(const SagaDefinition& definition,
                        const SagaState& state);

// What the child's state means for the parent's step that waits for it:
// `compensating` when the parent is compensating that step. nullopt while
// there is nothing to report yet (the child runs; or, when compensating, it
// is COMPLETED and still has to be rolled back).
struct ChildResult {
  CallOutcome outcome = CallOutcome::kSucceeded;
  std::string output_json;
  std::string error;
};
std::optional<ChildResult> ResultOfChild(const SagaDefinition& definition,
                                         const SagaState& child,
                                         bool compensating);

}  // namespace saga::core
