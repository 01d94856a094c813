#include "orchestrator/core/outbox.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

using testing::Booking;

Event Numbered(EventType type, int64_t seq, int step = -1, int attempt = 0) {
  Event e;
  e.type = type;
  e.seq = seq;
  e.at_ms = 1000 + seq;
  e.step = step;
  e.attempt = attempt;
  return e;
}

TEST(OutboxTest, PublishesOnlyTheEventsOthersCareAbout) {
  const SagaDefinition def = Booking();
  Event started = Numbered(EventType::kSagaStarted, 1);
  started.saga_type = "appointment_booking";
  started.definition_version = 1;
  started.input_json = R"({"patient_id":"p1"})";
  Event succeeded = Numbered(EventType::kStepSucceeded, 3, 0, 1);
  succeeded.output_json = R"({"name":"Ann"})";
  Event retryable = Numbered(EventType::kStepFailed, 5, 1, 1);
  retryable.retryable = true;
  Event definite = Numbered(EventType::kStepFailed, 6, 1, 2);
  definite.error = "no slot";
  Event compensating = Numbered(EventType::kCompensationStarted, 7);
  compensating.error = "step 'reserve_doctor' failed: no slot";
  const std::vector<Event> events = {
      started,
      Numbered(EventType::kStepStarted, 2, 0, 1),
      succeeded,
      Numbered(EventType::kStepStarted, 4, 1, 1),
      retryable,
      definite,
      compensating,
      Numbered(EventType::kCompensationStepSucceeded, 8, 1, 1),
      Numbered(EventType::kSagaCompensated, 9),
      Numbered(EventType::kSagaCompleted, 10),
      Numbered(EventType::kSagaFailed, 11),
  };
  const std::vector<OutboxMessage> out = OutboxMessagesFor(def, "s1", events);
  std::vector<std::string> types;
  for (const OutboxMessage& m : out) types.push_back(m.type);
  EXPECT_EQ(types,
            (std::vector<std::string>{
                "saga.started", "saga.step.succeeded", "saga.step.failed",
                "saga.compensation.started", "saga.step.compensated",
                "saga.compensated", "saga.completed", "saga.failed"}));

  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(out[0].message_id, "s1:1");
  EXPECT_EQ(out[0].saga_id, "s1");
  EXPECT_EQ(out[0].at_ms, 1001);
  EXPECT_EQ(out[0].header_json,
            R"({"saga_id":"s1","saga_type":"appointment_booking","seq":1})");
  EXPECT_EQ(out[0].payload_json, EncodeEventData(started));
  EXPECT_EQ(out[1].message_id, "s1:3");
  EXPECT_EQ(out[1].header_json,
            R"({"saga_id":"s1","saga_type":"appointment_booking","seq":3,)"
            R"("step":"validate_patient"})");
  EXPECT_EQ(out[1].payload_json, R"({"output":{"name":"Ann"}})");
  EXPECT_EQ(out[2].message_id, "s1:6");
  EXPECT_EQ(out[4].header_json,
            R"({"saga_id":"s1","saga_type":"appointment_booking","seq":8,)"
            R"("step":"reserve_doctor"})");
}

TEST(OutboxDeathTest, RequiresNumberedEvents) {
  const SagaDefinition def = Booking();
  EXPECT_DEATH(
      OutboxMessagesFor(def, "s1", {Numbered(EventType::kSagaCompleted, 0)}),
      "seq is not set");
}

}  // namespace
}  // namespace saga::core
