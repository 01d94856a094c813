// Who may call what, through the service in process: every RPC refuses a
// call without a token, every operator RPC refuses a submitter, and a
// submitter reaches only the sagas it started.
#include <gtest/gtest.h>

#include "orchestrator/api/service_test_fixture.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;
using security::Role;

constexpr char kSubmitterToken[] = "submitter-token-1";
constexpr char kOtherSubmitterToken[] = "submitter-token-2";
constexpr char kOperatorToken[] = "operator-token-1";
constexpr char kSomeId[] = "123e4567-e89b-42d3-a456-426614174000";

ServiceHarnessOptions WithTokens() {
  auto tokens = security::TokenTable::Create(
      {{"booking-service", Role::kSubmitter,
        security::Sha256Hex(kSubmitterToken)},
       {"billing-service", Role::kSubmitter,
        security::Sha256Hex(kOtherSubmitterToken)},
       {"ops", Role::kOperator, security::Sha256Hex(kOperatorToken)}});
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  ServiceHarnessOptions options;
  if (tokens.ok()) options.tokens = *std::move(tokens);
  return options;
}

template <typename Request>
Request WithId(const std::string& saga_id) {
  Request request;
  request.set_saga_id(saga_id);
  return request;
}

using Stub = v1::SagaOrchestrator::Stub;

// A well-formed call of each operator-only RPC.
std::map<std::string, RpcCall> OperatorCalls() {
  v1::GetDefinitionRequest definition;
  definition.set_saga_type("appointment_booking");
  v1::PauseParticipantRequest pause;
  pause.set_participant("doctor");
  pause.mutable_operator_()->set_reason("outage");
  v1::ResumeParticipantRequest resume;
  resume.set_participant("doctor");
  return {
      {"ListSagas", Call(&Stub::ListSagas, v1::ListSagasRequest())},
      {"CountSagas", Call(&Stub::CountSagas, v1::CountSagasRequest())},
      {"GetSagaHistory",
       Call(&Stub::GetSagaHistory, WithId<v1::GetSagaHistoryRequest>(kSomeId))},
      {"WatchSaga", WatchSagaCall(kSomeId)},
      {"WatchEvents", WatchEventsCall(v1::WatchEventsRequest())},
      {"CancelSaga",
       Call(&Stub::CancelSaga, WithId<v1::CancelSagaRequest>(kSomeId))},
      {"RetrySaga",
       Call(&Stub::RetrySaga, WithId<v1::RetrySagaRequest>(kSomeId))},
      {"SkipStep", Call(&Stub::SkipStep, WithId<v1::SkipStepRequest>(kSomeId))},
      {"MarkCompensated", Call(&Stub::MarkCompensated,
                               WithId<v1::MarkCompensatedRequest>(kSomeId))},
      {"RerunSaga",
       Call(&Stub::RerunSaga, WithId<v1::RerunSagaRequest>(kSomeId))},
      {"ListDefinitions",
       Call(&Stub::ListDefinitions, v1::ListDefinitionsRequest())},
      {"GetDefinition", Call(&Stub::GetDefinition, definition)},
      {"ListParticipants",
       Call(&Stub::ListParticipants, v1::ListParticipantsRequest())},
      {"PauseParticipant", Call(&Stub::PauseParticipant, pause)},
      {"ResumeParticipant", Call(&Stub::ResumeParticipant, resume)},
  };
}

v1::SignalSagaRequest SignalOf(const std::string& saga_id) {
  v1::SignalSagaRequest signal = WithId<v1::SignalSagaRequest>(saga_id);
  signal.set_name("approval");
  signal.set_idempotency_key("k-1");
  return signal;
}

// ...and of the RPCs open to submitters.
std::map<std::string, RpcCall> SubmitterCalls() {
  v1::StartSagaRequest start;
  start.set_saga_type("appointment_booking");
  start.set_input_json(kBookingInput);
  return {
      {"StartSaga", Call(&Stub::StartSaga, start)},
      {"GetSaga", Call(&Stub::GetSaga, WithId<v1::GetSagaRequest>(kSomeId))},
      {"AwaitSaga",
       Call(&Stub::AwaitSaga, WithId<v1::AwaitSagaRequest>(kSomeId))},
      {"SignalSaga", Call(&Stub::SignalSaga, SignalOf(kSomeId))},
      {"CompleteStep",
       Call(&Stub::CompleteStep, WithId<v1::CompleteStepRequest>(kSomeId))},
      {"WhoAmI", Call(&Stub::WhoAmI, v1::WhoAmIRequest())},
  };
}

