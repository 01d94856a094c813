#include "tools/sagactl/participant_render.h"

#include "gtest/gtest.h"

namespace saga::sagactl {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

v1::ListParticipantsResponse TwoParticipants() {
  v1::ListParticipantsResponse list;
  v1::ParticipantInfo* doctor = list.add_participants();
  doctor->set_name("doctor");
  doctor->set_address("127.0.0.1:7002");
  doctor->set_circuit(v1::CIRCUIT_STATE_OPEN);
  doctor->set_calls_in_flight(0);
  doctor->set_calls_parked(12);
  doctor->set_calls_last_minute(8);
  doctor->set_failures_last_minute(2);
  doctor->set_error_rate_last_minute(0.25);
  doctor->mutable_pause()->set_paused_by("ops (ann)");
  doctor->mutable_pause()->set_reason("database migration");
  doctor->mutable_pause()->set_since_unix_ms(kNow - 180'000);
  v1::ParticipantInfo* email = list.add_participants();
  email->set_name("email");
  email->set_address("127.0.0.1:7003");
  email->set_circuit(v1::CIRCUIT_STATE_CLOSED);
  email->set_calls_in_flight(3);
  return list;
}

TEST(ParticipantRenderTest, TableShowsCircuitCallsErrorsAndPause) {
  EXPECT_EQ(RenderParticipantsTable(TwoParticipants(), kNow),
            "PARTICIPANT  ADDRESS         CIRCUIT  IN-FLIGHT  PARKED  "
            "CALLS/1M  ERRORS/1M  PAUSED\n"
            "doctor       127.0.0.1:7002  OPEN     0          12      8"
            "         2 (25%)    3m ago by ops (ann): database migration\n"
            "email        127.0.0.1:7003  CLOSED   3          0       0"
            "         0 (0%)     -\n");
}

TEST(ParticipantRenderTest, NoParticipants) {
  EXPECT_EQ(RenderParticipantsTable({}, kNow), "No participants configured.\n");
}

TEST(ParticipantRenderTest, PauseAndResumeSayWhetherAnythingChanged) {
  const v1::ParticipantInfo doctor = TwoParticipants().participants(0);
  EXPECT_EQ(RenderPauseChange(doctor, true, true, kNow),
            "participant doctor paused: no call goes to it until resumed (3m "
            "ago by ops (ann): database migration); 12 calls parked here\n");
  EXPECT_EQ(RenderPauseChange(doctor, false, true, kNow),
            "participant doctor was already paused (3m ago by ops (ann): "
            "database migration)\n");
  EXPECT_EQ(RenderPauseChange(doctor, true, false, kNow),
            "participant doctor resumed: parked calls go now\n");
  EXPECT_EQ(RenderPauseChange(doctor, false, false, kNow),
            "participant doctor was not paused\n");
}

TEST(ParticipantRenderTest, UnknownCircuitStateShowsItsNumber) {
  EXPECT_EQ(CircuitStateName(static_cast<v1::CircuitState>(9)), "9");
}

}  // namespace
}  // namespace saga::sagactl
