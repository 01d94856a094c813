#include "orchestrator/core/step_kind.h"

#include <string>
#include <vector>

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

std::vector<StepKind> KindsWhere(bool StepKindRules::*rule) {
  std::vector<StepKind> kinds;
  for (const StepKindRules& rules : kStepKindRules) {
    if (rules.*rule) kinds.push_back(rules.kind);
  }
  return kinds;
}

// The spellings are part of the definition format and of sagactl's output.
TEST(StepKindTest, NamesAreTheDefinitionSpellings) {
  std::vector<std::string> names;
  for (const StepKindRules& rules : kStepKindRules) names.push_back(rules.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"compensatable", "read_only", "pivot",
                                      "retriable", "wait", "delay", "saga"}));
}

// The rules as the README states them, column by column.
TEST(StepKindTest, ColumnsSayWhatEachKindMayDo) {
  using K = StepKind;
  EXPECT_EQ(KindsWhere(&StepKindRules::has_compensation),
            (std::vector<K>{K::kCompensatable, K::kSaga}));
  EXPECT_EQ(KindsWhere(&StepKindRules::is_pivot), std::vector<K>{K::kPivot});
  EXPECT_EQ(KindsWhere(&StepKindRules::may_precede_pivot),
            (std::vector<K>{K::kCompensatable, K::kReadOnly, K::kWait,
                            K::kDelay, K::kSaga}));
  EXPECT_EQ(KindsWhere(&StepKindRules::may_follow_pivot),
            (std::vector<K>{K::kRetriable, K::kWait, K::kDelay, K::kSaga}));
  EXPECT_EQ(KindsWhere(&StepKindRules::calls_participant),
            (std::vector<K>{K::kCompensatable, K::kReadOnly, K::kPivot,
                            K::kRetriable}));
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
    if (!StartsCall(rules.kind)) {
      // Nothing was done outside, so nothing can be undone or be the point
      // of no return.
      EXPECT_FALSE(rules.has_compensation);
    }
    if (rules.has_compensation) {
      // Compensations run only in a rollback, which only happens before
      // the pivot. A saga step may also follow it, where it is never
      // undone (and the loader lets it start any type there).
      EXPECT_TRUE(rules.may_precede_pivot);
      if (rules.kind != StepKind::kSaga) {
        EXPECT_FALSE(rules.may_follow_pivot);
      }
    }
  }
  EXPECT_EQ(pivot_kinds, 1);
}

}  // namespace
}  // namespace saga::core
