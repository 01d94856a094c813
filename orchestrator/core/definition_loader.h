// Parses and validates saga definitions (YAML). A definition that breaks a
// rule is refused with an error naming the source, the step and the field:
//   "sagas/x.yaml: step 'reserve_doctor': field 'retry.max_attempts': must be
//   >= 1"
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"

namespace saga::core {

// `source_name` is only used in error messages (usually the file path).
absl::StatusOr<SagaDefinition> ParseDefinition(const std::string& yaml_text,
                                               const std::string& source_name);

// Reads and parses one file.
absl::StatusOr<SagaDefinition> LoadDefinitionFile(const std::string& path);

// Loads every *.yaml / *.yml file of a directory (sorted by name); fails on
// the first bad file, on two files defining the same name, or on saga steps
// that break CheckChildSagas (child_saga_check.h).
absl::StatusOr<std::vector<SagaDefinition>> LoadDefinitionDir(
    const std::string& dir);

}  // namespace saga::core
