#include "orchestrator/core/definition.h"

namespace saga::core {

int SagaDefinition::StepIndex(const std::string& step_name) const {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].name == step_name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace saga::core
