#include "orchestrator/core/business_key.h"

#include <nlohmann/json.hpp>

#include "orchestrator/core/input_path.h"

namespace saga::core {
namespace {

absl::Status CheckKey(const std::string& what, const std::string& key) {
  if (key.size() > kMaxBusinessKeyBytes) {
    return absl::InvalidArgumentError(what + " is " +
                                      std::to_string(key.size()) +
                                      " bytes; a business key is at most " +
                                      std::to_string(kMaxBusinessKeyBytes));
  }
  if (key.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(what +
                                      " contains a NUL byte; a business key "
                                      "cannot");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckBusinessKeySource(const SagaDefinition& definition) {
  const std::string& source = definition.business_key_source;
  if (source.empty()) return absl::OkStatus();
  absl::StatusOr<InputPath> path = ParseInputPath(source);
  if (!path.ok()) return path.status();
  if (path->root != InputPath::Root::kSagaInput || path->fields.size() != 1) {
    return absl::InvalidArgumentError(
        "'" + source +
        "' must name one field of the saga input, e.g. input.patient_id");
  }
  const std::string& field = path->fields[0];
  for (const InputField& input : definition.required_input) {
    if (input.name != field) continue;
    if (input.type == "string" || input.type == "integer") {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        "'" + source + "' names input.required." + field + " of type " +
        input.type + "; a business key comes from a string or an integer");
  }
  return absl::InvalidArgumentError(
      "'" + source + "' names '" + field +
      "', which is not under input.required (a business key must come from "
      "a required field)");
}

absl::StatusOr<std::string> BusinessKeyFor(const SagaDefinition& definition,
                                           const std::string& input_json,
                                           const std::string& requested,
                                           const std::string& requested_field) {
  if (!requested.empty()) {
    if (absl::Status valid = CheckKey(requested_field, requested);
        !valid.ok()) {
      return valid;
    }
    return requested;
  }
  if (definition.business_key_source.empty()) return std::string();
  absl::StatusOr<InputPath> path =
      ParseInputPath(definition.business_key_source);
  if (!path.ok() || path->fields.size() != 1) {
    return absl::InternalError("definition '" + definition.name +
                               "' has an unchecked business_key source");
  }
  const nlohmann::json input =
      nlohmann::json::parse(input_json, nullptr, /*allow_exceptions=*/false);
  const std::string what =
      "input field '" + path->fields[0] + "' (the definition's business_key)";
  if (!input.is_object() || !input.contains(path->fields[0])) {
    return absl::InvalidArgumentError(what + " is missing");
  }
  const nlohmann::json& value = input.at(path->fields[0]);
  std::string key;
  if (value.is_string()) {
    key = value.get<std::string>();
  } else if (value.is_number_integer()) {
    key = value.dump();
  } else {
    return absl::InvalidArgumentError(what + " must be a string or an integer");
  }
  if (absl::Status valid = CheckKey(what, key); !valid.ok()) return valid;
  return key;
}

}  // namespace saga::core
