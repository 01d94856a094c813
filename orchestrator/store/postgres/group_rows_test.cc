// GroupRows writes JSON by hand: every array must parse, carry exactly the
// fields the group statements read, embed JSON payloads as values (not as
// strings), and turn any string into valid UTF-8 JSON.
#include "orchestrator/store/postgres/group_rows.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace saga::store {
namespace {

using Json = nlohmann::json;

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

AppendBatch Batch() {
  AppendBatch batch;
  batch.saga_id = "s-1";
  batch.expected_last_seq = 2;
  core::Event event;
  event.type = core::EventType::kStepFailed;
  event.seq = 3;
  event.at_ms = 1700000000123;
  event.step = 1;
  event.attempt = 2;
  event.error = "boom \"quoted\"";
  event.retryable = true;
  batch.events.push_back(event);
  batch.summary.saga_id = "s-1";
  batch.summary.saga_type = "booking";
  batch.summary.definition_version = 4;
  batch.summary.status = core::SagaStatus::kCompensating;
  batch.summary.current_step = "reserve";
  batch.summary.error = "line\nbreak";
  batch.summary.input_json = R"({"b": [1, 2.5], "a": {"x": null}})";
  batch.summary.last_seq = 3;
  batch.summary.created_ms = 1700000000000;
  batch.summary.updated_ms = 1700000000123;
  batch.summary.current_attempt = 2;
  batch.writer = "orch-a";
  batch.lease_ttl = std::chrono::milliseconds(15000);
  core::OutboxMessage message;
  message.message_id = "s-1:3";
  message.seq = 3;
  message.type = "saga.step.failed";
  message.header_json = R"({"saga_id":"s-1","seq":3})";
  message.payload_json = R"({"error":"boom"})";
  message.at_ms = 1700000000123;
  batch.outbox.push_back(message);
  return batch;
}

TEST(GroupRowsTest, EscapesStringsAndKeepsUtf8) {
  EXPECT_EQ(Quoted("plain"), R"("plain")");
  EXPECT_EQ(Quoted("a\"b\\c\n\r\t"), R"("a\"b\\c\n\r\t")");
  EXPECT_EQ(Quoted(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(Quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  for (const std::string& text :
       {std::string("a\"b\\c\n\x01"), std::string("caf\xC3\xA9")}) {
    EXPECT_EQ(Json::parse(Quoted(text)).get<std::string>(), text);
  }
}

TEST(GroupRowsTest, ReplacesWhatIsNotUtf8AndNul) {
  const std::string replacement = "\xEF\xBF\xBD";
  // A stray continuation byte, a truncated sequence, an overlong form, a
  // surrogate, a code point above U+10FFFF and NUL.
  const std::string bad[] = {
      "\x80",         "\xE2\x82",         "\xC0\xAF",
      "\xED\xA0\x80", "\xF4\x90\x80\x80", std::string(1, '\0')};
  for (const std::string& text : bad) {
    const std::string quoted = Quoted("<" + text + ">");
    ASSERT_TRUE(Json::accept(quoted)) << quoted;
    const std::string value = Json::parse(quoted).get<std::string>();
    EXPECT_EQ(value.front(), '<');
    EXPECT_EQ(value.back(), '>');
    EXPECT_NE(value.find(replacement), std::string::npos) << quoted;
  }
}

TEST(GroupRowsTest, CreateRowsCarryEveryColumnAndEmbedJson) {
  GroupRows rows;
  AppendBatch batch = Batch();
  rows.AddCreatedSaga(batch, 0);
  rows.AddHistory(batch, 0);
  batch.saga_id = "s-2";
  batch.summary.saga_id = "s-2";
  batch.summary.idempotency_key = "key-2";
  batch.summary.parent_saga_id = "p-1";
  batch.summary.parent_step = "pay";
  batch.snapshot = R"({"status":"RUNNING","note":"a \"b\""})";
  rows.AddCreatedSaga(batch, 1);
  rows.AddHistory(batch, 1);

  const Json sagas = Json::parse(rows.TakeSagas());
  ASSERT_EQ(sagas.size(), 2u);
  EXPECT_EQ(sagas[0], Json::parse(R"({
      "idx": 0, "saga_id": "s-1", "saga_type": "booking",
      "definition_version": 4, "status": "COMPENSATING",
      "current_step": "reserve", "error": "line\nbreak",
      "input": {"a": {"x": null}, "b": [1, 2.5]}, "idempotency_key": null,
      "last_seq": 3, "created_ms": 1700000000000,
      "updated_ms": 1700000000123, "current_attempt": 2,
      "writer": "orch-a", "lease_ttl_ms": 15000, "parent_id": null,
      "parent_step": null, "business_key": null, "rerun_of": null,
      "snapshot": null})"));
  EXPECT_EQ(sagas[1]["idempotency_key"], "key-2");
  // A string, kept byte for byte (the store does not parse it).
  EXPECT_EQ(sagas[1]["snapshot"], batch.snapshot);
  EXPECT_EQ(sagas[1]["parent_id"], "p-1");
  EXPECT_EQ(sagas[1]["parent_step"], "pay");

  const Json events = Json::parse(rows.TakeEvents());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Json::parse(R"({
      "saga_id": "s-1", "seq": 3, "type": "StepFailed", "step": 1,
      "attempt": 2, "at_ms": 1700000000123, "writer": "orch-a",
      "data": )" + core::EncodeEventData(batch.events[0]) +
                                   "}"));
  EXPECT_TRUE(events[0]["data"].is_object());

