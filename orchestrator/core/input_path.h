// The source paths of step input mappings (see InputMapping), parsed once
// for both their users: the loader, which checks them against the
// definition, and BuildStepInput, which follows them. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace saga::core {

// Where a step input field's value is read from.
struct InputPath {
  enum class Root {
    kSagaInput,   // "input[.<field>...]"
    kStepOutput,  // "steps.<step>.output[.<field>...]"
  };
  Root root = Root::kSagaInput;
  // kStepOutput: the name of the step whose output is read (not checked
  // against any definition here); empty for kSagaInput.
  std::string step;
  // The fields followed from the root through nested objects, outermost
  // first; empty: the whole saga input or step output.
  std::vector<std::string> fields;

  bool operator==(const InputPath&) const = default;
};

// Parses a dotted source path. InvalidArgument, with a message that quotes
// the path ("source 'input..id' has an empty segment"), if a segment is
// empty or the path is not rooted at "input" or "steps.<step>.output".
absl::StatusOr<InputPath> ParseInputPath(std::string_view source);

}  // namespace saga::core
