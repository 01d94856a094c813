#include "orchestrator/core/events.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace saga::core {
namespace {

using Json = nlohmann::json;

Event Make(EventType type, int step, int attempt) {
  Event e;
  e.type = type;
  e.seq = 7;
  e.at_ms = 1700000000123;
  e.step = step;
  e.attempt = attempt;
  return e;
}

// One event of every type, with every payload field meaningful for the type
// set to a non-default value.
std::vector<Event> OneOfEach() {
  std::vector<Event> events;
  Event e = Make(EventType::kSagaStarted, -1, 0);
  e.saga_type = "appointment_booking";
  e.definition_version = 3;
  e.input_json = R"({"n":1.5,"nested":{"a":[1,2,null]},"patient_id":"p-1"})";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.tracestate = "congo=t61rcWkgMzE";
  e.started_by = "booking-service";
  e.due_ms = 1700000000123;  // a scheduled start
  events.push_back(e);
  events.push_back(Make(EventType::kStepStarted, 0, 1));
  e = Make(EventType::kStepStarted, 1, 2);
  e.completion_token = "3f1c0a9e5b7d4c2e8a6f1b3d5c7e9a0b";
  events.push_back(e);
  events.push_back(Make(EventType::kStepAccepted, 1, 2));
  e = Make(EventType::kOperatorAction, 1, 0);
  e.operator_action = "skip_step";
  e.operator_name = "alice";
  e.error = "released by hand";
  events.push_back(e);
  e = Make(EventType::kStepSucceeded, 0, 2);
  e.output_json = R"({"email":"ann@example.com","name":"Ann \"A\" Ño"})";
  e.signal_key = "approval-1";
  events.push_back(e);
  e = Make(EventType::kStepFailed, 1, 3);
  e.error = "doctor unavailable";
  e.retryable = true;
  e.outcome_unknown = true;
  events.push_back(e);
  e = Make(EventType::kStepFailed, 1, 4);
  e.error = "no slot";
  events.push_back(e);
  e = Make(EventType::kRetryScheduled, 1, 5);
  e.due_ms = 1700000000999;
  events.push_back(e);
  e = Make(EventType::kCancelRequested, -1, 0);
  e.error = "patient changed their mind";
  events.push_back(e);
  e = Make(EventType::kCompensationStarted, -1, 0);
  e.error = "step 'notify' failed: bounce";
  events.push_back(e);
  events.push_back(Make(EventType::kCompensationStepStarted, 1, 1));
  events.push_back(Make(EventType::kCompensationStepSucceeded, 1, 2));
  e = Make(EventType::kCompensationStepFailed, 1, 2);
  e.error = "doctor service down";
  events.push_back(e);
  e = Make(EventType::kCompensationRetryScheduled, 1, 3);
  e.due_ms = 42;
  events.push_back(e);
  events.push_back(Make(EventType::kSagaCompleted, -1, 0));
  e = Make(EventType::kSagaCompensated, -1, 0);
  e.error = "cancelled";
  events.push_back(e);
  e = Make(EventType::kSagaFailed, -1, 0);
  e.error = "compensation of step 'reserve_doctor' gave up";
  events.push_back(e);
  e = Make(EventType::kSignalReceived, -1, 0);
  e.signal_name = "approval";
  e.signal_key = "approval-1";
  e.output_json = R"({"approved":true,"by":"dr. who"})";
  events.push_back(e);
  e = Make(EventType::kDeadlinePassed, -1, 0);
  e.error = "the saga rolls back";
  events.push_back(e);
  return events;
}

absl::StatusOr<Event> RoundTrip(const Event& e) {
  return DecodeEvent(EventTypeName(e.type), e.seq, e.at_ms, e.step, e.attempt,
                     EncodeEventData(e));
}

TEST(EventsTest, EveryTypeRoundTrips) {
  std::vector<Event> events = OneOfEach();
  ASSERT_EQ(events.size(), 20u);
  for (const Event& e : events) {
    absl::StatusOr<Event> back = RoundTrip(e);
    ASSERT_TRUE(back.ok()) << EventTypeName(e.type) << ": " << back.status();
    EXPECT_EQ(*back, e) << EventTypeName(e.type) << " " << EncodeEventData(e);
  }
}

TEST(EventsTest, SagaStartedOfARerunRoundTripsItsLabels) {
  Event e = Make(EventType::kSagaStarted, -1, 0);
  e.saga_type = "appointment_booking";
  e.definition_version = 3;
  e.input_json = R"({"patient_id":"p-1"})";
  e.business_key = "p-1";
  e.rerun_of = "6f1c0a9e-5b7d-4c2e-8a6f-1b3d5c7e9a0b";
  e.operator_name = "ann";
  e.error = "slot freed";
  absl::StatusOr<Event> back = RoundTrip(e);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
  const Json data = Json::parse(EncodeEventData(e));
  EXPECT_EQ(data["business_key"], "p-1");
  EXPECT_EQ(data["rerun_of"], e.rerun_of);
  EXPECT_EQ(data["operator"], "ann");
  EXPECT_EQ(data["reason"], "slot freed");
}

TEST(EventsTest, EveryTypeIsCovered) {
  std::vector<bool> seen(18, false);
  for (const Event& e : OneOfEach()) seen[static_cast<int>(e.type)] = true;
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << i;
}

