// Load-time rules that tie saga definitions to each other through their
// saga steps (child_saga.h); the loader checks each definition alone
// first. Pure.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "orchestrator/core/definition.h"

namespace saga::core {

// A definition and where it came from (for messages, usually its file).
struct SourcedDefinition {
  std::string source;
  const SagaDefinition* definition = nullptr;
};

// Every saga step of `definitions` (the whole set that will be loaded):
//  - names a known type (`saga_type`);
//  - does not start its own saga's type, directly or through its children
//    (a cycle would start sagas without end);
//  - maps every required input field of its child type (`input`), so the
//    child's start cannot be refused for a missing field;
//  - if it stands before the pivot (or its saga has none), where a failure
//    rolls the saga back, starts a type that can be undone entirely: one
//    without a pivot, so every step of it is compensatable, read-only, a
//    wait or delay, or such a saga step (`kind`).
// InvalidArgument naming the source, the step and the field otherwise.
absl::Status CheckChildSagas(const std::vector<SourcedDefinition>& definitions);

}  // namespace saga::core