  const Json outbox = Json::parse(rows.TakeOutbox());
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(outbox[1], Json::parse(R"({
      "owner": "s-2", "idx": 1, "ord": 0, "message_id": "s-1:3",
      "saga_id": "s-2", "type": "saga.step.failed",
      "header": {"saga_id": "s-1", "seq": 3},
      "payload": {"error": "boom"}, "at_ms": 1700000000123})"));
}

// A message about an event of its batch whose payload is that event's data
// names the event instead of carrying the text again; one whose payload
// differs (above) or whose seq names no event of the batch carries it.
TEST(GroupRowsTest, PayloadsEqualToTheirEventsDataAreSentAsItsSeq) {
  AppendBatch batch = Batch();
  batch.outbox[0].seq = 3;
  batch.outbox[0].payload_json = core::EncodeEventData(batch.events[0]);
  core::OutboxMessage elsewhere = batch.outbox[0];
  elsewhere.message_id = "s-1:9";
  elsewhere.seq = 9;
  batch.outbox.push_back(elsewhere);
  GroupRows rows;
  rows.AddHistory(batch, 0);
  const Json outbox = Json::parse(rows.TakeOutbox());
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(outbox[0]["seq"], 3);
  EXPECT_FALSE(outbox[0].contains("payload"));
  EXPECT_FALSE(outbox[1].contains("seq"));
  EXPECT_EQ(outbox[1]["payload"], Json::parse(batch.outbox[0].payload_json));
}

// The fence is the expected seq and the writer (the lease holder).
TEST(GroupRowsTest, AppendRowsCarryTheFence) {
  GroupRows rows;
  rows.AddAppendedSaga(Batch(), 7);
  EXPECT_EQ(Json::parse(rows.TakeSagas()), Json::parse(R"([{
      "idx": 7, "saga_id": "s-1", "expected": 2, "status": "COMPENSATING",
      "current_step": "reserve", "error": "line\nbreak", "last_seq": 3,
      "updated_ms": 1700000000123, "current_attempt": 2,
      "writer": "orch-a", "lease_ttl_ms": 15000, "snapshot": null}])"));
  EXPECT_EQ(Json::parse(rows.TakeEvents()), Json::array());
  EXPECT_EQ(Json::parse(rows.TakeOutbox()), Json::array());
}

}  // namespace
}  // namespace saga::store
