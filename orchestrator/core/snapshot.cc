#include "orchestrator/core/snapshot.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace saga::core {
namespace {

using Json = nlohmann::json;

constexpr StepStatus kLastStepStatus = StepStatus::kWaiting;
constexpr SagaStatus kLastSagaStatus = SagaStatus::kFailed;

// Writes a field only when it differs from its default, so a snapshot of a
// saga with few steps done stays small.
class Writer {
 public:
  explicit Writer(Json& object) : object_(object) {}
  Writer& Str(const char* key, const std::string& value) {
    if (!value.empty()) object_[key] = value;
    return *this;
  }
  Writer& Int(const char* key, int64_t value, int64_t default_value = 0) {
    if (value != default_value) object_[key] = value;
    return *this;
  }
  Writer& Bool(const char* key, bool value) {
    if (value) object_[key] = true;
    return *this;
  }

 private:
  Json& object_;
};

// Reads fields with their defaults; the first wrong type is kept as the
// error and later reads are no-ops.
class Reader {
 public:
  Reader(const Json& object, std::string where, absl::Status& error)
      : object_(object), where_(std::move(where)), error_(error) {
    if (!object_.is_object()) Fail("", "an object");
  }
  void Str(const char* key, std::string& out) {
    if (const Json* value = Find(key)) {
      if (value->is_string()) {
        out = value->get_ref<const std::string&>();
      } else {
        Fail(key, "a string");
      }
    }
  }
  template <typename Integer>
  void Int(const char* key, Integer& out) {
    if (const Json* value = Find(key)) {
      if (value->is_number_integer()) {
        const int64_t number = value->get<int64_t>();
        out = static_cast<Integer>(number);
        if (static_cast<int64_t>(out) != number) Fail(key, "in range");
      } else {
        Fail(key, "an integer");
      }
    }
  }
  void Bool(const char* key, bool& out) {
    if (const Json* value = Find(key)) {
      if (value->is_boolean()) {
        out = value->get<bool>();
      } else {
        Fail(key, "a boolean");
      }
    }
  }
  // The array under `key` (null when absent or after an error).
  const Json* Array(const char* key) {
    const Json* value = Find(key);
    if (value != nullptr && !value->is_array()) {
      Fail(key, "an array");
      return nullptr;
    }
    return value;
  }
  void Fail(const std::string& key, const std::string& expected) {
    if (!error_.ok()) return;
    std::string path = where_;
    if (!key.empty()) path += (path.empty() ? "" : ".") + key;
    error_ = absl::InvalidArgumentError(
        (path.empty() ? "snapshot" : "snapshot: " + path) + " must be " +
        expected);
  }

