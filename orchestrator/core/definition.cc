#include "orchestrator/core/definition.h"

namespace saga::core {

int SagaDefinition::StepIndex(const std::string& step_name) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == step_name) return static_cast<int>(i);
  }
  return -1;
}

bool RunsBefore(const SagaDefinition& definition, int j, int k) {
  if (j >= k) return false;
  const StepDefinition& a = definition.steps[j];
  const StepDefinition& b = definition.steps[k];
  return a.group < 0 || a.group != b.group || a.branch == b.branch;
}

}  // namespace saga::core
