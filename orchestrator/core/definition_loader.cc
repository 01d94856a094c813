#include "orchestrator/core/definition_loader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "orchestrator/core/business_key.h"
#include "orchestrator/core/child_saga_check.h"
#include "orchestrator/core/duration.h"
#include "orchestrator/core/input_path.h"
#include "orchestrator/core/step_kind.h"
#include "yaml-cpp/yaml.h"

namespace saga::core {
namespace {

constexpr int64_t kMaxDurationMs = int64_t{1} << 40;  // ~35 years

bool IsName(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// JSON field names referenced from source paths, so no dots.
bool IsFieldName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsInputType(const std::string& s) {
  static const std::set<std::string> kTypes = {"string",  "number", "integer",
                                               "boolean", "object", "array"};
  return kTypes.count(s) > 0;
}

// The names of the step kinds whose `rule` holds (every kind if `rule` is
// null), in table order.
std::string KindNames(bool StepKindRules::*rule, const std::string& separator) {
  std::string names;
  for (const StepKindRules& rules : kStepKindRules) {
    if (rule != nullptr && !(rules.*rule)) continue;
    if (!names.empty()) names += separator;
    names += rules.name;
  }
  return names;
}

// Why a call step of kind `kind` may not have a compensation (a saga step,
// undone by its child's rollback, is parsed apart).
std::string OnlyCompensatable(const std::string& kind) {
  std::string names;
  for (const StepKindRules& rules : kStepKindRules) {
    if (!rules.has_compensation || !rules.calls_participant) continue;
    names += (names.empty() ? "" : " or ") + std::string(rules.name);
  }
  return "only " + names + " steps have one (this step is " + kind + ")";
}

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  absl::StatusOr<SagaDefinition> Parse(const YAML::Node& root) {
    SagaDefinition def;
    absl::Status s = ParseRoot(root, def);
    if (!s.ok()) return s;
    return def;
  }

 private:
  absl::Status Error(const std::string& field, const std::string& message) {
    std::string text = source_ + ": ";
    if (!step_.empty()) text += step_ + ": ";
    if (!field.empty()) text += "field '" + field + "': ";
    return absl::InvalidArgumentError(text + message);
  }

  absl::Status CheckKeys(const YAML::Node& map, const std::string& prefix,
                         const std::set<std::string>& allowed) {
    std::set<std::string> seen;
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) {
        return Error(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1),
                     "keys must be plain names");
      }
      const std::string key = entry.first.Scalar();
      if (!seen.insert(key).second) {
        return Error(prefix + key, "appears twice");
      }
      if (allowed.count(key) == 0) {
        std::string known;
        for (const std::string& a : allowed) {
          known += known.empty() ? a : ", " + a;
        }
        return Error(prefix + key, "unknown field (known: " + known + ")");
      }
    }
    return absl::OkStatus();
  }

  // A scalar string. Absent (or null) optional fields leave `out` alone.
  absl::Status GetString(const YAML::Node& map, const std::string& key,
                         const std::string& field, bool required,
                         std::string& out) {
    const YAML::Node node = map[key];
    if (!node.IsDefined() || node.IsNull()) {
      return required ? Error(field, "is required") : absl::OkStatus();
    }
    if (!node.IsScalar()) return Error(field, "must be a string");
    out = node.Scalar();
    if (required && out.empty()) return Error(field, "must not be empty");
    return absl::OkStatus();
  }

  absl::Status GetInt(const YAML::Node& node, const std::string& field,
                      int& out) {
    if (!node.IsScalar()) return Error(field, "must be an integer");
    try {
      out = node.as<int>();
    } catch (const YAML::Exception&) {
      return Error(field, "must be an integer, got '" + node.Scalar() + "'");
    }
    return absl::OkStatus();
  }

  absl::Status GetDouble(const YAML::Node& node, const std::string& field,
                         double& out) {
    if (!node.IsScalar()) return Error(field, "must be a number");
    try {
      out = node.as<double>();
    } catch (const YAML::Exception&) {
      return Error(field, "must be a number, got '" + node.Scalar() + "'");
    }
    if (!std::isfinite(out)) return Error(field, "must be a finite number");
    return absl::OkStatus();
  }

  absl::Status GetDuration(const YAML::Node& node, const std::string& field,
                           int64_t& out) {
    std::optional<int64_t> ms;
    if (node.IsScalar()) ms = ParseDurationMs(node.Scalar());
    if (!ms) {
      return Error(field,
                   "must be a duration such as 250ms, 2s, 5m or 1h (a "
                   "bare number means milliseconds)");
    }
    if (*ms <= 0) return Error(field, "must be > 0");
    if (*ms > kMaxDurationMs) return Error(field, "is too long");
    out = *ms;
    return absl::OkStatus();
  }

  absl::Status ParseRetry(const YAML::Node& node, const std::string& name,
                          RetryPolicy& policy) {
    if (!node.IsMap()) {
      return Error(name,
                   "must be a map of max_attempts, give_up_after, "
                   "initial_backoff, max_backoff, multiplier, jitter");
    }
    const std::string p = name + ".";
    absl::Status s =
        CheckKeys(node, p,
                  {"max_attempts", "give_up_after", "initial_backoff",
                   "max_backoff", "multiplier", "jitter"});
    if (!s.ok()) return s;
    // The budget is what the definition sets: attempts, time or both
    // (whichever runs out first); a time budget alone bounds no count.
    if (node["give_up_after"]) {
      s = GetDuration(node["give_up_after"], p + "give_up_after",
                      policy.give_up_after_ms);
      if (!s.ok()) return s;
      if (!node["max_attempts"]) policy.max_attempts = 0;
    }
    if (node["max_attempts"]) {
      s = GetInt(node["max_attempts"], p + "max_attempts", policy.max_attempts);
      if (!s.ok()) return s;
      if (policy.max_attempts < 1) {
        return Error(p + "max_attempts", "must be >= 1");
      }
    }
    if (node["initial_backoff"]) {
      s = GetDuration(node["initial_backoff"], p + "initial_backoff",
                      policy.initial_backoff_ms);
      if (!s.ok()) return s;
    }
    if (node["max_backoff"]) {
      s = GetDuration(node["max_backoff"], p + "max_backoff",
                      policy.max_backoff_ms);
      if (!s.ok()) return s;
    }
    if (policy.max_backoff_ms < policy.initial_backoff_ms) {
      return Error(p + "max_backoff",
                   "must be >= initial_backoff (" +
                       std::to_string(policy.initial_backoff_ms) + "ms)");
    }
    if (policy.give_up_after_ms > 0 &&
        policy.give_up_after_ms <= policy.initial_backoff_ms) {
      return Error(p + "give_up_after",
                   "must be longer than initial_backoff (" +
                       std::to_string(policy.initial_backoff_ms) +
                       "ms), or no retry would fit in it");
    }
    if (node["multiplier"]) {
      s = GetDouble(node["multiplier"], p + "multiplier", policy.multiplier);
      if (!s.ok()) return s;
      if (policy.multiplier < 1) return Error(p + "multiplier", "must be >= 1");
    }
    if (node["jitter"]) {
      s = GetDouble(node["jitter"], p + "jitter", policy.jitter);
      if (!s.ok()) return s;
      if (policy.jitter < 0 || policy.jitter > 1) {
        return Error(p + "jitter", "must be between 0 and 1");
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseRoot(const YAML::Node& root, SagaDefinition& def) {
    if (!root.IsMap()) {
      return Error("", "a saga definition must be a YAML map");
    }
    absl::Status s = CheckKeys(root, "",
                               {"name", "version", "description", "input",
                                "deadline", "business_key", "steps"});
    if (!s.ok()) return s;

    s = GetString(root, "name", "name", true, def.name);
    if (!s.ok()) return s;
    if (!IsName(def.name)) {
      return Error("name", "'" + def.name + "' must match [a-z][a-z0-9_]*");
    }
    if (!root["version"] || root["version"].IsNull()) {
      return Error("version", "is required");
    }
    s = GetInt(root["version"], "version", def.version);
    if (!s.ok()) return s;
    if (def.version < 1) return Error("version", "must be >= 1");
    s = GetString(root, "description", "description", false, def.description);
    if (!s.ok()) return s;
    if (const YAML::Node deadline = root["deadline"]; deadline) {
      s = GetDuration(deadline, "deadline", def.deadline_ms);
      if (!s.ok()) return s;
    }

    if (const YAML::Node input = root["input"]; input && !input.IsNull()) {
      s = ParseSagaInput(input, def);
      if (!s.ok()) return s;
    }

    s = GetString(root, "business_key", "business_key", false,
                  def.business_key_source);
    if (!s.ok()) return s;
    s = CheckBusinessKeySource(def);
    if (!s.ok()) return Error("business_key", std::string(s.message()));

    const YAML::Node steps = root["steps"];
    if (!steps || steps.IsNull()) return Error("steps", "is required");
    if (!steps.IsSequence()) return Error("steps", "must be a list of steps");
    if (steps.size() == 0) return Error("steps", "must have at least one step");
    int groups = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      const YAML::Node item = steps[i];
      if (item.IsMap() && item["parallel"]) {
        s = ParseGroup(item, groups++, def);
      } else {
        s = ParseStep(item, "step #" + std::to_string(i + 1), def);
      }
      if (!s.ok()) return s;
    }
    step_.clear();

    s = CheckStepOrder(def);
    if (!s.ok()) return s;
    for (size_t i = 0; i < def.steps.size(); ++i) {
      s = CheckSources(def, i);
      if (!s.ok()) return s;
    }
    step_.clear();
    return absl::OkStatus();
  }

  absl::Status ParseSagaInput(const YAML::Node& input, SagaDefinition& def) {
    if (!input.IsMap()) return Error("input", "must be a map with 'required'");
    absl::Status s = CheckKeys(input, "input.", {"required"});
    if (!s.ok()) return s;
    const YAML::Node required = input["required"];
    if (!required || required.IsNull()) return absl::OkStatus();
    if (!required.IsMap()) {
      return Error("input.required", "must be a map of field: type");
    }
    s = CheckKeys(required, "input.required.", FieldNames(required));
    if (!s.ok()) return s;
    for (const auto& entry : required) {
      const std::string name = entry.first.Scalar();
      const std::string field = "input.required." + name;
      if (!IsFieldName(name)) {
        return Error(field, "is not a valid field name");
      }
      if (!entry.second.IsScalar() || !IsInputType(entry.second.Scalar())) {
        return Error(field,
                     "type must be one of string, number, integer, boolean, "
                     "object, array");
      }
      def.required_input.push_back({name, entry.second.Scalar()});
    }
    return absl::OkStatus();
  }

  // Every key of a map, for maps whose keys are user-chosen: CheckKeys then
  // only rejects duplicates and non-scalar keys.
  static std::set<std::string> FieldNames(const YAML::Node& map) {
    std::set<std::string> names;
    for (const auto& entry : map) {
      if (entry.first.IsScalar()) names.insert(entry.first.Scalar());
    }
    return names;
  }

  // `- parallel: [branch, ...]`, where a branch is one step or `steps:`
  // with a list of steps run one after the other. The steps are added in
  // definition order, branch after branch (see RunsBefore).
  absl::Status ParseGroup(const YAML::Node& item, int group,
                          SagaDefinition& def) {
    step_ = "parallel group #" + std::to_string(group + 1);
    absl::Status s = CheckKeys(item, "", {"parallel"});
    if (!s.ok()) return s;
    const YAML::Node branches = item["parallel"];
    if (!branches.IsSequence() || branches.size() < 2) {
      return Error("parallel",
                   "must be a list of at least two branches (each a step, or "
                   "'steps:' with a list of steps)");
    }
    for (size_t b = 0; b < branches.size(); ++b) {
      const std::string branch = "branch #" + std::to_string(b + 1);
      step_ = "parallel group #" + std::to_string(group + 1) + ", " + branch;
      // yaml-cpp's Node assignment writes through to the node it refers
      // to, so the branch's steps are collected, not reassigned.
      const YAML::Node node = branches[b];
      std::vector<YAML::Node> list;
      if (node.IsMap() && node["steps"]) {
        s = CheckKeys(node, "", {"steps"});
        if (!s.ok()) return s;
        const YAML::Node steps = node["steps"];
        if (!steps.IsSequence() || steps.size() == 0) {
          return Error("steps", "must be a non-empty list of steps");
        }
        for (size_t i = 0; i < steps.size(); ++i) list.push_back(steps[i]);
      } else {
        list.push_back(node);
      }
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].IsMap() && list[i]["parallel"]) {
          return Error("parallel", "groups cannot be nested");
        }
        s = ParseStep(list[i], branch + " step #" + std::to_string(i + 1), def);
        if (!s.ok()) return s;
        def.steps.back().group = group;
        def.steps.back().branch = static_cast<int>(b);
      }
    }
    return absl::OkStatus();
  }

  // Parses one step and appends it to def.steps. `position` names it in
  // errors until its name is known.
  absl::Status ParseStep(const YAML::Node& node, const std::string& position,
                         SagaDefinition& def) {
    StepDefinition step;
    absl::Status s = ParseStepFields(node, position, def, step);
    if (!s.ok()) return s;
    def.steps.push_back(std::move(step));
    return absl::OkStatus();
  }

  absl::Status ParseStepFields(const YAML::Node& node,
                               const std::string& position,
                               const SagaDefinition& def,
                               StepDefinition& step) {
    step_ = position;
    if (!node.IsMap()) return Error("", "must be a map");
    if (const YAML::Node name = node["name"]; name && name.IsScalar()) {
      step_ = "step '" + name.Scalar() + "'";
    }
    std::set<std::string> keys = {
        "name",         "kind",       "participant",  "action",
        "compensation", "timeout",    "retry",        "compensation_retry",
        "input",        "completion", "call_timeout", "signal",
        "duration",     "until"};
    // Only a saga step knows `saga_type`.
    if (const YAML::Node kind = node["kind"];
        kind && kind.IsScalar() && kind.Scalar() == "saga") {
      keys.insert("saga_type");
    }
    absl::Status s = CheckKeys(node, "", keys);
    if (!s.ok()) return s;

    s = GetString(node, "name", "name", true, step.name);
    if (!s.ok()) return s;
    if (!IsName(step.name)) {
      return Error("name", "'" + step.name + "' must match [a-z][a-z0-9_]*");
    }
    if (def.StepIndex(step.name) >= 0) {
      return Error("name", "another step already has this name");
    }

    std::string kind;
    s = GetString(node, "kind", "kind", true, kind);
    if (!s.ok()) return s;
    const std::optional<StepKind> parsed_kind = StepKindFromName(kind);
    if (!parsed_kind) {
      return Error("kind",
                   "'" + kind + "' must be one of " + KindNames(nullptr, ", "));
    }
    step.kind = *parsed_kind;
    if (step.kind == StepKind::kSaga) return ParseChildStep(node, step);
    if (!RulesFor(step.kind).calls_participant) {
      return ParseWaitingStep(node, kind, step);
    }
    for (const char* field : {"signal", "duration", "until"}) {
      if (node[field]) {
        return Error(
            field,
            "only wait and delay steps have one (this step is " + kind + ")");
      }
    }
    const StepKindRules& rules = RulesFor(step.kind);

    s = GetString(node, "participant", "participant", true, step.participant);
    if (!s.ok()) return s;
    s = GetString(node, "action", "action", true, step.action);
    if (!s.ok()) return s;

    if (rules.has_compensation) {
      s = GetString(node, "compensation", "compensation", true,
                    step.compensation);
      if (!s.ok()) return s;
    } else if (node["compensation"]) {
      return Error("compensation", OnlyCompensatable(kind));
    }

    if (const YAML::Node timeout = node["timeout"]; timeout) {
      s = GetDuration(timeout, "timeout", step.timeout_ms);
      if (!s.ok()) return s;
    }

    s = ParseCompletion(node, step);
    if (!s.ok()) return s;

    step.retry = RetryPolicy{3, 100, 5000, 2.0, 0.2};
    if (const YAML::Node retry = node["retry"]; retry) {
      s = ParseRetry(retry, "retry", step.retry);
      if (!s.ok()) return s;
    }
    step.compensation_retry = RetryPolicy{10, 100, 5000, 2.0, 0.2};
    if (const YAML::Node retry = node["compensation_retry"]; retry) {
      if (!rules.has_compensation) {
        return Error("compensation_retry", OnlyCompensatable(kind));
      }
      s = ParseRetry(retry, "compensation_retry", step.compensation_retry);
      if (!s.ok()) return s;
    }

    return ParseInput(node, step);
  }

  // `input`: the step's input fields and their source paths (checked
  // against the earlier steps by CheckSources).
  absl::Status ParseInput(const YAML::Node& node, StepDefinition& step) {
    if (const YAML::Node input = node["input"]; input && !input.IsNull()) {
      if (!input.IsMap()) {
        return Error("input", "must be a map of field: source path");
      }
      absl::Status s = CheckKeys(input, "input.", FieldNames(input));
      if (!s.ok()) return s;
      for (const auto& entry : input) {
        const std::string target = entry.first.Scalar();
        const std::string field = "input." + target;
        if (!IsFieldName(target)) {
          return Error(field, "is not a valid field name");
        }
        if (!entry.second.IsScalar() || entry.second.Scalar().empty()) {
          return Error(field, "must be a source path such as input.<field>");
        }
        step.input.push_back({target, entry.second.Scalar()});
      }
    }
    return absl::OkStatus();
  }

  // A saga step (child_saga.h): `saga_type` (checked against the other
  // definitions by CheckChildSagas), `input`, `timeout` (default: none;
  // each attempt's wait for the child), `retry` and `compensation_retry`
  // (the rollback of the child, checked until it is COMPENSATED).
  absl::Status ParseChildStep(const YAML::Node& node, StepDefinition& step) {
    for (const char* field : {"participant", "action", "completion",
                              "call_timeout", "signal", "duration", "until"}) {
      if (node[field]) {
        return Error(field,
                     "a saga step starts a child saga instead of calling a "
                     "participant, so it has none");
      }
    }
    if (node["compensation"]) {
      return Error("compensation",
                   "a saga step has none: rolling it back rolls its child "
                   "saga back");
    }
    absl::Status s =
        GetString(node, "saga_type", "saga_type", true, step.saga_type);
    if (!s.ok()) return s;
    if (!IsName(step.saga_type)) {
      return Error("saga_type",
                   "'" + step.saga_type + "' must match [a-z][a-z0-9_]*");
    }
    s = GetOptionalTimeout(node, step);
    if (!s.ok()) return s;
    // The call is the child's start, in the orchestrator's own database.
    step.async_completion = true;
    if (step.timeout_ms > 0) {
      step.call_timeout_ms = std::min(step.call_timeout_ms, step.timeout_ms);
    }
    step.retry = RetryPolicy{3, 100, 5000, 2.0, 0.2};
    if (const YAML::Node retry = node["retry"]; retry) {
      s = ParseRetry(retry, "retry", step.retry);
      if (!s.ok()) return s;
    }
    step.compensation_retry = RetryPolicy{10, 100, 5000, 2.0, 0.2};
    if (const YAML::Node retry = node["compensation_retry"]; retry) {
      s = ParseRetry(retry, "compensation_retry", step.compensation_retry);
      if (!s.ok()) return s;
    }
    return ParseInput(node, step);
  }

  // The `timeout` of a step that may wait without bound (a wait or a saga
  // step): none (0) unless given.
  absl::Status GetOptionalTimeout(const YAML::Node& node,
                                  StepDefinition& step) {
    step.timeout_ms = 0;
    const YAML::Node timeout = node["timeout"];
    return timeout ? GetDuration(timeout, "timeout", step.timeout_ms)
                   : absl::OkStatus();
  }

  // A step that waits in the orchestrator instead of calling anyone: `wait`
  // for a signal (`signal`, default its own name; `timeout`, default none)
  // or `delay` for a `duration` or `until` a time found at a source path.
  absl::Status ParseWaitingStep(const YAML::Node& node, const std::string& kind,
                                StepDefinition& step) {
    for (const char* field :
         {"participant", "action", "compensation", "retry",
          "compensation_retry", "input", "completion", "call_timeout"}) {
      if (node[field]) {
        return Error(
            field, "a " + kind + " step calls no participant, so it has none");
      }
    }
    absl::Status s;
    if (step.kind == StepKind::kWait) {
      for (const char* field : {"duration", "until"}) {
        if (node[field]) {
          return Error(field, "only delay steps have one (this step is wait)");
        }
      }
      step.signal = step.name;
      s = GetString(node, "signal", "signal", false, step.signal);
      if (!s.ok()) return s;
      if (!IsName(step.signal)) {
        return Error("signal",
                     "'" + step.signal + "' must match [a-z][a-z0-9_]*");
      }
      return GetOptionalTimeout(node, step);
    }
    for (const char* field : {"signal", "timeout"}) {
      if (node[field]) {
        return Error(field,
                     "a delay step has none (it waits for its "
                     "duration, or until its time)");
      }
    }
    if (node["duration"].IsDefined() == node["until"].IsDefined()) {
      return Error("duration",
                   "a delay step needs exactly one of duration (e.g. 10m) and "
                   "until (a source path such as input.start_at)");
    }
    if (const YAML::Node duration = node["duration"]; duration) {
      return GetDuration(duration, "duration", step.delay_ms);
    }
    return GetString(node, "until", "until", true, step.until);
  }

  // `completion` (sync, the default, or async) and `call_timeout`, which
  // only an asynchronous step has: its `timeout` bounds the wait for the
  // completion, so the call needs a deadline of its own.
  absl::Status ParseCompletion(const YAML::Node& node, StepDefinition& step) {
    std::string completion = "sync";
    absl::Status s =
        GetString(node, "completion", "completion", false, completion);
    if (!s.ok()) return s;
    if (completion != "sync" && completion != "async") {
      return Error("completion",
                   "'" + completion + "' must be one of sync, async");
    }
    step.async_completion = completion == "async";
    const YAML::Node call_timeout = node["call_timeout"];
    if (!call_timeout) {
      step.call_timeout_ms = std::min(step.call_timeout_ms, step.timeout_ms);
      return absl::OkStatus();
    }
    if (!step.async_completion) {
      return Error("call_timeout",
                   "only steps with 'completion: async' have one (the "
                   "timeout of a synchronous step is its call's deadline)");
    }
    s = GetDuration(call_timeout, "call_timeout", step.call_timeout_ms);
    if (!s.ok()) return s;
    if (step.call_timeout_ms > step.timeout_ms) {
      return Error("call_timeout",
                   "must not be longer than timeout (" +
                       std::to_string(step.timeout_ms) +
                       "ms), the bound of the whole wait for the completion");
    }
    return absl::OkStatus();
  }

  // Where each kind may stand relative to the pivot (see step_kind.h).
  absl::Status CheckStepOrder(const SagaDefinition& def) {
    int pivot = -1;
    for (size_t i = 0; i < def.steps.size(); ++i) {
      const StepDefinition& step = def.steps[i];
      const StepKindRules& rules = RulesFor(step.kind);
      step_ = "step '" + step.name + "'";
      if (rules.is_pivot && step.group >= 0) {
        return Error("kind",
                     "a pivot cannot run in a parallel group: the other "
                     "branches could still fail once it succeeded, and "
                     "nothing after the point of no return may be undone");
      }
      if (rules.is_pivot) {
        if (pivot >= 0) {
          return Error("kind", "a saga has at most one pivot, and '" +
                                   def.steps[pivot].name + "' is one");
        }
        pivot = static_cast<int>(i);
      } else if (pivot < 0 && !rules.may_precede_pivot) {
        return Error("kind", std::string("a ") + rules.name +
                                 " step must come after the pivot (it "
                                 "cannot be undone)");
      } else if (pivot >= 0 && !rules.may_follow_pivot) {
        return Error(
            "kind",
            "only " + KindNames(&StepKindRules::may_follow_pivot, " or ") +
                " steps may follow the pivot '" + def.steps[pivot].name +
                "', not " + rules.name + " ones");
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckSources(const SagaDefinition& def, size_t index) {
    const StepDefinition& step = def.steps[index];
    step_ = "step '" + step.name + "'";
    std::vector<InputMapping> sources = step.input;
    if (!step.until.empty()) sources.push_back({"", step.until});
    for (const InputMapping& m : sources) {
      const std::string field =
          m.target.empty() ? "until" : "input." + m.target;
      absl::StatusOr<InputPath> path = ParseInputPath(m.source);
      if (!path.ok()) return Error(field, std::string(path.status().message()));
      if (path->root == InputPath::Root::kSagaInput) continue;
      const int from = def.StepIndex(path->step);
      if (from < 0) {
        return Error(field, "source '" + m.source + "' names unknown step '" +
                                path->step + "'");
      }
      if (static_cast<size_t>(from) < index &&
          !RunsBefore(def, from, static_cast<int>(index))) {
        return Error(field, "source '" + m.source + "' names step '" +
                                path->step +
                                "', which runs in another branch of the same "
                                "parallel group: its output may not exist yet "
                                "when '" +
                                step.name + "' starts");
      }
      if (static_cast<size_t>(from) >= index) {
        return Error(field, "source '" + m.source +
                                "' must name an earlier step, and '" +
                                path->step + "' does not come before '" +
                                step.name + "'");
      }
    }
    return absl::OkStatus();
  }

  std::string source_;
  std::string step_;  // "step 'x'" while checking a step, else empty
};

}  // namespace

absl::StatusOr<SagaDefinition> ParseDefinition(const std::string& yaml_text,
                                               const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(source_name + ": invalid YAML at line " +
                                      std::to_string(e.mark.line + 1) + ": " +
                                      e.msg);
  }
  try {
    return Parser(source_name).Parse(root);
  } catch (const YAML::Exception& e) {
    // Conversions are checked field by field; this is a safety net for
    // malformed documents yaml-cpp only notices on access.
    return absl::InvalidArgumentError(source_name + ": " + e.msg);
  }
}

