#include "orchestrator/core/step_kind.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace saga::core {
namespace {

constexpr bool RowsInEnumOrder() {
  for (size_t i = 0; i < std::size(kStepKindRules); ++i) {
    if (static_cast<size_t>(kStepKindRules[i].kind) != i) return false;
  }
  return true;
}
static_assert(RowsInEnumOrder(),
              "kStepKindRules has one row per StepKind, in enum order");

}  // namespace

const StepKindRules& RulesFor(StepKind kind) {
  const auto index = static_cast<size_t>(kind);
  if (index >= std::size(kStepKindRules)) {
    // A kind without a row would run under made-up rules: stop instead.
    std::fprintf(stderr, "broken invariant: step kind %zu has no rules row\n",
                 index);
    std::abort();
  }
  return kStepKindRules[index];
}

const char* StepKindName(StepKind kind) { return RulesFor(kind).name; }

bool StartsCall(StepKind kind) {
  return RulesFor(kind).calls_participant || kind == StepKind::kSaga;
}

std::optional<StepKind> StepKindFromName(std::string_view name) {
  for (const StepKindRules& rules : kStepKindRules) {
    if (name == rules.name) return rules.kind;
  }
  return std::nullopt;
}

}  // namespace saga::core
