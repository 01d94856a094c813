#include "orchestrator/core/snapshot.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;
using testing::Booking;

// A state with every field away from its default, so a field the codec
// forgot shows up as a difference.
SagaState EveryFieldSet(const SagaDefinition& definition) {
  SagaState state = NewSagaState(definition, "s-1");
  state.input_json = R"({"patient_id": "p1", "note": "caf\u00e9 \"x\""})";
  state.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  state.tracestate = "vendor=1";
  state.started_by = "booking-service";
  state.parent_saga_id = "parent-1";
  state.parent_step = "book_child";
  state.business_key = "order-7";
  state.rerun_of = "s-0";
  state.status = SagaStatus::kCompensating;
  state.last_seq = 12;
  state.created_ms = 1000;
  state.updated_ms = 2000;
  state.start_due_ms = 1500;
  state.deadline_ms = 90000;
  state.deadline_passed = true;
  state.cancel_requested = true;
  state.reason = "cancelled";
  state.rollback_reason = "operator asked";
  StepState& step = state.steps[1];
  step.status = StepStatus::kCompensationFailed;
  step.attempts = 3;
  step.compensation_attempts = 2;
  step.outcome_unknown = true;
  step.output_json = R"({"reservation_id":"r-1"})";
  step.error = "line one\nline two";
  step.started_ms = 1100;
  step.ended_ms = 1200;
  step.round_started_ms = 1150;
  step.ended_seq = 7;
  step.child_saga_id = "child-1";
  step.earlier_attempts = 4;
  step.earlier_compensation_attempts = 1;
  ActiveStep active;
  active.step = 1;
  active.call_in_flight = true;
  active.in_flight_attempt = 3;
  active.in_flight_deadline_ms = 3000;
  active.completion_token = "token-1";
  active.awaiting_completion = true;
  active.completion_due_ms = 4000;
  active.retry_due_ms = 5000;
  active.retry_attempt = 4;
  active.wait_due_ms = 6000;
  state.active.push_back(active);
  ReceivedSignal signal;
  signal.name = "approved";
  signal.key = "k-1";
  signal.payload_json = R"({"by":"dr"})";
  signal.received_ms = 1700;
  signal.consumed_by = 2;
  state.signals.push_back(signal);
  state.signals.push_back(ReceivedSignal{"late", "k-2", "{}", 1800, -1});
  return state;
}

TEST(SnapshotTest, EveryFieldRoundTrips) {
  const SagaDefinition definition = Booking();
  const SagaState state = EveryFieldSet(definition);
  absl::StatusOr<SagaState> decoded =
      DecodeSnapshot(definition, "s-1", EncodeSnapshot(state));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, state);
}

TEST(SnapshotTest, AFreshStateRoundTripsAndLeavesDefaultsOut) {
  const SagaDefinition definition = Booking();
  const SagaState state = NewSagaState(definition, "s-1");
  const std::string json = EncodeSnapshot(state);
  const Json parsed = Json::parse(json);
  EXPECT_EQ(parsed["steps"], Json::parse("[{}, {}, {}]"));
  EXPECT_FALSE(parsed.contains("active"));
  EXPECT_FALSE(parsed.contains("saga_id")) << "the row's key holds it";
  absl::StatusOr<SagaState> decoded = DecodeSnapshot(definition, "s-1", json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, state);
}

TEST(SnapshotTest, TheSagaIdComesFromTheCaller) {
  const SagaDefinition definition = Booking();
  absl::StatusOr<SagaState> decoded = DecodeSnapshot(
      definition, "clone-9", EncodeSnapshot(EveryFieldSet(definition)));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->saga_id, "clone-9");
}

// Each refusal names what is wrong, and the caller folds the history.
void ExpectRefused(const std::string& json, const std::string& message) {
  absl::StatusOr<SagaState> decoded = DecodeSnapshot(Booking(), "s-1", json);
  ASSERT_FALSE(decoded.ok()) << json;
  EXPECT_TRUE(absl::IsInvalidArgument(decoded.status()));
  EXPECT_NE(decoded.status().message().find(message), std::string::npos)
      << decoded.status();
}

TEST(SnapshotTest, RefusesWhatIsNotASnapshotOfThisDefinition) {
  const SagaDefinition definition = Booking();
  Json good = Json::parse(EncodeSnapshot(EveryFieldSet(definition)));
  auto with = [&](const char* key, Json value) {
    Json copy = good;
    copy[key] = std::move(value);
    return copy.dump();
  };
  ExpectRefused("{not json", "not valid JSON");
  ExpectRefused("[]", "snapshot must be an object");
  ExpectRefused(with("format", kSnapshotFormat + 1), "this build reads");
  ExpectRefused(with("saga_type", "checkout"), "not of appointment_booking");
  ExpectRefused(with("definition_version", 99), "v99");
  ExpectRefused(with("steps", Json::parse("[{}, {}]")), "2 steps");
  ExpectRefused(with("active", Json::parse(R"([{"step": 3}])")),
                "active step 3 is out of range");
  ExpectRefused(with("signals", Json::parse(R"([{"consumed_by": 5}])")),
                "consumed by step 5");
  ExpectRefused(with("last_seq", "12"),
                "snapshot: last_seq must be an integer");
  ExpectRefused(with("status", "PAUSED"), "snapshot: status must be a known");
  ExpectRefused(with("steps", Json::parse(R"([{}, {"attempts": true}, {}])")),
                "snapshot: steps[1].attempts must be an integer");
  ExpectRefused(with("active", Json::parse(R"([{"step": 4294967296}])")),
                "active[0].step must be in range");
}

TEST(SnapshotTest, ASagaRestsWhenNothingIsInFlight) {
  const SagaDefinition definition = Booking();
  SagaState state = NewSagaState(definition, "s-1");
  EXPECT_FALSE(SagaRests(state)) << "between steps: the next starts at once";
  state.start_due_ms = 5000;
  EXPECT_TRUE(SagaRests(state)) << "a scheduled start";
  state.start_due_ms = 0;

  ActiveStep active;
  active.step = 0;
  active.call_in_flight = true;
  state.active.push_back(active);
  EXPECT_FALSE(SagaRests(state)) << "a call in flight";
  state.active[0].call_in_flight = false;
  state.active[0].retry_due_ms = 9000;
  EXPECT_TRUE(SagaRests(state)) << "a backoff";
  ActiveStep branch = active;  // a parallel branch still calling
  branch.step = 1;
  state.active.push_back(branch);
  EXPECT_FALSE(SagaRests(state));
  state.active.pop_back();

  state.status = SagaStatus::kCompleted;
  EXPECT_FALSE(SagaRests(state)) << "an ended saga is never resumed";
}

}  // namespace
}  // namespace saga::core
