// Saga input validation and per-step input mapping. Pure.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"

namespace saga::core {

// How deeply objects and arrays may nest in a saga input. Deeper inputs are
// refused before parsing: serialising them recurses once per level.
inline constexpr int kMaxInputDepth = 64;

// Checks that `input_json` is a JSON object (at most `max_bytes` long,
// nesting at most kMaxInputDepth levels, with no NUL character in a string
// or key, which PostgreSQL cannot store) with every required field of the
// definition present and of the declared type. Returns the canonical form
// (keys sorted, no spaces) on success, so equal inputs compare equal as
// strings. InvalidArgument says what is wrong and where (field path or byte
// offset). Never throws, whatever the bytes.
absl::StatusOr<std::string> ValidateSagaInput(const SagaDefinition& definition,
                                              const std::string& input_json,
                                              size_t max_bytes);

// The checks of ValidateSagaInput that need no definition, for any JSON
// object taken from outside (e.g. a step's output reported through
// CompleteStep); `what` leads the messages ("result.output_json is ...").
absl::StatusOr<std::string> ValidateJsonObject(const std::string& text,
                                               const std::string& what,
                                               size_t max_bytes);

// Builds the JSON object sent to step `step` from its input mapping, the
// saga input and earlier steps' outputs. FailedPrecondition if a mapped
// source is missing (e.g. an earlier step's output lacks the field).
absl::StatusOr<std::string> BuildStepInput(const SagaDefinition& definition,
                                           const SagaState& state, int step);

}  // namespace saga::core
