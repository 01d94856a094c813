#include "orchestrator/outbox/message_json.h"

#include "nlohmann/json.hpp"

namespace saga::outbox {
namespace {

using Json = nlohmann::json;

// Stored header and payload are jsonb, so they parse; a value that does not
// is passed on as a string rather than dropped.
Json Embedded(const std::string& text) {
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? Json(text) : value;
}

Json EntryObject(const store::OutboxEntry& entry) {
  return {{"position", entry.position},
          {"message_id", entry.message.message_id},
          {"saga_id", entry.message.saga_id},
          {"type", entry.message.type},
          {"header", Embedded(entry.message.header_json)},
          {"payload", Embedded(entry.message.payload_json)},
          {"at_unix_ms", entry.message.at_ms},
          {"recorded_unix_ms", entry.recorded_ms}};
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string EntryJson(const store::OutboxEntry& entry) {
  return Dump(EntryObject(entry));
}

std::string BatchJson(const std::vector<store::OutboxEntry>& entries) {
  Json messages = Json::array();
  for (const auto& entry : entries) messages.push_back(EntryObject(entry));
  return Dump({{"messages", std::move(messages)}});
}

}  // namespace saga::outbox