TEST(ServiceAuthorizationTest, EveryCallWithoutATokenIsUnauthenticated) {
  ServiceHarness harness(WithTokens());
  auto calls = OperatorCalls();
  calls.merge(SubmitterCalls());
  ASSERT_EQ(calls.size(), 20u);
  for (const auto& [method, call] : calls) {
    SCOPED_TRACE(method);
    const grpc::Status status = call(harness.Stub(), *Context());
    EXPECT_EQ(status.error_code(), StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(status.error_message(),
              "missing bearer token: send metadata 'authorization: Bearer "
              "<token>'");
  }
  const grpc::Status unknown =
      SubmitterCalls().at("GetSaga")(harness.Stub(), *Context("not-a-token"));
  EXPECT_EQ(unknown.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(unknown.error_message(), "unknown bearer token");
  EXPECT_TRUE(harness.store().Outbox().empty());
}

TEST(ServiceAuthorizationTest, SubmittersMayNotCallOperatorMethods) {
  ServiceHarness harness(WithTokens());
  for (const auto& [method, call] : OperatorCalls()) {
    SCOPED_TRACE(method);
    const grpc::Status status = call(harness.Stub(), *Context(kSubmitterToken));
    EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(status.error_message(),
              "token 'booking-service' (submitter) "
              "may not call " +
                  method + ": it needs the operator role");
  }
  EXPECT_TRUE(harness.pauses().Audit().empty());
}

TEST(ServiceAuthorizationTest, SubmittersReachOnlyTheirOwnSagas) {
  ServiceHarness harness(WithTokens());
  v1::StartSagaRequest start;
  start.set_saga_type("appointment_booking");
  start.set_input_json(kBookingInput);
  start.set_idempotency_key("order-7");
  v1::StartSagaResponse started;
  grpc::Status status =
      harness.Stub().StartSaga(Context(kSubmitterToken).get(), start, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string id = started.saga_id();

  // The submitter that started it, and operators, see it.
  for (const char* token : {kSubmitterToken, kOperatorToken}) {
    SCOPED_TRACE(token);
    v1::AwaitSagaRequest await = WithId<v1::AwaitSagaRequest>(id);
    await.set_timeout_ms(30000);
    v1::AwaitSagaResponse awaited;
    status = harness.Stub().AwaitSaga(Context(token).get(), await, &awaited);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(awaited.reached());
    v1::GetSagaResponse got;
    status = harness.Stub().GetSaga(Context(token).get(),
                                    WithId<v1::GetSagaRequest>(id), &got);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(got.saga().status(), v1::SAGA_STATUS_COMPLETED);
  }
  v1::StartSagaResponse replayed;
  status = harness.Stub().StartSaga(Context(kSubmitterToken).get(), start,
                                    &replayed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(replayed.saga_id(), id);
  EXPECT_FALSE(replayed.created());

  // Another submitter learns nothing, not even that the saga exists.
  const std::string not_found = "saga " + id + " not found";
  // A signal, too, is refused before anything is written.
  const size_t outbox = harness.store().Outbox().size();
  for (const auto& [method, call] : std::map<std::string, RpcCall>{
           {"GetSaga", Call(&Stub::GetSaga, WithId<v1::GetSagaRequest>(id))},
           {"AwaitSaga",
            Call(&Stub::AwaitSaga, WithId<v1::AwaitSagaRequest>(id))},
           {"SignalSaga", Call(&Stub::SignalSaga, SignalOf(id))}}) {
    SCOPED_TRACE(method);
    status = call(harness.Stub(), *Context(kOtherSubmitterToken));
    EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), not_found);
  }
  EXPECT_EQ(harness.store().Outbox().size(), outbox);
  status = harness.Stub().StartSaga(Context(kOtherSubmitterToken).get(), start,
                                    &replayed);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(),
            "idempotency key 'order-7' is already used by another caller");
}

}  // namespace
}  // namespace saga::api::testing