absl::StatusOr<SagaDefinition> LoadDefinitionFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError("cannot read " + path + ": " +
                               std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError("error reading " + path);
  }
  return ParseDefinition(text.str(), path);
}

absl::StatusOr<std::vector<SagaDefinition>> LoadDefinitionDir(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError("definitions directory " + dir +
                               " does not exist or is not a directory");
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string ext = p.extension().string();
    if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file(ec)) {
      files.push_back((fs::path(dir) / p.filename()).string());
    }
  }
  if (ec) {
    return absl::UnavailableError("cannot list " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());

  std::vector<SagaDefinition> definitions;
  std::map<std::string, std::string> file_of;
  for (const std::string& file : files) {
    absl::StatusOr<SagaDefinition> def = LoadDefinitionFile(file);
    if (!def.ok()) return def.status();
    auto [it, inserted] = file_of.emplace(def->name, file);
    if (!inserted) {
      return absl::InvalidArgumentError(file + ": saga '" + def->name +
                                        "' is already defined in " +
                                        it->second);
    }
    definitions.push_back(*std::move(def));
  }
  std::vector<SourcedDefinition> sourced;
  for (const SagaDefinition& def : definitions) {
    sourced.push_back({file_of.at(def.name), &def});
  }
  absl::Status linked = CheckChildSagas(sourced);
  if (!linked.ok()) return linked;
  return definitions;
}

}  // namespace saga::core