 private:
  const Json* Find(const char* key) const {
    if (!error_.ok() || !object_.is_object()) return nullptr;
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  const Json& object_;
  std::string where_;
  absl::Status& error_;
};

template <typename Enum>
void ReadEnum(Reader& reader, const char* key, Enum& out, Enum last,
              const char* (*name_of)(Enum)) {
  std::string name;
  reader.Str(key, name);
  if (name.empty()) return;  // the default
  for (int i = 0; i <= static_cast<int>(last); ++i) {
    if (name == name_of(static_cast<Enum>(i))) {
      out = static_cast<Enum>(i);
      return;
    }
  }
  reader.Fail(key, "a known status");
}

Json EncodeStep(const StepState& step) {
  Json out = Json::object();
  if (step.status != StepStatus::kPending) {
    out["status"] = StepStatusName(step.status);
  }
  Writer(out)
      .Int("attempts", step.attempts)
      .Int("compensation_attempts", step.compensation_attempts)
      .Bool("outcome_unknown", step.outcome_unknown)
      .Str("output", step.output_json)
      .Str("error", step.error)
      .Int("started_ms", step.started_ms)
      .Int("ended_ms", step.ended_ms)
      .Int("round_started_ms", step.round_started_ms)
      .Int("ended_seq", step.ended_seq)
      .Str("child_saga_id", step.child_saga_id)
      .Int("earlier_attempts", step.earlier_attempts)
      .Int("earlier_compensation_attempts", step.earlier_compensation_attempts);
  return out;
}

void DecodeStep(Reader& in, StepState& step) {
  ReadEnum(in, "status", step.status, kLastStepStatus, StepStatusName);
  in.Int("attempts", step.attempts);
  in.Int("compensation_attempts", step.compensation_attempts);
  in.Bool("outcome_unknown", step.outcome_unknown);
  in.Str("output", step.output_json);
  in.Str("error", step.error);
  in.Int("started_ms", step.started_ms);
  in.Int("ended_ms", step.ended_ms);
  in.Int("round_started_ms", step.round_started_ms);
  in.Int("ended_seq", step.ended_seq);
  in.Str("child_saga_id", step.child_saga_id);
  in.Int("earlier_attempts", step.earlier_attempts);
  in.Int("earlier_compensation_attempts", step.earlier_compensation_attempts);
}

Json EncodeActive(const ActiveStep& active) {
  Json out = {{"step", active.step}};
  Writer(out)
      .Bool("call_in_flight", active.call_in_flight)
      .Int("in_flight_attempt", active.in_flight_attempt)
      .Int("in_flight_deadline_ms", active.in_flight_deadline_ms)
      .Str("completion_token", active.completion_token)
      .Bool("awaiting_completion", active.awaiting_completion)
      .Int("completion_due_ms", active.completion_due_ms)
      .Int("retry_due_ms", active.retry_due_ms)
      .Int("retry_attempt", active.retry_attempt)
      .Int("wait_due_ms", active.wait_due_ms);
  return out;
}

void DecodeActive(Reader& in, ActiveStep& active) {
  in.Int("step", active.step);
  in.Bool("call_in_flight", active.call_in_flight);
  in.Int("in_flight_attempt", active.in_flight_attempt);
  in.Int("in_flight_deadline_ms", active.in_flight_deadline_ms);
  in.Str("completion_token", active.completion_token);
  in.Bool("awaiting_completion", active.awaiting_completion);
  in.Int("completion_due_ms", active.completion_due_ms);
  in.Int("retry_due_ms", active.retry_due_ms);
  in.Int("retry_attempt", active.retry_attempt);
  in.Int("wait_due_ms", active.wait_due_ms);
}

Json EncodeSignal(const ReceivedSignal& signal) {
  Json out = Json::object();
  Writer(out)
      .Str("name", signal.name)
      .Str("key", signal.key)
      .Str("payload", signal.payload_json)
      .Int("received_ms", signal.received_ms)
      .Int("consumed_by", signal.consumed_by, -1);
  return out;
}

void DecodeSignal(Reader& in, ReceivedSignal& signal) {
  in.Str("name", signal.name);
  in.Str("key", signal.key);
  in.Str("payload", signal.payload_json);
  in.Int("received_ms", signal.received_ms);
  in.Int("consumed_by", signal.consumed_by);
}

// Decodes array `key` of `in` into `out`, one element per entry.
template <typename T, typename Decode>
void DecodeArray(Reader& in, const char* key, std::vector<T>& out,
                 absl::Status& error, Decode decode) {
  const Json* array = in.Array(key);
  if (array == nullptr) return;
  out.resize(array->size());
  for (size_t i = 0; i < array->size() && error.ok(); ++i) {
    Reader element((*array)[i],
                   std::string(key) + "[" + std::to_string(i) + "]", error);
    decode(element, out[i]);
  }
}

bool ValidStep(int step, const SagaDefinition& definition) {
  return step >= 0 && static_cast<size_t>(step) < definition.steps.size();
}

}  // namespace

bool SagaRests(const SagaState& state) {
  if (IsTerminal(state.status)) return false;
  if (state.active.empty()) return state.start_due_ms > 0;
  return std::none_of(
      state.active.begin(), state.active.end(),
      [](const ActiveStep& active) { return active.call_in_flight; });
}

std::string EncodeSnapshot(const SagaState& state) {
  Json out = {{"format", kSnapshotFormat},
              {"saga_type", state.saga_type},
              {"definition_version", state.definition_version},
              {"status", SagaStatusName(state.status)},
              {"last_seq", state.last_seq}};
  Writer(out)
      .Str("input", state.input_json)
      .Str("traceparent", state.traceparent)
      .Str("tracestate", state.tracestate)
      .Str("started_by", state.started_by)
      .Str("parent_saga_id", state.parent_saga_id)
      .Str("parent_step", state.parent_step)
      .Str("business_key", state.business_key)
      .Str("rerun_of", state.rerun_of)
      .Int("created_ms", state.created_ms)
      .Int("updated_ms", state.updated_ms)
      .Int("start_due_ms", state.start_due_ms)
      .Int("deadline_ms", state.deadline_ms)
      .Bool("deadline_passed", state.deadline_passed)
      .Bool("cancel_requested", state.cancel_requested)
      .Str("reason", state.reason)
      .Str("rollback_reason", state.rollback_reason);
  Json& steps = out["steps"] = Json::array();
  for (const StepState& step : state.steps) steps.push_back(EncodeStep(step));
  if (!state.active.empty()) {
    Json& active = out["active"] = Json::array();
    for (const ActiveStep& entry : state.active) {
      active.push_back(EncodeActive(entry));
    }
  }
  if (!state.signals.empty()) {
    Json& signals = out["signals"] = Json::array();
    for (const ReceivedSignal& signal : state.signals) {
      signals.push_back(EncodeSignal(signal));
    }
  }
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<SagaState> DecodeSnapshot(const SagaDefinition& definition,
                                         const std::string& saga_id,
                                         const std::string& json) {
  const Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("snapshot: not valid JSON");
  }
  absl::Status error;
  Reader in(parsed, "", error);
  int format = 0;
  in.Int("format", format);
  if (error.ok() && format != kSnapshotFormat) {
    return absl::InvalidArgumentError(
        "snapshot: format " + std::to_string(format) + ", this build reads " +
        std::to_string(kSnapshotFormat));
  }
  SagaState state;
  state.saga_id = saga_id;
  in.Str("saga_type", state.saga_type);
  in.Int("definition_version", state.definition_version);
  ReadEnum(in, "status", state.status, kLastSagaStatus, SagaStatusName);
  in.Int("last_seq", state.last_seq);
  in.Str("input", state.input_json);
  in.Str("traceparent", state.traceparent);
  in.Str("tracestate", state.tracestate);
  in.Str("started_by", state.started_by);
  in.Str("parent_saga_id", state.parent_saga_id);
  in.Str("parent_step", state.parent_step);
  in.Str("business_key", state.business_key);
  in.Str("rerun_of", state.rerun_of);
  in.Int("created_ms", state.created_ms);
  in.Int("updated_ms", state.updated_ms);
  in.Int("start_due_ms", state.start_due_ms);
  in.Int("deadline_ms", state.deadline_ms);
  in.Bool("deadline_passed", state.deadline_passed);
  in.Bool("cancel_requested", state.cancel_requested);
  in.Str("reason", state.reason);
  in.Str("rollback_reason", state.rollback_reason);
  DecodeArray(in, "steps", state.steps, error, DecodeStep);
  DecodeArray(in, "active", state.active, error, DecodeActive);
  DecodeArray(in, "signals", state.signals, error, DecodeSignal);
  if (!error.ok()) return error;

  // It must be a state of this definition, or Apply could index past it.
  if (state.saga_type != definition.name ||
      state.definition_version != definition.version) {
    return absl::InvalidArgumentError("snapshot: of " + state.saga_type + " v" +
                                      std::to_string(state.definition_version) +
                                      ", not of " + definition.name + " v" +
                                      std::to_string(definition.version));
  }
  if (state.steps.size() != definition.steps.size()) {
    return absl::InvalidArgumentError(
        "snapshot: " + std::to_string(state.steps.size()) +
        " steps, the definition has " +
        std::to_string(definition.steps.size()));
  }
  for (const ActiveStep& active : state.active) {
    if (!ValidStep(active.step, definition)) {
      return absl::InvalidArgumentError("snapshot: active step " +
                                        std::to_string(active.step) +
                                        " is out of range");
    }
  }
  for (const ReceivedSignal& signal : state.signals) {
    if (signal.consumed_by != -1 &&
        !ValidStep(signal.consumed_by, definition)) {
      return absl::InvalidArgumentError("snapshot: a signal consumed by step " +
                                        std::to_string(signal.consumed_by) +
                                        " is out of range");
    }
  }
  return state;
}

}  // namespace saga::core
