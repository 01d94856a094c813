#include "orchestrator/core/input.h"

#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace saga::core {
namespace {

using Json = nlohmann::json;

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool HasType(const Json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double d = value.get<double>();
    return std::isfinite(d) && d == std::floor(d);
  }
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  return false;
}

// Splits "a.b.c" into its segments.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Follows `parts[from..]` through nested objects; nullptr if any is absent.
const Json* Lookup(const Json& root, const std::vector<std::string>& parts,
                   size_t from) {
  const Json* node = &root;
  for (size_t i = from; i < parts.size(); ++i) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(parts[i]);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

Json ParseOrEmpty(const std::string& text) {
  if (text.empty()) return Json::object();
  return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

absl::StatusOr<std::string> ValidateSagaInput(const SagaDefinition& definition,
                                              const std::string& input_json,
                                              size_t max_bytes) {
  // Checked before parsing so an oversized request costs nothing to refuse.
  if (input_json.size() > max_bytes) {
    return absl::InvalidArgumentError(
        "input is " + std::to_string(input_json.size()) +
        " bytes; the limit is " + std::to_string(max_bytes));
  }
  Json input;
  try {
    input = Json::parse(input_json);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(std::string("input is not valid JSON: ") +
                                      e.what());
  }
  if (!input.is_object()) {
    return absl::InvalidArgumentError("input must be a JSON object");
  }
  for (const InputField& field : definition.required_input) {
    auto it = input.find(field.name);
    if (it == input.end()) {
      return absl::InvalidArgumentError("input field '" + field.name +
                                        "' is required (" + field.type + ")");
    }
    if (!HasType(*it, field.type)) {
      return absl::InvalidArgumentError("input field '" + field.name +
                                        "' must be of type " + field.type +
                                        ", got " + it->type_name());
    }
  }
  return Dump(input);
}

absl::StatusOr<std::string> BuildStepInput(const SagaDefinition& definition,
                                           const SagaState& state, int step) {
  if (step < 0 || static_cast<size_t>(step) >= definition.steps.size()) {
    return absl::InvalidArgumentError("no step " + std::to_string(step) +
                                      " in definition '" + definition.name +
                                      "'");
  }
  const StepDefinition& def = definition.steps[step];
  auto missing = [&](const InputMapping& m, const std::string& why) {
    return absl::FailedPreconditionError("step '" + def.name +
                                         "': input field '" + m.target +
                                         "': source '" + m.source + "' " + why);
  };

  const Json saga_input = ParseOrEmpty(state.input_json);
  Json result = Json::object();
  for (const InputMapping& m : def.input) {
    const std::vector<std::string> parts = SplitPath(m.source);
    if (parts[0] == "input") {
      if (saga_input.is_discarded()) {
        return missing(m, "cannot be read: the saga input is not JSON");
      }
      // Optional saga input fields may be absent; the field is then left
      // out rather than sent as null.
      if (const Json* v = Lookup(saga_input, parts, 1)) result[m.target] = *v;
      continue;
    }
    if (parts.size() < 3 || parts[0] != "steps" || parts[2] != "output") {
      return missing(m, "is not a valid source path");
    }
    const int from = definition.StepIndex(parts[1]);
    if (from < 0 || static_cast<size_t>(from) >= state.steps.size()) {
      return missing(m, "names an unknown step");
    }
    const StepState& source_step = state.steps[from];
    if (source_step.status != StepStatus::kSucceeded) {
      return missing(m, std::string("is not available: step '") + parts[1] +
                            "' is " + StepStatusName(source_step.status));
    }
    const Json output = ParseOrEmpty(source_step.output_json);
    if (output.is_discarded()) {
      return missing(m, "cannot be read: the step output is not JSON");
    }
    const Json* v = Lookup(output, parts, 3);
    if (v == nullptr) return missing(m, "is missing from the step output");
    result[m.target] = *v;
  }
  return Dump(result);
}

}  // namespace saga::core