TEST(EventsTest, ClientsSeeACompletionTokenRedacted) {
  Event started = Make(EventType::kStepStarted, 1, 2);
  started.completion_token = "3f1c0a9e5b7d4c2e8a6f1b3d5c7e9a0b";
  const std::string shown = EncodeEventData(WithoutSecrets(started));
  EXPECT_EQ(shown, R"({"completion_token":"[redacted]"})");
  EXPECT_EQ(shown.find(started.completion_token), std::string::npos);
  // A synchronous step's StepStarted has none, and shows none.
  EXPECT_EQ(
      EncodeEventData(WithoutSecrets(Make(EventType::kStepStarted, 0, 1))),
      "{}");
}

TEST(EventsTest, DocumentsAreEmbeddedAsJsonValues) {
  Event e = Make(EventType::kSagaStarted, -1, 0);
  e.saga_type = "x";
  e.definition_version = 1;
  e.input_json = R"({"a":1})";
  Json data = Json::parse(EncodeEventData(e));
  ASSERT_TRUE(data["input"].is_object());
  EXPECT_EQ(data["input"]["a"], 1);
  EXPECT_EQ(data["saga_type"], "x");
  EXPECT_EQ(data["definition_version"], 1);

  Event s = Make(EventType::kStepSucceeded, 0, 1);
  s.output_json = R"({"id":"r1"})";
  data = Json::parse(EncodeEventData(s));
  ASSERT_TRUE(data["output"].is_object());
  EXPECT_EQ(data["output"]["id"], "r1");
}

TEST(EventsTest, OnlyMeaningfulFieldsAreEncoded) {
  Event e = Make(EventType::kStepStarted, 0, 1);
  e.error = "ignored";
  EXPECT_EQ(EncodeEventData(e), "{}");
  e.due_ms = 5;  // a wait or delay step's due time
  EXPECT_EQ(EncodeEventData(e), R"({"due_ms":5})");
  Event f = Make(EventType::kStepFailed, 0, 1);
  f.error = "boom";
  EXPECT_EQ(EncodeEventData(f),
            R"({"error":"boom","outcome_unknown":false,"retryable":false})");
}

TEST(EventsTest, SagaStartedWithoutTraceContextEncodesAsBefore) {
  // Histories recorded before the trace context was kept must still decode,
  // and sagas started without one must encode exactly as they did.
  constexpr char kOld[] =
      R"({"definition_version":1,"input":{"a":1},"saga_type":"x"})";
  absl::StatusOr<Event> old = DecodeEvent("SagaStarted", 1, 5, -1, 0, kOld);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->traceparent, "");
  EXPECT_EQ(old->tracestate, "");
  EXPECT_EQ(old->started_by, "");
  EXPECT_EQ(EncodeEventData(*old), kOld);
  EXPECT_FALSE(
      DecodeEvent("SagaStarted", 1, 5, -1, 0, R"({"traceparent":7})").ok());
}

TEST(EventsTest, OutputThatIsNotJsonStillRoundTrips) {
  Event e = Make(EventType::kStepSucceeded, 0, 1);
  e.output_json = "not json {";
  absl::StatusOr<Event> back = RoundTrip(e);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->output_json, "not json {");
}

// Embedding it as a JSON value would keep one of the two values and
// rewrite what the participant answered.
TEST(EventsTest, OutputWithAKeyTwiceIsKeptVerbatim) {
  Event e = Make(EventType::kStepSucceeded, 0, 1);
  e.output_json = R"({"id":"r1","id":"r2"})";
  const Json data = Json::parse(EncodeEventData(e));
  EXPECT_EQ(data["output_text"], e.output_json);
  EXPECT_FALSE(data.contains("output"));
  absl::StatusOr<Event> back = RoundTrip(e);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->output_json, e.output_json);
}

TEST(EventsTest, EmptyOutputRoundTrips) {
  Event e = Make(EventType::kStepSucceeded, 0, 1);
  absl::StatusOr<Event> back = RoundTrip(e);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
}

TEST(EventsTest, TypeNamesRoundTrip) {
  for (int i = 0; i < 14; ++i) {
    const EventType type = static_cast<EventType>(i);
    absl::StatusOr<EventType> parsed = ParseEventType(EventTypeName(type));
    ASSERT_TRUE(parsed.ok()) << EventTypeName(type);
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_STREQ(EventTypeName(EventType::kStepStarted), "StepStarted");
  EXPECT_STREQ(EventTypeName(EventType::kCompensationRetryScheduled),
               "CompensationRetryScheduled");
  EXPECT_EQ(ParseEventType("Nope").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventsTest, DecodeRefusesMalformedData) {
  EXPECT_FALSE(DecodeEvent("Bogus", 1, 0, -1, 0, "{}").ok());
  EXPECT_FALSE(DecodeEvent("StepFailed", 1, 0, 0, 1, "[1]").ok());
  EXPECT_FALSE(DecodeEvent("StepFailed", 1, 0, 0, 1, "{").ok());
  EXPECT_FALSE(DecodeEvent("StepFailed", 1, 0, 0, 1, R"({"error":5})").ok());
  EXPECT_FALSE(
      DecodeEvent("StepFailed", 1, 0, 0, 1, R"({"retryable":"yes"})").ok());
  EXPECT_FALSE(
      DecodeEvent("RetryScheduled", 1, 0, 0, 2, R"({"due_ms":"soon"})").ok());
  absl::StatusOr<Event> no_step = DecodeEvent("StepStarted", 4, 0, -1, 1, "{}");
  ASSERT_FALSE(no_step.ok());
  EXPECT_EQ(no_step.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventsTest, DecodeAcceptsEmptyData) {
  absl::StatusOr<Event> e = DecodeEvent("SagaCompleted", 9, 100, -1, 0, "");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, EventType::kSagaCompleted);
  EXPECT_EQ(e->seq, 9);
  EXPECT_EQ(e->at_ms, 100);
}

}  // namespace
}  // namespace saga::core
