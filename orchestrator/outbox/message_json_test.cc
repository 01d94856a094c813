#include "orchestrator/outbox/message_json.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace saga::outbox {
namespace {

using Json = nlohmann::json;

store::OutboxEntry Entry(int64_t position) {
  store::OutboxEntry entry;
  entry.position = position;
  entry.txid = 900;
  entry.message.message_id = "s-1:" + std::to_string(position);
  entry.message.saga_id = "s-1";
  entry.message.type = "saga.step.succeeded";
  entry.message.header_json = R"({"saga_id":"s-1","seq":3,"step":"notify"})";
  entry.message.payload_json = R"({"output":{"sent":2}})";
  entry.message.at_ms = 1700000000123;
  entry.saga_type = "appointment_booking";
  entry.recorded_ms = 1700000000456;
  return entry;
}

TEST(MessageJsonTest, EmbedsHeaderAndPayloadAsJson) {
  const Json value = Json::parse(EntryJson(Entry(7)));
  EXPECT_EQ(value, Json::parse(R"({
    "position": 7, "message_id": "s-1:7", "saga_id": "s-1",
    "type": "saga.step.succeeded",
    "header": {"saga_id": "s-1", "seq": 3, "step": "notify"},
    "payload": {"output": {"sent": 2}},
    "at_unix_ms": 1700000000123, "recorded_unix_ms": 1700000000456})"));
}

TEST(MessageJsonTest, OneLinePerEntry) {
  EXPECT_EQ(EntryJson(Entry(7)).find('\n'), std::string::npos);
}

TEST(MessageJsonTest, BatchKeepsTheOrder) {
  const Json batch = Json::parse(BatchJson({Entry(9), Entry(4)}));
  ASSERT_EQ(batch["messages"].size(), 2u);
  EXPECT_EQ(batch["messages"][0]["position"], 9);
  EXPECT_EQ(batch["messages"][1]["position"], 4);
}

TEST(MessageJsonTest, UnparsableTextIsPassedOnAsAString) {
  store::OutboxEntry entry = Entry(1);
  entry.message.payload_json = "not json";
  EXPECT_EQ(Json::parse(EntryJson(entry))["payload"], "not json");
}

}  // namespace
}  // namespace saga::outbox
