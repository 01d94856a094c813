#include "orchestrator/core/child_saga_check.h"

#include <algorithm>
#include <map>

#include "orchestrator/core/step_kind.h"

namespace saga::core {

namespace {

int PivotOf(const SagaDefinition& definition) {
  for (size_t i = 0; i < definition.steps.size(); ++i) {
    if (RulesFor(definition.steps[i].kind).is_pivot) return static_cast<int>(i);
  }
  return -1;
}

absl::Status Refuse(const SourcedDefinition& at, const StepDefinition& step,
                    const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(at.source + ": step '" + step.name +
                                    "': field '" + field + "': " + why);
}

class Checker {
 public:
  explicit Checker(const std::vector<SourcedDefinition>& definitions) {
    for (const SourcedDefinition& d : definitions)
      by_type_[d.definition->name] = &d;
  }

  absl::Status Check() {
    for (const auto& [type, at] : by_type_) {
      const SagaDefinition& def = *at->definition;
      const int pivot = PivotOf(def);
      for (size_t i = 0; i < def.steps.size(); ++i) {
        const StepDefinition& step = def.steps[i];
        if (step.kind != StepKind::kSaga) continue;
        auto child = by_type_.find(step.saga_type);
        if (child == by_type_.end()) {
          return Refuse(*at, step, "saga_type",
                        "unknown saga type '" + step.saga_type +
                            "' (known: " + KnownTypes() + ")");
        }
        const SagaDefinition& child_def = *child->second->definition;
        for (const InputField& field : child_def.required_input) {
          const bool mapped = std::any_of(
              step.input.begin(), step.input.end(),
              [&](const InputMapping& m) { return m.target == field.name; });
          if (!mapped) {
            return Refuse(*at, step, "input",
                          "saga type '" + step.saga_type +
                              "' requires input field '" + field.name +
                              "', which the step does not map");
          }
        }
        const int child_pivot = PivotOf(child_def);
        if ((pivot < 0 || static_cast<int>(i) < pivot) && child_pivot >= 0) {
          return Refuse(
              *at, step, "kind",
              "a saga step before the pivot (or in a saga without one) is "
              "undone when the saga rolls back, but its child type '" +
                  step.saga_type + "' has the pivot '" +
                  child_def.steps[child_pivot].name +
                  "' and cannot be undone past it; put the step after the "
                  "pivot, or start a type without a pivot");
        }
      }
    }
    for (const auto& [type, at] : by_type_) {
      std::vector<std::string> path{type};
      absl::Status s = FindCycle(type, path);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  // Depth-first from the last type of `path`; the first saga step that
  // leads back to a type on the path closes a cycle.
  absl::Status FindCycle(const std::string& type,
                         std::vector<std::string>& path) {
    const SourcedDefinition& at = *by_type_.at(type);
    for (const StepDefinition& step : at.definition->steps) {
      if (step.kind != StepKind::kSaga) continue;
      if (std::find(path.begin(), path.end(), step.saga_type) != path.end()) {
        std::string chain;
        for (const std::string& t : path) chain += "'" + t + "' starts ";
        return Refuse(at, step, "saga_type",
                      chain + "'" + step.saga_type +
                          "': a saga type must not start itself through "
                          "its child sagas (each would start another "
                          "without end)");
      }
      path.push_back(step.saga_type);
      absl::Status s = FindCycle(step.saga_type, path);
      path.pop_back();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  std::string KnownTypes() const {
    std::string names;
    for (const auto& [type, at] : by_type_) {
      names += (names.empty() ? "" : ", ") + type;
    }
    return names;
  }

  std::map<std::string, const SourcedDefinition*> by_type_;
};

}  // namespace

absl::Status CheckChildSagas(
    const std::vector<SourcedDefinition>& definitions) {
  return Checker(definitions).Check();
}

}  // namespace saga::core
