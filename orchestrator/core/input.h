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

// The checks ValidateSagaInput makes of any JSON object the API stores (a
// signal's payload): `what` names it in the messages.
absl::StatusOr<std::string> ValidateJsonObject(const std::string& what,
                                               const std::string& text,
                                               size_t max_bytes);

// Builds the JSON object sent to step `step` from its input mapping, the
// saga input and earlier steps' outputs. FailedPrecondition if a mapped
// source is missing (e.g. an earlier step's output lacks the field).
absl::StatusOr<std::string> BuildStepInput(const SagaDefinition& definition,
                                           const SagaState& state, int step);

// The value (as JSON text) at `source`, a source path like an input
// mapping's, read for step `step`; `field` names it in errors (e.g.
// "until"). FailedPrecondition if it is missing.
absl::StatusOr<std::string> ResolveSource(const SagaDefinition& definition,
                                          const SagaState& state, int step,
                                          const std::string& field,
                                          const std::string& source);

}  // namespace saga::core
