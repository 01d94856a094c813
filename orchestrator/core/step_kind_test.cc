#include "orchestrator/core/step_kind.h"

#include <string>

#include "gtest/gtest.h"

namespace saga::core {
namespace {

TEST(StepKindTest, NamesRoundTrip) {
  for (const StepKindRules& rules : kStepKindRules) {
    EXPECT_EQ(&RulesFor(rules.kind), &rules);
    EXPECT_STREQ(StepKindName(rules.kind), rules.name);
    EXPECT_EQ(StepKindFromName(rules.name), rules.kind) << rules.name;
  }
  for (const char* name : {"", "Pivot", "read-only", "readonly", "undoable",
                           "pivot ", "compensatable\n"}) {
    EXPECT_EQ(StepKindFromName(name), std::nullopt) << name;
  }
}

// The rules as the README and the decider's tests describe them, row by row.
TEST(StepKindTest, RowsSayWhatEachKindMayDo) {
  const StepKindRules& compensatable = RulesFor(StepKind::kCompensatable);
  EXPECT_STREQ(compensatable.name, "compensatable");
  EXPECT_TRUE(compensatable.has_compensation);
  EXPECT_FALSE(compensatable.is_pivot);
  EXPECT_TRUE(compensatable.may_precede_pivot);
  EXPECT_FALSE(compensatable.may_follow_pivot);

  const StepKindRules& read_only = RulesFor(StepKind::kReadOnly);
  EXPECT_STREQ(read_only.name, "read_only");
  EXPECT_FALSE(read_only.has_compensation);
  EXPECT_FALSE(read_only.is_pivot);
  EXPECT_TRUE(read_only.may_precede_pivot);
  EXPECT_FALSE(read_only.may_follow_pivot);

  const StepKindRules& pivot = RulesFor(StepKind::kPivot);
  EXPECT_STREQ(pivot.name, "pivot");
  EXPECT_FALSE(pivot.has_compensation);
  EXPECT_TRUE(pivot.is_pivot);

  const StepKindRules& retriable = RulesFor(StepKind::kRetriable);
  EXPECT_STREQ(retriable.name, "retriable");
  EXPECT_FALSE(retriable.has_compensation);
  EXPECT_FALSE(retriable.is_pivot);
  EXPECT_FALSE(retriable.may_precede_pivot);
  EXPECT_TRUE(retriable.may_follow_pivot);
}

// Invariants any new row must keep, so that a saga can always either roll
// back or finish.
TEST(StepKindTest, EveryRowKeepsTheSagaAbleToRollBackOrFinish) {
  int pivot_kinds = 0;
  for (const StepKindRules& rules : kStepKindRules) {
    SCOPED_TRACE(rules.name);
    if (rules.is_pivot) {
      ++pivot_kinds;
      // The pivot is the boundary itself, never on either side of it, and
      // nothing undoes it.
      EXPECT_FALSE(rules.may_precede_pivot);
      EXPECT_FALSE(rules.may_follow_pivot);
      EXPECT_FALSE(rules.has_compensation);
      continue;
    }
    EXPECT_TRUE(rules.may_precede_pivot || rules.may_follow_pivot)
        << "a kind no definition could use";
    if (rules.has_compensation) {
      // Compensations run only in a rollback, which only happens before
      // the pivot.
      EXPECT_TRUE(rules.may_precede_pivot);
      EXPECT_FALSE(rules.may_follow_pivot);
    }
  }
  EXPECT_EQ(pivot_kinds, 1);
}

}  // namespace
}  // namespace saga::core
