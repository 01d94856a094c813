#include "orchestrator/core/input_path.h"

#include <algorithm>

#include "absl/status/status.h"

namespace saga::core {

absl::StatusOr<InputPath> ParseInputPath(std::string_view source) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t dot = source.find('.', start);
    parts.emplace_back(source.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const std::string quoted = "source '" + std::string(source) + "'";
  if (std::any_of(parts.begin(), parts.end(),
                  [](const std::string& p) { return p.empty(); })) {
    return absl::InvalidArgumentError(quoted + " has an empty segment");
  }
  InputPath path;
  if (parts[0] == "input") {
    path.fields.assign(parts.begin() + 1, parts.end());
    return path;
  }
  if (parts[0] == "steps" && parts.size() >= 3 && parts[2] == "output") {
    path.root = InputPath::Root::kStepOutput;
    path.step = parts[1];
    path.fields.assign(parts.begin() + 3, parts.end());
    return path;
  }
  return absl::InvalidArgumentError(
      quoted +
      " must be input, input.<field> or steps.<earlier step>.output[.<field>]");
}

}  // namespace saga::core
