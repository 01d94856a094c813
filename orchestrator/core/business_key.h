// A saga's business key: the caller's name for what the saga is about (a
// patient id, an order number), so operators find sagas by it (ListSagas,
// `sagactl list --business-key`). StartSaga may give one; a definition may
// instead derive it from a field of the saga input (`business_key:
// input.patient_id`). Pure.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"

namespace saga::core {

// Longest business key, in bytes.
inline constexpr size_t kMaxBusinessKeyBytes = 128;

// The loader's check of a definition's `business_key` source (empty: none):
// "input.<field>" where <field> is a required input of type string or
// integer, so every valid input yields a key. InvalidArgument saying what
// is wrong (the loader adds the file and the field).
absl::Status CheckBusinessKeySource(const SagaDefinition& definition);

// The key a new saga is recorded with: `requested` when given (StartSaga's
// business_key), else the value of the definition's source field in
// `input_json` (an integer as its decimal digits), else "". InvalidArgument
// naming `requested_field` or the input field when the key is longer than
// kMaxBusinessKeyBytes or holds a NUL byte.
absl::StatusOr<std::string> BusinessKeyFor(const SagaDefinition& definition,
                                           const std::string& input_json,
                                           const std::string& requested,
                                           const std::string& requested_field);

}  // namespace saga::core
