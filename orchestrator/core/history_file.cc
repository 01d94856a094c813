#include "orchestrator/core/history_file.h"

#include <utility>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/strict_json.h"

namespace saga::core {
namespace {

// Ordered so that the document reads top-down (format, saga, definition,
// events) and diffs of golden files stay small.
using OrderedJson = nlohmann::ordered_json;
using Json = nlohmann::json;

std::string Dump(const OrderedJson& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// A JSON text as a value; text that is not JSON stays a string so nothing
// is lost, and empty text is null.
OrderedJson Embed(const std::string& text) {
  if (text.empty()) return nullptr;
  OrderedJson parsed =
      OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return text;
  return parsed;
}

std::string Unembed(const Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

OrderedJson EventJson(const Event& event, const SagaDefinition& definition) {
  OrderedJson out = OrderedJson::object();
  out["seq"] = event.seq;
  out["type"] = EventTypeName(event.type);
  if (event.step < 0) {
    out["step"] = nullptr;
  } else if (static_cast<size_t>(event.step) < definition.steps.size()) {
    out["step"] = definition.steps[event.step].name;
  } else {
    out["step"] = event.step;
  }
  out["attempt"] = event.attempt;
  out["at_ms"] = event.at_ms;
  out["data"] = OrderedJson::parse(EncodeEventData(event), nullptr,
                                   /*allow_exceptions=*/false);
  return out;
}

class Reader {
 public:
  explicit Reader(std::string source_name)
      : source_name_(std::move(source_name)) {}

  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(source_name_ + ": " + what);
  }

  // `where` names the field in messages, e.g. "saga.saga_id".
  absl::Status Object(const Json& parent, const char* key,
                      const std::string& where, const Json*& out) const {
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_object()) {
      return Error("field '" + where + "' must be an object");
    }
    out = &*it;
    return absl::OkStatus();
  }

  absl::Status String(const Json& parent, const char* key,
                      const std::string& where, std::string& out) const {
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_string()) {
      return Error("field '" + where + "' must be a string");
    }
    out = it->get<std::string>();
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(const Json& parent, const char* key,
                       const std::string& where, Int& out) const {
    auto it = parent.find(key);
    if (it == parent.end() || !it->is_number_integer()) {
      return Error("field '" + where + "' must be an integer");
    }
    out = it->get<Int>();
    return absl::OkStatus();
  }

  const std::string& source_name() const { return source_name_; }

 private:
  std::string source_name_;
};

absl::StatusOr<Event> ReadEvent(const Reader& reader, const Json& value,
                                size_t index,
                                const SagaDefinition& definition) {
  const std::string where = "event " + std::to_string(index);
  if (!value.is_object()) return reader.Error(where + ": not an object");
  int64_t seq = 0;
  std::string type;
  int attempt = 0;
  int64_t at_ms = 0;
  absl::Status status = reader.Integer(value, "seq", where + ".seq", seq);
  const std::string label =
      where + (status.ok() ? " (seq " + std::to_string(seq) + ")" : "");
  status.Update(reader.String(value, "type", label + ".type", type));
  status.Update(reader.Integer(value, "attempt", label + ".attempt", attempt));
  status.Update(reader.Integer(value, "at_ms", label + ".at_ms", at_ms));
  if (!status.ok()) return status;

  int step = -1;
  auto step_it = value.find("step");
  if (step_it != value.end() && !step_it->is_null()) {
    if (!step_it->is_string()) {
      return reader.Error(label + ": field 'step' must be a step name or null");
    }
    const std::string name = step_it->get<std::string>();
    step = definition.StepIndex(name);
    if (step < 0) {
      return reader.Error(label + ": step '" + name + "' is not a step of " +
                          definition.name + " version " +
                          std::to_string(definition.version));
    }
  }

  std::string data = "{}";
  if (auto data_it = value.find("data"); data_it != value.end()) {
    if (!data_it->is_object()) {
      return reader.Error(label + ": field 'data' must be an object");
    }
    data = data_it->dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  absl::StatusOr<Event> event =
      DecodeEvent(type, seq, at_ms, step, attempt, data);
  if (!event.ok()) {
    return reader.Error(label + ": " + std::string(event.status().message()));
  }
  return event;
}

}  // namespace

std::string EncodeHistoryEvent(const Event& event,
                               const SagaDefinition& definition) {
  return Dump(EventJson(event, definition), -1);
}

namespace {

// The document EncodeHistory and EncodeHistoryLine print.
absl::StatusOr<OrderedJson> HistoryDocument(const History& history) {
  const SagaDefinition& definition = history.definition;
  OrderedJson saga = OrderedJson::object();
  saga["saga_id"] = history.saga.saga_id;
  saga["saga_type"] = history.saga.saga_type;
  saga["definition_version"] = history.saga.definition_version;
  saga["status"] = history.saga.status;
  saga["input"] = Embed(history.saga.input_json);

  OrderedJson def = OrderedJson::object();
  def["saga_type"] = definition.name;
  def["version"] = definition.version;
  def["source_yaml"] = history.definition_source;

  OrderedJson events = OrderedJson::array();
  for (size_t i = 0; i < history.events.size(); ++i) {
    const Event& event = history.events[i];
    if (event.step >= 0 &&
        static_cast<size_t>(event.step) >= definition.steps.size()) {
      return absl::InvalidArgumentError(
          "event " + std::to_string(i) + " (seq " + std::to_string(event.seq) +
          "): step " + std::to_string(event.step) + " is not a step of " +
          definition.name + " version " + std::to_string(definition.version));
    }
    events.push_back(EventJson(event, definition));
  }

  OrderedJson doc = OrderedJson::object();
  doc["format"] = kHistoryFormat;
  doc["saga"] = std::move(saga);
  doc["definition"] = std::move(def);
  doc["events"] = std::move(events);
  return doc;
}

}  // namespace

absl::StatusOr<std::string> EncodeHistory(const History& history) {
  absl::StatusOr<OrderedJson> doc = HistoryDocument(history);
  if (!doc.ok()) return doc.status();
  return Dump(*doc, 2) + "\n";
}

absl::StatusOr<std::string> EncodeHistoryLine(const History& history) {
  absl::StatusOr<OrderedJson> doc = HistoryDocument(history);
  if (!doc.ok()) return doc.status();
  return Dump(*doc, -1) + "\n";
}

absl::StatusOr<History> DecodeHistory(const std::string& json_text,
                                      const std::string& source_name) {
  Reader reader(source_name);
  absl::StatusOr<Json> document = ParseStrictJson(json_text, "the file");
  if (!document.ok()) {
    return reader.Error(std::string(document.status().message()));
  }
  const Json& doc = *document;
  if (!doc.is_object()) return reader.Error("not a JSON object");

  std::string format;
  absl::Status status = reader.String(doc, "format", "format", format);
  if (!status.ok()) return status;
  if (format != kHistoryFormat) {
    return reader.Error("format '" + format + "' is not " + kHistoryFormat);
  }

  History history;
  const Json* saga = nullptr;
  const Json* def = nullptr;
  status.Update(reader.Object(doc, "saga", "saga", saga));
  status.Update(reader.Object(doc, "definition", "definition", def));
  if (!status.ok()) return status;
  status.Update(
      reader.String(*saga, "saga_id", "saga.saga_id", history.saga.saga_id));
  status.Update(reader.String(*saga, "saga_type", "saga.saga_type",
                              history.saga.saga_type));
  status.Update(reader.Integer(*saga, "definition_version",
                               "saga.definition_version",
                               history.saga.definition_version));
  status.Update(
      reader.String(*saga, "status", "saga.status", history.saga.status));
  if (auto input = saga->find("input"); input != saga->end()) {
    history.saga.input_json = Unembed(*input);
  }

  std::string def_type;
  int def_version = 0;
  status.Update(
      reader.String(*def, "saga_type", "definition.saga_type", def_type));
  status.Update(
      reader.Integer(*def, "version", "definition.version", def_version));
  status.Update(reader.String(*def, "source_yaml", "definition.source_yaml",
                              history.definition_source));
  if (!status.ok()) return status;

  absl::StatusOr<SagaDefinition> parsed = ParseDefinition(
      history.definition_source, source_name + ": definition.source_yaml");
  if (!parsed.ok()) return parsed.status();
  history.definition = *std::move(parsed);
  const SagaDefinition& definition = history.definition;
  if (definition.name != def_type || definition.version != def_version) {
    return reader.Error("definition.source_yaml defines " + definition.name +
                        " version " + std::to_string(definition.version) +
                        ", not " + def_type + " version " +
                        std::to_string(def_version));
  }
  if (history.saga.saga_type != def_type ||
      history.saga.definition_version != def_version) {
    return reader.Error("the saga is " + history.saga.saga_type + " version " +
                        std::to_string(history.saga.definition_version) +
                        " but the definition is " + def_type + " version " +
                        std::to_string(def_version));
  }

  auto events = doc.find("events");
  if (events == doc.end() || !events->is_array()) {
    return reader.Error("field 'events' must be an array");
  }
  history.events.reserve(events->size());
  for (size_t i = 0; i < events->size(); ++i) {
    absl::StatusOr<Event> event =
        ReadEvent(reader, (*events)[i], i, definition);
    if (!event.ok()) return event.status();
    history.events.push_back(*std::move(event));
  }
  return history;
}

}  // namespace saga::core
