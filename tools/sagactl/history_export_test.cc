#include "tools/sagactl/history_export.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/replay.h"
#include "orchestrator/core/state.h"

namespace saga::sagactl {
namespace {

constexpr int64_t kT0 = 1714564800000;

std::string BookingSource() {
  std::ifstream in(std::string(SAGA_SOURCE_DIR) +
                   "/tests/testdata/booking_v1/appointment_booking.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What the server answers for a booking saga whose notify step failed for
// good and whose reservation was released.
struct Answers {
  v1::Saga saga;
  v1::GetSagaHistoryResponse history;
  v1::GetDefinitionResponse definition;
  std::vector<core::Event> events;
};

Answers Compensated() {
  Answers a;
  absl::StatusOr<core::SagaDefinition> def =
      core::ParseDefinition(BookingSource(), "booking");
  EXPECT_TRUE(def.ok()) << def.status();
  core::SagaState state = core::NewSagaState(*def, "s-1");
  int64_t now = kT0;
  auto commit = [&](const core::Decision& d) {
    for (core::Event e : d.events) {
      e.seq = state.last_seq + 1;
      core::Apply(*def, state, e);
      a.events.push_back(e);
    }
  };
  commit(core::DecideStart(
      *def,
      R"({"patient_id":"p-1","preferred_date":"2024-05-17","specialty":"eye"})",
      {now, 0}));
  auto answer = [&](core::CallOutcome outcome, const std::string& output) {
    core::Signal s;
    s.kind = core::Signal::Kind::kCallResult;
    s.step = core::CurrentStep(state);
    s.attempt = core::CurrentActivity(state).in_flight_attempt;
    s.compensation = state.status == core::SagaStatus::kCompensating;
    s.outcome = outcome;
    s.output_json = output;
    s.error = outcome == core::CallOutcome::kSucceeded ? "" : "bounce";
    now += 10;
    commit(core::Decide(*def, state, s, {now, 0.5}));
  };
  answer(core::CallOutcome::kSucceeded, R"({"name":"Ann"})");
  answer(core::CallOutcome::kSucceeded, R"({"reservation_id":"r-1"})");
  answer(core::CallOutcome::kBusinessFailure, "");
  answer(core::CallOutcome::kSucceeded, "");

  a.saga.set_saga_id("s-1");
  a.saga.set_saga_type("appointment_booking");
  a.saga.set_definition_version(1);
  a.saga.set_status(v1::SAGA_STATUS_COMPENSATED);
  a.saga.set_input_json(state.input_json);
  a.history.set_saga_id("s-1");
  for (const core::Event& e : a.events) {
    v1::SagaEvent* out = a.history.add_events();
    out->set_seq(e.seq);
    out->set_type(core::EventTypeName(e.type));
    if (e.step >= 0) out->set_step(def->steps[e.step].name);
    out->set_attempt(e.attempt);
    out->set_data_json(core::EncodeEventData(e));
    out->set_recorded_unix_ms(e.at_ms);
  }
  a.definition.mutable_info()->set_saga_type("appointment_booking");
  a.definition.mutable_info()->set_version(1);
  a.definition.set_source_yaml(BookingSource());
  return a;
}

TEST(HistoryFromApiTest, BuildsAHistoryThatRoundTripsAndReplays) {
  Answers a = Compensated();
  absl::StatusOr<core::History> history =
      HistoryFromApi(a.saga, a.history, a.definition);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->saga.saga_id, "s-1");
  EXPECT_EQ(history->saga.status, "COMPENSATED");
  EXPECT_EQ(history->definition.name, "appointment_booking");
  EXPECT_EQ(history->definition_source, BookingSource());
  EXPECT_EQ(history->events, a.events);

  absl::StatusOr<std::string> text = core::EncodeHistory(*history);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<core::History> decoded = core::DecodeHistory(*text, "s.json");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->events, a.events);
  core::ReplayReport report = core::ReplayHistory(*decoded);
  EXPECT_TRUE(report.ok()) << report.divergence->reason;
  EXPECT_EQ(report.state.status, core::SagaStatus::kCompensated);
}

TEST(HistoryFromApiTest, RefusesAnswersThatDoNotFit) {
  Answers a = Compensated();
  a.definition.mutable_info()->set_version(2);
  EXPECT_EQ(HistoryFromApi(a.saga, a.history, a.definition).status().message(),
            "saga s-1 ran with appointment_booking version 1 but the server "
            "sent appointment_booking version 2");

  a = Compensated();
  a.history.mutable_events(3)->set_step("teleport");
  EXPECT_EQ(HistoryFromApi(a.saga, a.history, a.definition).status().message(),
            "saga s-1: event 3 (seq 4): step 'teleport' is not a step of "
            "appointment_booking version 1");

  a = Compensated();
  a.history.mutable_events(2)->set_data_json("[1]");
  absl::Status status =
      HistoryFromApi(a.saga, a.history, a.definition).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "saga s-1: event 2 (seq 3): event StepSucceeded #3: data is not a "
            "JSON object");

  a = Compensated();
  a.definition.set_source_yaml("name: [");
  status = HistoryFromApi(a.saga, a.history, a.definition).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message().rfind(
                "saga s-1: the server's definition does not load: ", 0),
            0u)
      << status;
}

}  // namespace
}  // namespace saga::sagactl
