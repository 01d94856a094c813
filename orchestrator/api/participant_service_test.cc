// ListParticipants, PauseParticipant and ResumeParticipant through the
// service in process (service_test_fixture.h): checks, NOT_FOUND, the
// operator recorded, idempotence, and a paused participant's saga that
// waits, then completes on resume.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "orchestrator/api/service_test_fixture.h"
#include "tests/support/test_support.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;
using namespace std::chrono_literals;

constexpr char kOperatorToken[] = "operator-token-1";

struct Paused {
  grpc::Status status;
  v1::PauseParticipantResponse response;
};

Paused Pause(ServiceHarness& harness, const std::string& participant,
             const std::string& reason, const std::string& name = "",
             const std::string& token = "") {
  v1::PauseParticipantRequest request;
  request.set_participant(participant);
  request.mutable_operator_()->set_reason(reason);
  request.mutable_operator_()->set_name(name);
  Paused paused;
  paused.status = harness.Stub().PauseParticipant(Context(token).get(), request,
                                                  &paused.response);
  return paused;
}

struct Resumed {
  grpc::Status status;
  v1::ResumeParticipantResponse response;
};

Resumed Resume(ServiceHarness& harness, const std::string& participant,
               const std::string& reason = "") {
  v1::ResumeParticipantRequest request;
  request.set_participant(participant);
  request.mutable_operator_()->set_reason(reason);
  Resumed resumed;
  resumed.status = harness.Stub().ResumeParticipant(Context().get(), request,
                                                    &resumed.response);
  return resumed;
}

// The participant named `name` in ListParticipants' answer.
v1::ParticipantInfo Listed(ServiceHarness& harness, const std::string& name) {
  v1::ListParticipantsResponse list;
  const grpc::Status status = harness.Stub().ListParticipants(
      Context().get(), v1::ListParticipantsRequest(), &list);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (const v1::ParticipantInfo& info : list.participants()) {
    if (info.name() == name) return info;
  }
  ADD_FAILURE() << name << " is not listed";
  return {};
}

TEST(ParticipantServiceTest, ChecksTheRequestAndRefusesUnknownParticipants) {
  ServiceHarness harness;
  struct Case {
    std::string participant;
    std::string reason;
    StatusCode code;
    std::string message_part;
  };
  const std::string nul("doc\0tor", 7);
  for (const Case& c : std::vector<Case>{
           {"", "outage", StatusCode::INVALID_ARGUMENT, "participant"},
           {nul, "outage", StatusCode::INVALID_ARGUMENT, "participant"},
           {std::string(129, 'd'), "outage", StatusCode::INVALID_ARGUMENT,
            "participant"},
           {"doctor", "", StatusCode::INVALID_ARGUMENT, "operator.reason"},
           {"doctor", std::string(1025, 'r'), StatusCode::INVALID_ARGUMENT,
            "operator.reason"},
           {"radiology", "outage", StatusCode::NOT_FOUND,
            "no participant named 'radiology' is configured (known: doctor, "
            "email, patient, payment)"},
       }) {
    SCOPED_TRACE(c.participant + " / " + c.reason);
    const Paused paused = Pause(harness, c.participant, c.reason);
    EXPECT_EQ(paused.status.error_code(), c.code);
    EXPECT_NE(paused.status.error_message().find(c.message_part),
              std::string::npos)
        << paused.status.error_message();
  }
  EXPECT_EQ(Resume(harness, "radiology").status.error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(Resume(harness, "").status.error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(harness.pauses().Audit().empty());
}

TEST(ParticipantServiceTest, ListsEveryConfiguredParticipant) {
  ServiceHarness harness;
  v1::ListParticipantsResponse list;
  ASSERT_TRUE(harness.Stub()
                  .ListParticipants(Context().get(),
                                    v1::ListParticipantsRequest(), &list)
                  .ok());
  std::vector<std::string> names;
  for (const v1::ParticipantInfo& info : list.participants()) {
    names.push_back(info.name());
    EXPECT_EQ(info.address(), harness.participant().Address());
    EXPECT_EQ(info.circuit(), v1::CIRCUIT_STATE_CLOSED);
    EXPECT_FALSE(info.has_pause());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"doctor", "email", "patient",
                                             "payment"}));
}

