#include "orchestrator/core/events.h"

#include <array>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/strict_json.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::pair<EventType, const char*>, 18> kEventNames = {{
    {EventType::kSagaStarted, "SagaStarted"},
    {EventType::kStepStarted, "StepStarted"},
    {EventType::kStepSucceeded, "StepSucceeded"},
    {EventType::kStepFailed, "StepFailed"},
    {EventType::kRetryScheduled, "RetryScheduled"},
    {EventType::kCancelRequested, "CancelRequested"},
    {EventType::kCompensationStarted, "CompensationStarted"},
    {EventType::kCompensationStepStarted, "CompensationStepStarted"},
    {EventType::kCompensationStepSucceeded, "CompensationStepSucceeded"},
    {EventType::kCompensationStepFailed, "CompensationStepFailed"},
    {EventType::kCompensationRetryScheduled, "CompensationRetryScheduled"},
    {EventType::kSagaCompleted, "SagaCompleted"},
    {EventType::kSagaCompensated, "SagaCompensated"},
    {EventType::kSagaFailed, "SagaFailed"},
    {EventType::kOperatorAction, "OperatorAction"},
    {EventType::kSignalReceived, "SignalReceived"},
    {EventType::kDeadlinePassed, "DeadlinePassed"},
    {EventType::kStepAccepted, "StepAccepted"},
}};

bool IsStepEvent(EventType type) {
  switch (type) {
    case EventType::kStepStarted:
    case EventType::kStepSucceeded:
    case EventType::kStepFailed:
    case EventType::kRetryScheduled:
    case EventType::kCompensationStepStarted:
    case EventType::kCompensationStepSucceeded:
    case EventType::kCompensationStepFailed:
    case EventType::kCompensationRetryScheduled:
    case EventType::kStepAccepted:
      return true;
    default:
      return false;
  }
}

// Embedded JSON documents (saga input, step output) are stored as JSON
// values so the history is queryable; text that is not JSON (a misbehaving
// participant) is kept verbatim under a separate key so it still
// round-trips.
void PutDocument(Json& data, const char* key, const char* raw_key,
                 const std::string& text) {
  if (text.empty()) return;
  absl::StatusOr<Json> parsed = ParseStrictJson(text, key);
  if (parsed.ok()) {
    data[key] = *std::move(parsed);
  } else {
    data[raw_key] = text;
  }
}

// The JSON type a field of type T must have: its check and its name for the
// error message.
template <typename T>
std::pair<bool, const char*> CheckKind(const Json& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return {value.is_string(), "a string"};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {value.is_boolean(), "a boolean"};
  } else {
    static_assert(std::is_integral_v<T>);
    return {value.is_number_integer(), "an integer"};
  }
}

// An optional field: absent leaves `out` as it is; present of another type
// is an error that names the field.
template <typename T>
absl::Status Get(const Json& data, const char* key, T& out) {
  auto it = data.find(key);
  if (it == data.end()) return absl::OkStatus();
  if (auto [holds, kind] = CheckKind<T>(*it); !holds) {
    return absl::InvalidArgumentError(std::string("event field '") + key +
                                      "' must be " + kind);
  }
  out = it->get<T>();
  return absl::OkStatus();
}

absl::Status GetDocument(const Json& data, const char* key, const char* raw_key,
                         std::string& out) {
  if (auto it = data.find(key); it != data.end()) {
    out = it->dump(-1, ' ', false, Json::error_handler_t::replace);
    return absl::OkStatus();
  }
  return Get(data, raw_key, out);
}

}  // namespace

const char* EventTypeName(EventType type) {
  for (const auto& [t, name] : kEventNames) {
    if (t == type) return name;
  }
  return "Unknown";
}

absl::StatusOr<EventType> ParseEventType(const std::string& name) {
  for (const auto& [t, n] : kEventNames) {
    if (name == n) return t;
  }
  return absl::InvalidArgumentError("unknown event type '" + name + "'");
}

