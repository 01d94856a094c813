// Business keys and reruns through the service in process: StartSaga's
// business_key is checked like every other text field and filters
// ListSagas; RerunSaga starts a linked saga only from an ended one.
#include <gtest/gtest.h>

#include <string>

#include "orchestrator/api/service_test_fixture.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;

constexpr char kBooking[] = "appointment_booking";
constexpr char kUnknownId[] = "123e4567-e89b-42d3-a456-426614174000";

grpc::Status Start(ServiceHarness& harness, const std::string& business_key,
                   v1::StartSagaResponse& response) {
  v1::StartSagaRequest request;
  request.set_saga_type(kBooking);
  request.set_input_json(kBookingInput);
  request.set_business_key(business_key);
  return harness.Stub().StartSaga(Context().get(), request, &response);
}

v1::Saga AwaitEnd(ServiceHarness& harness, const std::string& saga_id) {
  v1::AwaitSagaRequest request;
  request.set_saga_id(saga_id);
  request.set_timeout_ms(30000);
  v1::AwaitSagaResponse response;
  const grpc::Status status =
      harness.Stub().AwaitSaga(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.reached());
  return response.saga();
}

v1::Saga Get(ServiceHarness& harness, const std::string& saga_id) {
  v1::GetSagaRequest request;
  request.set_saga_id(saga_id);
  v1::GetSagaResponse response;
  const grpc::Status status =
      harness.Stub().GetSaga(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.saga();
}

v1::RerunSagaRequest Rerun(const std::string& saga_id) {
  v1::RerunSagaRequest request;
  request.set_saga_id(saga_id);
  request.mutable_operator_()->set_name("ann");
  request.mutable_operator_()->set_reason("the slot is free again");
  return request;
}

TEST(BusinessKeyServiceTest, StartSagaChecksTheKeyLikeOtherTextFields) {
  ServiceHarness harness;
  v1::StartSagaResponse response;
  grpc::Status too_long = Start(harness, std::string(129, 'k'), response);
  EXPECT_EQ(too_long.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(too_long.error_message(),
            "business_key is 129 bytes; the limit is 128");
  grpc::Status nul = Start(harness, std::string("p\0q", 3), response);
  EXPECT_EQ(nul.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nul.error_message(),
            "business_key contains a NUL byte at offset 1: 'p\\x00q'");
  EXPECT_TRUE(harness.store().Outbox().empty());
}

TEST(BusinessKeyServiceTest, ListSagasFiltersByTheKeyAndGetSagaShowsIt) {
  ServiceHarness harness;
  v1::StartSagaResponse mine;
  ASSERT_TRUE(Start(harness, "patient-7", mine).ok());
  v1::StartSagaResponse other;
  ASSERT_TRUE(Start(harness, "patient-8", other).ok());
  EXPECT_EQ(Get(harness, mine.saga_id()).business_key(), "patient-7");

  v1::ListSagasRequest request;
  request.set_business_key("patient-7");
  v1::ListSagasResponse listed;
  ASSERT_TRUE(harness.Stub().ListSagas(Context().get(), request, &listed).ok());
  ASSERT_EQ(listed.sagas_size(), 1);
  EXPECT_EQ(listed.sagas(0).saga_id(), mine.saga_id());
  EXPECT_EQ(listed.sagas(0).business_key(), "patient-7");

  request.set_business_key(std::string(200, 'k'));
  EXPECT_EQ(
      harness.Stub().ListSagas(Context().get(), request, &listed).error_code(),
      StatusCode::INVALID_ARGUMENT);
}

TEST(RerunServiceTest, RerunsAnEndedSagaLinkedBothWays) {
  ServiceHarness harness;
  v1::StartSagaResponse first;
  ASSERT_TRUE(Start(harness, "patient-7", first).ok());
  ASSERT_EQ(AwaitEnd(harness, first.saga_id()).status(),
            v1::SAGA_STATUS_COMPLETED);

  v1::RerunSagaRequest request = Rerun(first.saga_id());
  request.set_input_json(
      R"({"patient_id":"p-2002","preferred_date":"2026-12-04",)"
      R"("specialty":"cardiology"})");
  v1::RerunSagaResponse rerun;
  const grpc::Status status =
      harness.Stub().RerunSaga(Context().get(), request, &rerun);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(rerun.created());

  const v1::Saga again = AwaitEnd(harness, rerun.saga_id());
  EXPECT_EQ(again.status(), v1::SAGA_STATUS_COMPLETED);
  const v1::Saga rerun_saga = Get(harness, rerun.saga_id());
  EXPECT_EQ(rerun_saga.rerun_of(), first.saga_id());
  EXPECT_EQ(rerun_saga.saga_type(), kBooking);
  EXPECT_NE(rerun_saga.input_json().find("p-2002"), std::string::npos);
  // No key of its own and none derived: it keeps the old saga's.
  EXPECT_EQ(rerun_saga.business_key(), "patient-7");
  const v1::Saga old = Get(harness, first.saga_id());
  ASSERT_EQ(old.reruns_size(), 1);
  EXPECT_EQ(old.reruns(0), rerun.saga_id());
}

TEST(RerunServiceTest, RefusesAnUnknownOrUnfinishedSagaAndAMissingReason) {
  ServiceHarness harness;
  v1::RerunSagaResponse rerun;
  EXPECT_EQ(harness.Stub()
                .RerunSaga(Context().get(), Rerun(kUnknownId), &rerun)
                .error_code(),
            StatusCode::NOT_FOUND);

  harness.participant().Block("reserve_doctor");
  v1::StartSagaResponse running;
  ASSERT_TRUE(Start(harness, "", running).ok());
  ASSERT_TRUE(harness.participant().WaitForCall("reserve_doctor",
                                                std::chrono::seconds(30)));
  const grpc::Status unfinished = harness.Stub().RerunSaga(
      Context().get(), Rerun(running.saga_id()), &rerun);
  EXPECT_EQ(unfinished.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(unfinished.error_message(),
            "saga " + running.saga_id() +
                " is RUNNING; only an ended saga (COMPLETED, COMPENSATED or "
                "FAILED) can be rerun");
  harness.participant().Unblock();

  v1::RerunSagaRequest no_reason = Rerun(running.saga_id());
  no_reason.mutable_operator_()->clear_reason();
  EXPECT_EQ(
      harness.Stub().RerunSaga(Context().get(), no_reason, &rerun).error_code(),
      StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace saga::api::testing
