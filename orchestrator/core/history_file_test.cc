#include "orchestrator/core/history_file.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/state.h"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

constexpr int64_t kT0 = 1714564800000;

std::string BookingSource() {
  std::ifstream in(testing::TestDefinitionPath("booking_v1"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Event Make(EventType type, int64_t seq, int step = -1, int attempt = 0) {
  Event e;
  e.type = type;
  e.seq = seq;
  e.at_ms = kT0 + seq * 10;
  e.step = step;
  e.attempt = attempt;
  return e;
}

// A history with one event of every type, payload fields set.
History EveryKindOfEvent() {
  History h;
  h.definition_source = BookingSource();
  absl::StatusOr<SagaDefinition> def =
      ParseDefinition(h.definition_source, "appointment_booking.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  if (def.ok()) h.definition = *def;
  h.saga = {
      "s-1", "appointment_booking", 1, "COMPENSATED",
      R"({"patient_id":"p-1","preferred_date":"2024-05-17","specialty":"eye"})"};

  int64_t seq = 0;
  Event e = Make(EventType::kSagaStarted, ++seq);
  e.saga_type = "appointment_booking";
  e.definition_version = 1;
  e.input_json = h.saga.input_json;
  h.events.push_back(e);
  h.events.push_back(Make(EventType::kStepStarted, ++seq, 0, 1));
  e = Make(EventType::kStepSucceeded, ++seq, 0, 1);
  e.output_json = R"({"email":"ann@example.com","name":"Ann \"A\" Ño"})";
  h.events.push_back(e);
  e = Make(EventType::kStepFailed, ++seq, 1, 1);
  e.error = "deadline exceeded";
  e.retryable = true;
  e.outcome_unknown = true;
  h.events.push_back(e);
  e = Make(EventType::kRetryScheduled, ++seq, 1, 2);
  e.due_ms = kT0 + 500;
  h.events.push_back(e);
  e = Make(EventType::kCancelRequested, ++seq);
  e.error = "patient called";
  h.events.push_back(e);
  e = Make(EventType::kCompensationStarted, ++seq);
  e.error = "cancelled: patient called";
  h.events.push_back(e);
  h.events.push_back(Make(EventType::kCompensationStepStarted, ++seq, 1, 1));
  e = Make(EventType::kCompensationStepFailed, ++seq, 1, 1);
  e.error = "doctor service down";
  h.events.push_back(e);
  e = Make(EventType::kCompensationRetryScheduled, ++seq, 1, 2);
  e.due_ms = kT0 + 900;
  h.events.push_back(e);
  e = Make(EventType::kSagaFailed, ++seq);
  e.error = "compensation of step 'reserve_doctor' gave up";
  h.events.push_back(e);
  e = Make(EventType::kOperatorAction, ++seq, 1);
  e.operator_action = kOperatorRetry;
  e.operator_name = "alice";
  e.error = "doctor service is back";
  h.events.push_back(e);
  h.events.push_back(Make(EventType::kCompensationStepSucceeded, ++seq, 1, 1));
  e = Make(EventType::kStepFailed, ++seq, 2, 1);
  e.error = "mailbox full";
  h.events.push_back(e);
  h.events.push_back(Make(EventType::kSagaCompleted, ++seq));
  e = Make(EventType::kSagaCompensated, ++seq);
  e.error = "cancelled: patient called";
  h.events.push_back(e);
  return h;
}

std::string MustEncode(const History& h) {
  absl::StatusOr<std::string> text = EncodeHistory(h);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// Edits the encoded document of EveryKindOfEvent and decodes it.
absl::Status DecodeEdited(void (*edit)(Json&)) {
  Json doc = Json::parse(MustEncode(EveryKindOfEvent()));
  edit(doc);
  return DecodeHistory(doc.dump(), "edited.json").status();
}

TEST(HistoryFileTest, EveryEventRoundTrips) {
  const History h = EveryKindOfEvent();
  const std::string text = MustEncode(h);
  absl::StatusOr<History> decoded = DecodeHistory(text, "h.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->saga.saga_id, h.saga.saga_id);
  EXPECT_EQ(decoded->saga.saga_type, h.saga.saga_type);
  EXPECT_EQ(decoded->saga.definition_version, h.saga.definition_version);
  EXPECT_EQ(decoded->saga.status, h.saga.status);
  EXPECT_EQ(decoded->saga.input_json, h.saga.input_json);
  EXPECT_EQ(decoded->definition_source, h.definition_source);
  EXPECT_EQ(decoded->definition.name, "appointment_booking");
  ASSERT_EQ(decoded->events.size(), h.events.size());
  for (size_t i = 0; i < h.events.size(); ++i) {
    EXPECT_EQ(decoded->events[i], h.events[i])
        << i << " " << EventTypeName(h.events[i].type);
  }
  EXPECT_EQ(MustEncode(*decoded), text);
}

// An archive line (the retention job's) is the export document on one
// line: it reads back to the same history and prints the same document.
TEST(HistoryFileTest, ALineIsTheSameDocumentOnOneLine) {
  const History h = EveryKindOfEvent();
  absl::StatusOr<std::string> line = EncodeHistoryLine(h);
  ASSERT_TRUE(line.ok()) << line.status();
  ASSERT_EQ(line->back(), '\n');
  EXPECT_EQ(line->find('\n'), line->size() - 1) << *line;
  EXPECT_EQ(Json::parse(*line), Json::parse(MustEncode(h)));
  absl::StatusOr<History> decoded = DecodeHistory(*line, "archive");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(MustEncode(*decoded), MustEncode(h));
}

TEST(HistoryFileTest, DocumentHasTheDocumentedShape) {
  Json doc = Json::parse(MustEncode(EveryKindOfEvent()));
  EXPECT_EQ(doc["format"], "saga-history/v1");
  EXPECT_EQ(doc["saga"]["input"]["patient_id"], "p-1");
  EXPECT_EQ(doc["saga"]["status"], "COMPENSATED");
  EXPECT_EQ(doc["definition"]["saga_type"], "appointment_booking");
  EXPECT_EQ(doc["definition"]["version"], 1);
  const Json& first = doc["events"][0];
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(first["type"], "SagaStarted");
  EXPECT_TRUE(first["step"].is_null());
  EXPECT_EQ(first["attempt"], 0);
  EXPECT_EQ(first["at_ms"], kT0 + 10);
  EXPECT_EQ(first["data"]["input"]["specialty"], "eye");
  const Json& failed = doc["events"][3];
  EXPECT_EQ(failed["step"], "reserve_doctor");
  EXPECT_EQ(failed["data"]["outcome_unknown"], true);
  // Keys in reading order, not sorted.
  const std::string text = MustEncode(EveryKindOfEvent());
  EXPECT_LT(text.find("\"format\""), text.find("\"saga\""));
  EXPECT_LT(text.find("\"saga\""), text.find("\"definition\""));
  EXPECT_LT(text.find("\"definition\""), text.find("\"events\""));
}

TEST(HistoryFileTest, InputThatIsNotJsonIsKept) {
  History h = EveryKindOfEvent();
  h.saga.input_json = "not json";
  absl::StatusOr<History> decoded = DecodeHistory(MustEncode(h), "h.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->saga.input_json, "not json");
  h.saga.input_json = "";
  decoded = DecodeHistory(MustEncode(h), "h.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->saga.input_json, "");
}

TEST(HistoryFileTest, EncodeRefusesAStepOutsideTheDefinition) {
  History h = EveryKindOfEvent();
  h.events[1].step = 7;
  absl::StatusOr<std::string> text = EncodeHistory(h);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(text.status().message().find("event 1 (seq 2)"), std::string::npos)
      << text.status();
  // A single event still renders, with the step as a number.
  EXPECT_NE(EncodeHistoryEvent(h.events[1], h.definition).find(R"("step":7)"),
            std::string::npos);
}

TEST(HistoryFileTest, ErrorsNameTheFileAndTheEvent) {
  struct Case {
    void (*edit)(Json&);
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](Json& d) { d = Json::array(); }, "edited.json: not a JSON object"},
      {[](Json& d) { d["format"] = "saga-history/v9"; },
       "edited.json: format 'saga-history/v9' is not saga-history/v1"},
      {[](Json& d) { d["saga"].erase("saga_id"); },
       "edited.json: field 'saga.saga_id' must be a string"},
      {[](Json& d) { d["definition"]["version"] = "1"; },
       "edited.json: field 'definition.version' must be an integer"},
      {[](Json& d) { d["definition"]["version"] = 2; },
       "edited.json: definition.source_yaml defines appointment_booking "
       "version 1, not appointment_booking version 2"},
      {[](Json& d) { d["saga"]["saga_type"] = "other"; },
       "edited.json: the saga is other version 1 but the definition is "
       "appointment_booking version 1"},
      {[](Json& d) { d["events"] = Json::object(); },
       "edited.json: field 'events' must be an array"},
      {[](Json& d) { d["events"][3]["type"] = "StepExploded"; },
       "edited.json: event 3 (seq 4): unknown event type 'StepExploded'"},
      {[](Json& d) { d["events"][2]["step"] = "teleport"; },
       "edited.json: event 2 (seq 3): step 'teleport' is not a step of "
       "appointment_booking version 1"},
      {[](Json& d) { d["events"][5]["at_ms"] = 1.5; },
       "edited.json: field 'event 5 (seq 6).at_ms' must be an integer"},
      {[](Json& d) { d["events"][4]["seq"] = nullptr; },
       "edited.json: field 'event 4.seq' must be an integer"},
      {[](Json& d) { d["events"][3]["data"]["retryable"] = "yes"; },
       "edited.json: event 3 (seq 4): event StepFailed #4: event field "
       "'retryable' must be a boolean"},
      {[](Json& d) { d["events"][1]["step"] = nullptr; },
       "edited.json: event 1 (seq 2): event StepStarted #2 has no step"},
  };
  for (const Case& c : cases) {
    absl::Status status = DecodeEdited(c.edit);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST(HistoryFileTest, ABadDefinitionIsReportedWithTheFileName) {
  History h = EveryKindOfEvent();
  h.definition_source = "name: x\nsteps: 3\n";
  absl::StatusOr<History> decoded = DecodeHistory(MustEncode(h), "bad.json");
  EXPECT_FALSE(decoded.ok());
  EXPECT_EQ(
      decoded.status().message().rfind("bad.json: definition.source_yaml", 0),
      0u)
      << decoded.status();
  EXPECT_FALSE(DecodeHistory("{", "broken.json").ok());
  EXPECT_EQ(DecodeHistory("{", "broken.json")
                .status()
                .message()
                .rfind("broken.json: the file is not valid JSON: ", 0),
            0u)
      << DecodeHistory("{", "broken.json").status();
}

TEST(HistoryFileTest, RefusesAKeyGivenTwice) {
  // Which of the two formats would a replay check? Neither: refused.
  absl::StatusOr<History> decoded =
      DecodeHistory(R"({"format":"a","saga":{},"format":"b"})", "twice.json");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoded.status().message(),
            "twice.json: the file has the key 'format' twice");
}

}  // namespace
}  // namespace saga::core