std::string EncodeEventData(const Event& event) {
  Json data = Json::object();
  switch (event.type) {
    case EventType::kSagaStarted:
      data["saga_type"] = event.saga_type;
      data["definition_version"] = event.definition_version;
      PutDocument(data, "input", "input_text", event.input_json);
      // Only when set, so histories without one encode as they always did.
      if (!event.traceparent.empty()) data["traceparent"] = event.traceparent;
      if (!event.tracestate.empty()) data["tracestate"] = event.tracestate;
      if (!event.started_by.empty()) data["started_by"] = event.started_by;
      if (event.due_ms != 0) data["start_at_ms"] = event.due_ms;
      if (!event.parent_saga_id.empty()) {
        data["parent_saga_id"] = event.parent_saga_id;
        data["parent_step"] = event.parent_step;
      }
      if (!event.business_key.empty()) {
        data["business_key"] = event.business_key;
      }
      if (!event.rerun_of.empty()) {
        data["rerun_of"] = event.rerun_of;
        data["operator"] = event.operator_name;
        data["reason"] = event.error;
      }
      break;
    case EventType::kStepStarted:
      // Only when set, so other histories encode as before.
      if (event.due_ms != 0) data["due_ms"] = event.due_ms;
      if (!event.completion_token.empty()) {
        data["completion_token"] = event.completion_token;
      }
      break;
    case EventType::kStepSucceeded:
      PutDocument(data, "output", "output_text", event.output_json);
      if (!event.signal_key.empty()) data["signal_key"] = event.signal_key;
      break;
    case EventType::kSignalReceived:
      data["signal"] = event.signal_name;
      data["key"] = event.signal_key;
      PutDocument(data, "payload", "payload_text", event.output_json);
      break;
    case EventType::kDeadlinePassed:
      data["reason"] = event.error;
      break;
    case EventType::kStepFailed:
      data["error"] = event.error;
      data["retryable"] = event.retryable;
      data["outcome_unknown"] = event.outcome_unknown;
      break;
    case EventType::kRetryScheduled:
    case EventType::kCompensationRetryScheduled:
      data["due_ms"] = event.due_ms;
      break;
    case EventType::kCompensationStepFailed:
      data["error"] = event.error;
      break;
    case EventType::kCancelRequested:
    case EventType::kCompensationStarted:
    case EventType::kSagaCompensated:
    case EventType::kSagaFailed:
      data["reason"] = event.error;
      break;
    case EventType::kOperatorAction:
      data["action"] = event.operator_action;
      data["operator"] = event.operator_name;
      data["reason"] = event.error;
      break;
    case EventType::kStepAccepted:
      if (!event.child_saga_id.empty()) {
        data["child_saga_id"] = event.child_saga_id;
      }
      break;
    case EventType::kCompensationStepStarted:
    case EventType::kCompensationStepSucceeded:
    case EventType::kSagaCompleted:
      break;
  }
  return data.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Event WithoutSecrets(Event event) {
  if (!event.completion_token.empty()) event.completion_token = kRedacted;
  return event;
}

absl::StatusOr<Event> DecodeEvent(const std::string& type_name, int64_t seq,
                                  int64_t at_ms, int step, int attempt,
                                  const std::string& data_json) {
  absl::StatusOr<EventType> type = ParseEventType(type_name);
  if (!type.ok()) return type.status();
  Event event;
  event.type = *type;
  event.seq = seq;
  event.at_ms = at_ms;
  event.step = step;
  event.attempt = attempt;
  if (IsStepEvent(event.type) && step < 0) {
    return absl::InvalidArgumentError(std::string("event ") + type_name + " #" +
                                      std::to_string(seq) + " has no step");
  }

  Json data = Json::object();
  if (!data_json.empty()) {
    data = Json::parse(data_json, nullptr, /*allow_exceptions=*/false);
    if (data.is_discarded() || !data.is_object()) {
      return absl::InvalidArgumentError(std::string("event ") + type_name +
                                        " #" + std::to_string(seq) +
                                        ": data is not a JSON object");
    }
  }

  absl::Status status;
  switch (event.type) {
    case EventType::kSagaStarted:
      status.Update(Get(data, "saga_type", event.saga_type));
      status.Update(Get(data, "definition_version", event.definition_version));
      status.Update(GetDocument(data, "input", "input_text", event.input_json));
      status.Update(Get(data, "traceparent", event.traceparent));
      status.Update(Get(data, "tracestate", event.tracestate));
      status.Update(Get(data, "started_by", event.started_by));
      status.Update(Get(data, "start_at_ms", event.due_ms));
      status.Update(Get(data, "parent_saga_id", event.parent_saga_id));
      status.Update(Get(data, "parent_step", event.parent_step));
      status.Update(Get(data, "business_key", event.business_key));
      status.Update(Get(data, "rerun_of", event.rerun_of));
      status.Update(Get(data, "operator", event.operator_name));
      status.Update(Get(data, "reason", event.error));
      break;
    case EventType::kStepStarted:
      status.Update(Get(data, "due_ms", event.due_ms));
      status.Update(Get(data, "completion_token", event.completion_token));
      break;
    case EventType::kStepSucceeded:
      status.Update(
          GetDocument(data, "output", "output_text", event.output_json));
      status.Update(Get(data, "signal_key", event.signal_key));
      break;
    case EventType::kSignalReceived:
      status.Update(Get(data, "signal", event.signal_name));
      status.Update(Get(data, "key", event.signal_key));
      status.Update(
          GetDocument(data, "payload", "payload_text", event.output_json));
      break;
    case EventType::kDeadlinePassed:
      status.Update(Get(data, "reason", event.error));
      break;
    case EventType::kStepFailed:
      status.Update(Get(data, "error", event.error));
      status.Update(Get(data, "retryable", event.retryable));
      status.Update(Get(data, "outcome_unknown", event.outcome_unknown));
      break;
    case EventType::kRetryScheduled:
    case EventType::kCompensationRetryScheduled:
      status.Update(Get(data, "due_ms", event.due_ms));
      break;
    case EventType::kCompensationStepFailed:
      status.Update(Get(data, "error", event.error));
      break;
    case EventType::kCancelRequested:
    case EventType::kCompensationStarted:
    case EventType::kSagaCompensated:
    case EventType::kSagaFailed:
      status.Update(Get(data, "reason", event.error));
      break;
    case EventType::kOperatorAction:
      status.Update(Get(data, "action", event.operator_action));
      status.Update(Get(data, "operator", event.operator_name));
      status.Update(Get(data, "reason", event.error));
      break;
    case EventType::kStepAccepted:
      status.Update(Get(data, "child_saga_id", event.child_saga_id));
      break;
    case EventType::kCompensationStepStarted:
    case EventType::kCompensationStepSucceeded:
    case EventType::kSagaCompleted:
      break;
  }
  if (!status.ok()) {
    return absl::InvalidArgumentError(std::string("event ") + type_name + " #" +
                                      std::to_string(seq) + ": " +
                                      std::string(status.message()));
  }
  return event;
}

}  // namespace saga::core
