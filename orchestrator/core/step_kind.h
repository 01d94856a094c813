// Step kinds and every rule that depends on a step's kind, in one table that
// the loader and the decider consult, so that a new kind is a new enum value,
// one row of kStepKindRules and its tests. Pure.
//
// Not in the table, because it depends on the saga's state rather than on a
// step's kind: whether the saga may still roll back (MayStartCompensation in
// decider.h, which looks at the pivot's state). It decides whether a definite
// failure rolls the saga back or fails it, and whether a failing step is
// retried past its budget. Steps after the pivot run once it has succeeded,
// so they always are; the pivot itself only while its outcome is unknown.
#pragma once

#include <optional>
#include <string_view>

namespace saga::core {

// Where a step stands relative to the point of no return (see the rules).
enum class StepKind {
  kCompensatable,
  kReadOnly,
  kPivot,
  kRetriable,
  kWait,
  kDelay,
  // Starts a child saga and waits for its end (see child_saga.h).
  kSaga,
};

struct StepKindRules {
  StepKind kind;
  // The spelling in definitions (`kind: read_only`) and in messages.
  const char* name;
  // Steps of this kind undo their effect with a compensation. The loader
  // requires `compensation` on them and refuses it, and
  // `compensation_retry`, on every other kind. A rollback compensates them,
  // and only them, whenever their effect may exist: they succeeded, their
  // compensation started, or their outcome is unknown (the compensation may
  // then arrive before the Execute it undoes and leaves a tombstone, so the
  // late Execute does nothing). So only they are ever "the step being
  // compensated" that an operator may skip.
  bool has_compensation;
  // The point of no return: once it succeeds the saga must complete, and
  // while its outcome is unknown the saga neither rolls back nor gives up on
  // it. A saga has at most one pivot.
  bool is_pivot;
  // May stand before the pivot (or in a saga without one), where a failure
  // rolls the saga back: so only kinds that are undone by a compensation or
  // have nothing to undo.
  bool may_precede_pivot;
  // May stand after the pivot, where the saga can only finish: such steps
  // are retried past their budget until they succeed, and a definite
  // failure ends the saga FAILED for an operator instead of rolling it back.
  bool may_follow_pivot;
  // Calls `action` on `participant`. The kinds that do not wait in the
  // orchestrator instead (wait: for a named signal, delay: for a time) and
  // have no effect to undo, so they may stand anywhere; a saga step calls
  // the orchestrator itself (see StartsCall).
  bool calls_participant;
};

// One row per kind, in the order of the enum (RulesFor indexes it; checked
// at compile time), which is also the order in which messages list kinds.
// clang-format off
inline constexpr StepKindRules kStepKindRules[] = {
  // {kind, name, has_compensation, is_pivot, may_precede_pivot,
  //  may_follow_pivot, calls_participant}
  {StepKind::kCompensatable, "compensatable", true,  false, true,  false, true},
  {StepKind::kReadOnly,      "read_only",     false, false, true,  false, true},
  {StepKind::kPivot,         "pivot",         false, true,  false, false, true},
  {StepKind::kRetriable,     "retriable",     false, false, false, true,  true},
  {StepKind::kWait,          "wait",          false, false, true,  true,  false},
  {StepKind::kDelay,         "delay",         false, false, true,  true,  false},
  // Its compensation is the child's rollback (no `compensation` field).
  // Before the pivot the loader also requires a child type that can be
  // undone entirely (see CheckChildSagas in definition_loader.h).
  {StepKind::kSaga,          "saga",          true,  false, true,  true,  false},
};
// clang-format on

// Whether an attempt of a step of this kind is a call whose answer the saga
// waits for (call_in_flight): a participant's Execute, or for a saga step
// the start of its child (answered ACCEPTED, then completed by the child's
// end). Wait and delay steps wait in the orchestrator instead.
bool StartsCall(StepKind kind);

// The row of `kind`.
const StepKindRules& RulesFor(StepKind kind);

// RulesFor(kind).name.
const char* StepKindName(StepKind kind);

// The kind spelled `name` in a definition, or nullopt.
std::optional<StepKind> StepKindFromName(std::string_view name);

}  // namespace saga::core
