#include "orchestrator/core/input.h"

#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/input_path.h"
#include "orchestrator/core/strict_json.h"

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

// Follows `fields` through nested objects; nullptr if any is absent.
const Json* Lookup(const Json& root, const std::vector<std::string>& fields) {
  const Json* node = &root;
  for (const std::string& field : fields) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(field);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

// Offset of the first byte that opens level kMaxInputDepth + 1 of nested
// objects/arrays (outside strings), or npos. Malformed text is left to the
// parser.
size_t TooDeepAt(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxInputDepth) return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::string::npos;
}

// Path of the first string or key holding a NUL character ("" for the root
// itself), or nullopt. Recursion is bounded by kMaxInputDepth.
std::optional<std::string> NulAt(const Json& value, const std::string& path) {
  const auto has_nul = [](const std::string& s) {
    return s.find('\0') != std::string::npos;
  };
  if (value.is_string() && has_nul(value.get_ref<const std::string&>())) {
    return path;
  }
  if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      std::string at = path.empty() ? key : path + "." + key;
      if (has_nul(key)) {
        for (size_t nul; (nul = at.find('\0')) != std::string::npos;) {
          at.replace(nul, 1, "\\u0000");
        }
        return at;
      }
      if (auto found = NulAt(member, at)) return found;
    }
  }
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (auto found = NulAt(value[i], path + "[" + std::to_string(i) + "]")) {
        return found;
      }
    }
  }
  return std::nullopt;
}

absl::StatusOr<Json> ParseOrEmpty(const std::string& text,
                                  std::string_view what) {
  if (text.empty()) return Json::object();
  return ParseStrictJson(text, what);
}

}  // namespace

static absl::StatusOr<Json> ParseJsonObject(const std::string& text,
                                            const std::string& what,
                                            size_t max_bytes) {
  // Checked before parsing so an oversized request costs nothing to refuse.
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        what + " is " + std::to_string(text.size()) + " bytes; the limit is " +
        std::to_string(max_bytes));
  }
  if (const size_t at = TooDeepAt(text); at != std::string::npos) {
    return absl::InvalidArgumentError(
        what + " nests objects/arrays deeper than " +
        std::to_string(kMaxInputDepth) + " levels (at byte " +
        std::to_string(at) + ")");
  }
  absl::StatusOr<Json> parsed = ParseStrictJson(text, what);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError(what + " must be a JSON object");
  }
  if (std::optional<std::string> at = NulAt(*parsed, ""); at.has_value()) {
    return absl::InvalidArgumentError(
        what + " field '" + *at +
        "' contains a NUL character (\\u0000), which cannot be stored");
  }
  return parsed;
}

absl::StatusOr<std::string> ValidateJsonObject(const std::string& text,
                                               const std::string& what,
                                               size_t max_bytes) {
  absl::StatusOr<Json> parsed = ParseJsonObject(text, what, max_bytes);
  if (!parsed.ok()) return parsed.status();
  return Dump(*parsed);
}

absl::StatusOr<std::string> ValidateSagaInput(const SagaDefinition& definition,
                                              const std::string& input_json,
                                              size_t max_bytes) {
  absl::StatusOr<Json> parsed = ParseJsonObject(input_json, "input", max_bytes);
  if (!parsed.ok()) return parsed.status();
  const Json& input = *parsed;
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

  const absl::StatusOr<Json> saga_input =
      ParseOrEmpty(state.input_json, "the saga input");
  Json result = Json::object();
  for (const InputMapping& m : def.input) {
    const absl::StatusOr<InputPath> path = ParseInputPath(m.source);
    if (!path.ok()) return missing(m, "is not a valid source path");
    if (path->root == InputPath::Root::kSagaInput) {
      if (!saga_input.ok()) {
        return missing(
            m, "cannot be read: " + std::string(saga_input.status().message()));
      }
      // Optional saga input fields may be absent; the field is then left
      // out rather than sent as null.
      if (const Json* v = Lookup(*saga_input, path->fields)) {
        result[m.target] = *v;
      }
      continue;
    }
    const int from = definition.StepIndex(path->step);
    if (from < 0 || static_cast<size_t>(from) >= state.steps.size()) {
      return missing(m, "names an unknown step");
    }
    const StepState& source_step = state.steps[from];
    if (source_step.status != StepStatus::kSucceeded) {
      return missing(m, std::string("is not available: step '") + path->step +
                            "' is " + StepStatusName(source_step.status));
    }
    // A participant's output that repeats a key is kept as it came (see
    // decider.cc): reading a field of it would have to guess which value
    // was meant, so the step that needs it fails instead.
    const absl::StatusOr<Json> output =
        ParseOrEmpty(source_step.output_json, "the step output");
    if (!output.ok()) {
      return missing(
          m, "cannot be read: " + std::string(output.status().message()));
    }
    const Json* v = Lookup(*output, path->fields);
    if (v == nullptr) return missing(m, "is missing from the step output");
    result[m.target] = *v;
  }
  return Dump(result);
}

}  // namespace saga::core