TEST(ParticipantServiceTest, PausingIsIdempotentAndRecordsTheOperator) {
  auto tokens =
      security::TokenTable::Create({{"ops", security::Role::kOperator,
                                     security::Sha256Hex(kOperatorToken)}});
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ServiceHarnessOptions options;
  options.tokens = *std::move(tokens);
  ServiceHarness harness(std::move(options));

  const Paused first =
      Pause(harness, "doctor", "db migration", "ann", kOperatorToken);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_TRUE(first.response.changed());
  EXPECT_EQ(first.response.participant().pause().paused_by(), "ops (ann)");
  EXPECT_EQ(first.response.participant().pause().reason(), "db migration");
  EXPECT_GT(first.response.participant().pause().since_unix_ms(), 0);

  const Paused again =
      Pause(harness, "doctor", "still down", "bob", kOperatorToken);
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_FALSE(again.response.changed());
  // The first pause stays as it was.
  EXPECT_EQ(again.response.participant().pause().paused_by(), "ops (ann)");
  EXPECT_EQ(again.response.participant().pause().reason(), "db migration");
  EXPECT_EQ(harness.pauses().Audit(),
            std::vector<std::string>{
                "participant.paused doctor by ops (ann): db migration"});
}

TEST(ParticipantServiceTest, APausedParticipantsSagaWaitsAndCompletesOnResume) {
  ServiceHarness harness;
  const Paused paused = Pause(harness, "patient", "patient db failover");
  ASSERT_TRUE(paused.status.ok()) << paused.status.error_message();
  EXPECT_TRUE(paused.response.changed());
  EXPECT_TRUE(Listed(harness, "patient").has_pause());

  v1::StartSagaRequest start;
  start.set_saga_type("appointment_booking");
  start.set_input_json(kBookingInput);
  v1::StartSagaResponse started;
  ASSERT_TRUE(harness.Stub().StartSaga(Context().get(), start, &started).ok());
  // Its first call parks in front of the paused participant.
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] { return Listed(harness, "patient").calls_parked() == 1; }, 10s));
  v1::GetSagaRequest get;
  get.set_saga_id(started.saga_id());
  v1::GetSagaResponse saga;
  ASSERT_TRUE(harness.Stub().GetSaga(Context().get(), get, &saga).ok());
  EXPECT_EQ(saga.saga().status(), v1::SAGA_STATUS_RUNNING);

  const Resumed resumed = Resume(harness, "patient");
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message();
  EXPECT_TRUE(resumed.response.changed());
  EXPECT_FALSE(resumed.response.participant().has_pause());
  EXPECT_FALSE(Resume(harness, "patient").response.changed());

  v1::AwaitSagaRequest await;
  await.set_saga_id(started.saga_id());
  await.set_timeout_ms(20000);
  v1::AwaitSagaResponse awaited;
  ASSERT_TRUE(harness.Stub().AwaitSaga(Context().get(), await, &awaited).ok());
  EXPECT_EQ(awaited.saga().status(), v1::SAGA_STATUS_COMPLETED);
  // One attempt at the step that waited: the wait used none.
  v1::GetSagaHistoryRequest history_request;
  history_request.set_saga_id(started.saga_id());
  v1::GetSagaHistoryResponse history;
  ASSERT_TRUE(harness.Stub()
                  .GetSagaHistory(Context().get(), history_request, &history)
                  .ok());
  int patient_attempts = 0;
  for (const v1::SagaEvent& event : history.events()) {
    if (event.type() == "StepStarted" && event.step() == "validate_patient") {
      ++patient_attempts;
    }
  }
  EXPECT_EQ(patient_attempts, 1);
  EXPECT_EQ(harness.pauses().Audit().size(), 2u);
}

}  // namespace
}  // namespace saga::api::testing
