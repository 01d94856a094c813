#include "participants/common/action.h"

#include <utility>

namespace saga::participants {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kBusinessFailure:
      return "business_failure";
    case Outcome::kRetryableFailure:
      return "retryable_failure";
    case Outcome::kAccepted:
      return "accepted";
  }
  return "unknown";
}

ActionResult ActionResult::Succeeded(nlohmann::json output) {
  return ActionResult{Outcome::kSucceeded, std::move(output), "", false};
}

ActionResult ActionResult::BusinessFailure(std::string error) {
  return ActionResult{Outcome::kBusinessFailure, nlohmann::json::object(),
                      std::move(error), false};
}

ActionResult ActionResult::RetryableFailure(std::string error) {
  return ActionResult{Outcome::kRetryableFailure, nlohmann::json::object(),
                      std::move(error), false};
}

ActionResult ActionResult::Accepted() {
  return ActionResult{Outcome::kAccepted, nlohmann::json::object(), "", false};
}

std::string RequireString(const nlohmann::json& input,
                          const std::string& field) {
  auto it = input.find(field);
  if (it == input.end()) {
    throw InputError("missing field \"" + field + "\"");
  }
  if (!it->is_string()) {
    throw InputError("field \"" + field + "\" must be a string");
  }
  std::string value = it->get<std::string>();
  if (value.empty()) {
    throw InputError("field \"" + field + "\" must not be empty");
  }
  return value;
}

void ActionRegistry::AddExecute(const std::string& action,
                                ActionHandler handler) {
  execute_[action] = std::move(handler);
}

void ActionRegistry::AddCompensate(const std::string& action,
                                   ActionHandler handler) {
  compensate_[action] = std::move(handler);
}

const ActionHandler* ActionRegistry::FindExecute(
    const std::string& action) const {
  auto it = execute_.find(action);
  return it == execute_.end() ? nullptr : &it->second;
}

const ActionHandler* ActionRegistry::FindCompensate(
    const std::string& action) const {
  auto it = compensate_.find(action);
  return it == compensate_.end() ? nullptr : &it->second;
}

}  // namespace saga::participants
