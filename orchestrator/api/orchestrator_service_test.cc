// The orchestrator service in process (service_test_fixture.h): each RPC's
// answer, the refusals of each role, and AwaitSaga wherever the saga runs.
#include "orchestrator/api/orchestrator_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "orchestrator/api/service_test_fixture.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;
using namespace std::chrono_literals;

constexpr char kBooking[] = "appointment_booking";

struct Started {
  grpc::Status status;
  v1::StartSagaResponse response;
};

Started Start(ServiceHarness& harness, const std::string& key = "",
              const std::string& token = "", const std::string& type = kBooking,
              const std::string& input = kBookingInput) {
  v1::StartSagaRequest request;
  request.set_saga_type(type);
  request.set_input_json(input);
  request.set_idempotency_key(key);
  Started started;
  started.status = harness.Stub().StartSaga(Context(token).get(), request,
                                            &started.response);
  return started;
}

struct Awaited {
  grpc::Status status;
  v1::AwaitSagaResponse response;
};

Awaited Await(ServiceHarness& harness, const std::string& saga_id,
              const std::string& step = "", int64_t timeout_ms = 30000,
              const std::string& token = "") {
  v1::AwaitSagaRequest request;
  request.set_saga_id(saga_id);
  request.set_step(step);
  request.set_timeout_ms(timeout_ms);
  Awaited awaited;
  awaited.status = harness.Stub().AwaitSaga(Context(token).get(), request,
                                            &awaited.response);
  return awaited;
}

// Starts a saga and waits for its end; the saga's id.
std::string Finished(ServiceHarness& harness, v1::SagaStatus expected,
                     const std::string& type = kBooking,
                     const std::string& input = kBookingInput) {
  Started started = Start(harness, "", "", type, input);
  EXPECT_TRUE(started.status.ok()) << started.status.error_message();
  Awaited awaited = Await(harness, started.response.saga_id());
  EXPECT_TRUE(awaited.status.ok()) << awaited.status.error_message();
  EXPECT_TRUE(awaited.response.reached());
  EXPECT_EQ(awaited.response.saga().status(), expected);
  return started.response.saga_id();
}

TEST(OrchestratorServiceTest, StartsASagaAndReplaysItsIdempotencyKey) {
  ServiceHarness harness;
  Started first = Start(harness, "key-1");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_TRUE(first.response.created());
  Awaited awaited = Await(harness, first.response.saga_id());
  ASSERT_TRUE(awaited.status.ok()) << awaited.status.error_message();
  EXPECT_TRUE(awaited.response.reached());
  EXPECT_EQ(awaited.response.saga().status(), v1::SAGA_STATUS_COMPLETED);

  Started again = Start(harness, "key-1");
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_FALSE(again.response.created());
  EXPECT_EQ(again.response.saga_id(), first.response.saga_id());
}

TEST(OrchestratorServiceTest, ReadsASagaItsHistoryAndTheList) {
  ServiceHarness harness;
  const std::string first = Finished(harness, v1::SAGA_STATUS_COMPLETED);
  const std::string second = Finished(harness, v1::SAGA_STATUS_COMPLETED);

  v1::GetSagaRequest get;
  get.set_saga_id(first);
  v1::GetSagaResponse saga;
  ASSERT_TRUE(harness.Stub().GetSaga(Context().get(), get, &saga).ok());
  EXPECT_EQ(saga.saga().saga_id(), first);
  EXPECT_EQ(saga.saga().saga_type(), kBooking);
  ASSERT_EQ(saga.saga().steps_size(), 3);
  for (const auto& step : saga.saga().steps()) {
    EXPECT_EQ(step.status(), v1::STEP_STATUS_SUCCEEDED) << step.name();
  }

  v1::GetSagaHistoryRequest history_request;
  history_request.set_saga_id(first);
  v1::GetSagaHistoryResponse history;
  ASSERT_TRUE(harness.Stub()
                  .GetSagaHistory(Context().get(), history_request, &history)
                  .ok());
  EXPECT_EQ(history.saga_id(), first);
  ASSERT_FALSE(history.events().empty());
  EXPECT_EQ(history.events(0).seq(), 1);
  EXPECT_EQ(history.events(history.events_size() - 1).seq(),
            history.events_size());

  // Newest first, one a page.
  v1::ListSagasRequest list;
  list.set_page_size(1);
  v1::ListSagasResponse page;
  ASSERT_TRUE(harness.Stub().ListSagas(Context().get(), list, &page).ok());
  ASSERT_EQ(page.sagas_size(), 1);
  ASSERT_FALSE(page.next_page_token().empty());
  std::set<std::string> listed = {page.sagas(0).saga_id()};
  list.set_page_token(page.next_page_token());
  page.Clear();
  ASSERT_TRUE(harness.Stub().ListSagas(Context().get(), list, &page).ok());
  ASSERT_EQ(page.sagas_size(), 1);
  EXPECT_TRUE(page.next_page_token().empty());
  listed.insert(page.sagas(0).saga_id());
  EXPECT_EQ(listed, (std::set<std::string>{first, second}));
}

TEST(OrchestratorServiceTest, AwaitsAStepThenTheEnd) {
  ServiceHarness harness;
  harness.participant().Block("send_notification");
  Started started = Start(harness);
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  const std::string id = started.response.saga_id();

  Awaited step = Await(harness, id, "reserve_doctor");
  ASSERT_TRUE(step.status.ok()) << step.status.error_message();
  EXPECT_TRUE(step.response.reached());
  EXPECT_EQ(step.response.saga().status(), v1::SAGA_STATUS_RUNNING);

  Awaited timed_out = Await(harness, id, "", /*timeout_ms=*/50);
  ASSERT_TRUE(timed_out.status.ok()) << timed_out.status.error_message();
  EXPECT_FALSE(timed_out.response.reached());
  EXPECT_EQ(timed_out.response.saga().status(), v1::SAGA_STATUS_RUNNING);

  harness.participant().Unblock();
  Awaited end = Await(harness, id);
  ASSERT_TRUE(end.status.ok()) << end.status.error_message();
  EXPECT_TRUE(end.response.reached());
  EXPECT_EQ(end.response.saga().status(), v1::SAGA_STATUS_COMPLETED);
}

// StartSaga with await_timeout_ms: one call that records the saga and
// answers with its end; a wait that runs out answers OK with the saga as it
// stands, and a replay of the key waits for the same saga.
TEST(OrchestratorServiceTest, StartSagaCanWaitForTheEnd) {
  ServiceHarness harness;
  v1::StartSagaRequest request;
  request.set_saga_type(kBooking);
  request.set_input_json(kBookingInput);
  request.set_await_timeout_ms(30000);
  v1::StartSagaResponse ended;
  ASSERT_TRUE(harness.Stub().StartSaga(Context().get(), request, &ended).ok());
  EXPECT_TRUE(ended.created());
  EXPECT_TRUE(ended.awaited().reached());
  EXPECT_EQ(ended.awaited().saga().saga_id(), ended.saga_id());
  EXPECT_EQ(ended.awaited().saga().status(), v1::SAGA_STATUS_COMPLETED);

  harness.participant().Block("send_notification");
  request.set_idempotency_key("key-wait");
  request.set_await_timeout_ms(50);
  v1::StartSagaResponse short_wait;
  ASSERT_TRUE(
      harness.Stub().StartSaga(Context().get(), request, &short_wait).ok());
  EXPECT_TRUE(short_wait.created());
  EXPECT_FALSE(short_wait.awaited().reached());
  EXPECT_EQ(short_wait.awaited().saga().status(), v1::SAGA_STATUS_RUNNING);

  harness.participant().Unblock();
  request.set_await_timeout_ms(30000);
  v1::StartSagaResponse replayed;
  ASSERT_TRUE(
      harness.Stub().StartSaga(Context().get(), request, &replayed).ok());
  EXPECT_FALSE(replayed.created());
  EXPECT_EQ(replayed.saga_id(), short_wait.saga_id());
  EXPECT_TRUE(replayed.awaited().reached());
  EXPECT_EQ(replayed.awaited().saga().status(), v1::SAGA_STATUS_COMPLETED);

  // Without a wait the answer carries no saga, as before.
  request.clear_idempotency_key();
  request.set_await_timeout_ms(0);
  v1::StartSagaResponse at_once;
  ASSERT_TRUE(
      harness.Stub().StartSaga(Context().get(), request, &at_once).ok());
  EXPECT_FALSE(at_once.has_awaited());

  request.set_await_timeout_ms(-1);
  v1::StartSagaResponse refused;
  EXPECT_EQ(
      harness.Stub().StartSaga(Context().get(), request, &refused).error_code(),
      StatusCode::INVALID_ARGUMENT);
}

TEST(OrchestratorServiceTest, AwaitsASagaAnotherInstanceDrives) {
  ServiceHarness harness;
  std::unique_ptr<engine::Engine> other = harness.OtherInstance("other");
  harness.participant().Block("send_notification");
  std::promise<absl::StatusOr<store::CreateResult>> created;
  other->StartSaga(kBooking, kBookingInput, "", {}, "",
                   [&](auto result) { created.set_value(result); });
  const auto result = created.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string id = result->saga_id;
  ASSERT_TRUE(harness.participant().WaitForCall("send_notification", 30s));

  // Judged by what the store recorded: a step that succeeded there...
  Awaited step = Await(harness, id, "reserve_doctor");
  ASSERT_TRUE(step.status.ok()) << step.status.error_message();
  EXPECT_TRUE(step.response.reached());
  EXPECT_EQ(step.response.saga().status(), v1::SAGA_STATUS_RUNNING);
  // ...an end that has not come by the deadline...
  Awaited timed_out = Await(harness, id, "", /*timeout_ms=*/200);
  ASSERT_TRUE(timed_out.status.ok()) << timed_out.status.error_message();
  EXPECT_FALSE(timed_out.response.reached());
  EXPECT_EQ(timed_out.response.saga().status(), v1::SAGA_STATUS_RUNNING);
  // ...and a step its type does not have.
  Awaited unknown = Await(harness, id, "nope");
  EXPECT_EQ(unknown.status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(unknown.status.error_message(),
            "saga type 'appointment_booking' has no step 'nope'");

  // The awaiter reads again until the other instance has finished it.
  auto end = std::async(std::launch::async, [&] { return Await(harness, id); });
  harness.participant().Unblock();
  Awaited ended = end.get();
  ASSERT_TRUE(ended.status.ok()) << ended.status.error_message();
  EXPECT_TRUE(ended.response.reached());
  EXPECT_EQ(ended.response.saga().status(), v1::SAGA_STATUS_COMPLETED);
  other->Stop();
}

TEST(OrchestratorServiceTest, CancelsARunningSagaAndRefusesAnEndedOne) {
  ServiceHarness harness;
  harness.participant().Block("reserve_doctor");
  Started started = Start(harness);
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  const std::string id = started.response.saga_id();
  ASSERT_TRUE(harness.participant().WaitForCall("reserve_doctor", 30s));

  v1::CancelSagaRequest cancel;
  cancel.set_saga_id(id);
  cancel.set_reason("changed my mind");
  v1::CancelSagaResponse cancelled;
  grpc::Status status =
      harness.Stub().CancelSaga(Context().get(), cancel, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.saga().saga_id(), id);

  harness.participant().Unblock();
  Awaited end = Await(harness, id);
  ASSERT_TRUE(end.status.ok()) << end.status.error_message();
  EXPECT_EQ(end.response.saga().status(), v1::SAGA_STATUS_COMPENSATED);

  status = harness.Stub().CancelSaga(Context().get(), cancel, &cancelled);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "saga already ended as COMPENSATED");
}

// Two steps whose rollback gives up at once, so a saga ends FAILED quickly.
constexpr char kRepairable[] = R"(name: repairable
version: 1
input:
  required:
    order_id: string
steps:
  - name: reserve
    kind: compensatable
    participant: doctor
    action: reserve
    compensation: release
    compensation_retry: {max_attempts: 1}
    input:
      order_id: input.order_id
  - name: confirm
    kind: pivot
    participant: email
    action: confirm
    retry: {max_attempts: 1}
    input:
      order_id: input.order_id
)";

TEST(OrchestratorServiceTest, RepairsFailedSagas) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("repairable-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "repairable.yaml") << kRepairable;
  ServiceHarnessOptions options;
  options.definition_dirs = {dir.string()};
  ServiceHarness harness(std::move(options));
  std::filesystem::remove_all(dir);

  harness.participant().SetOutcome("confirm",
                                   v1::STEP_OUTCOME_BUSINESS_FAILURE);
  harness.participant().SetOutcome("release",
                                   v1::STEP_OUTCOME_BUSINESS_FAILURE);
  constexpr char kOrder[] = R"({"order_id":"o-1"})";
  const std::string marked =
      Finished(harness, v1::SAGA_STATUS_FAILED, "repairable", kOrder);
  const std::string skipped =
      Finished(harness, v1::SAGA_STATUS_FAILED, "repairable", kOrder);
  const std::string retried =
      Finished(harness, v1::SAGA_STATUS_FAILED, "repairable", kOrder);
  harness.participant().SetOutcome("release", v1::STEP_OUTCOME_SUCCEEDED);

  v1::MarkCompensatedRequest mark;
  mark.set_saga_id(marked);
  mark.mutable_operator_()->set_reason("released by hand");
  mark.mutable_operator_()->set_name("ann");
  v1::MarkCompensatedResponse mark_response;
  grpc::Status status =
      harness.Stub().MarkCompensated(Context().get(), mark, &mark_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(mark_response.saga().status(), v1::SAGA_STATUS_COMPENSATED);

  v1::SkipStepRequest skip;
  skip.set_saga_id(skipped);
  skip.set_step("reserve");
  skip.mutable_operator_()->set_reason("nothing to release");
  v1::SkipStepResponse skip_response;
  status = harness.Stub().SkipStep(Context().get(), skip, &skip_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(skip_response.saga().saga_id(), skipped);

  v1::RetrySagaRequest retry;
  retry.set_saga_id(retried);
  retry.mutable_operator_()->set_reason("the doctor service is back");
  v1::RetrySagaResponse retry_response;
  status = harness.Stub().RetrySaga(Context().get(), retry, &retry_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retry_response.saga().saga_id(), retried);

  for (const std::string& id : {skipped, retried}) {
    Awaited end = Await(harness, id);
    ASSERT_TRUE(end.status.ok()) << end.status.error_message();
    EXPECT_EQ(end.response.saga().status(), v1::SAGA_STATUS_COMPENSATED) << id;
  }
}

TEST(OrchestratorServiceTest, StreamsASagaAndTheOutbox) {
  ServiceHarness harness;
  const std::string id = Finished(harness, v1::SAGA_STATUS_COMPLETED);

  v1::WatchSagaRequest watch;
  watch.set_saga_id(id);
  auto context = Context();
  auto saga_events = harness.Stub().WatchSaga(context.get(), watch);
  std::vector<v1::SagaEvent> events;
  for (v1::SagaEvent event; saga_events->Read(&event);) events.push_back(event);
  grpc::Status status = saga_events->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().seq(), 1);
  EXPECT_EQ(events.back().seq(), static_cast<int64_t>(events.size()));

  v1::WatchEventsRequest outbox;
  auto outbox_context = Context();
  auto outbox_events = harness.Stub().WatchEvents(outbox_context.get(), outbox);
  size_t count = 0;
  for (v1::OutboxEvent event; outbox_events->Read(&event);) {
    EXPECT_EQ(event.position(), static_cast<int64_t>(++count));
    EXPECT_EQ(event.saga_id(), id);
  }
  status = outbox_events->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(count, harness.store().Outbox().size());
  EXPECT_GT(count, 0u);
}

TEST(OrchestratorServiceTest, ListsAndShowsDefinitions) {
  ServiceHarness harness;
  v1::ListDefinitionsResponse list;
  ASSERT_TRUE(
      harness.Stub()
          .ListDefinitions(Context().get(), v1::ListDefinitionsRequest(), &list)
          .ok());
  ASSERT_EQ(list.definitions_size(), 1);
  EXPECT_EQ(list.definitions(0).saga_type(), kBooking);
  EXPECT_TRUE(list.definitions(0).current());
  EXPECT_EQ(list.definitions(0).steps_size(), 3);

  v1::GetDefinitionRequest get;
  get.set_saga_type(kBooking);
  v1::GetDefinitionResponse definition;
  grpc::Status status =
      harness.Stub().GetDefinition(Context().get(), get, &definition);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(definition.info().version(), list.definitions(0).version());
  EXPECT_TRUE(definition.info().current());
  EXPECT_NE(definition.source_yaml().find("name: appointment_booking"),
            std::string::npos);
}

// prepaid_booking (tests/testdata/parallel): the definition and a saga's
// steps say which steps form a parallel group and which branch each is.
TEST(OrchestratorServiceTest, DefinitionsAndSagasShowParallelGroups) {
  ServiceHarnessOptions options;
  options.definition_dirs = {saga::testing::TestDefinitionDir("parallel")};
  ServiceHarness harness(options);
  v1::GetDefinitionRequest get;
  get.set_saga_type("prepaid_booking");
  v1::GetDefinitionResponse definition;
  grpc::Status status =
      harness.Stub().GetDefinition(Context().get(), get, &definition);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const auto& steps = definition.info().step_details();
  ASSERT_EQ(steps.size(), 4);
  EXPECT_EQ(steps[0].name(), "validate_patient");
  EXPECT_EQ(steps[0].kind(), "read_only");
  EXPECT_EQ(steps[0].parallel_group(), 0);
  EXPECT_EQ(steps[1].name(), "reserve_doctor");
  EXPECT_EQ(steps[1].compensation(), "release_reservation");
  EXPECT_EQ(steps[1].parallel_group(), 1);
  EXPECT_EQ(steps[1].parallel_branch(), 1);
  EXPECT_EQ(steps[2].participant(), "payment");
  EXPECT_TRUE(steps[2].async_completion());
  EXPECT_EQ(steps[2].parallel_group(), 1);
  EXPECT_EQ(steps[2].parallel_branch(), 2);
  EXPECT_EQ(steps[3].kind(), "pivot");
  EXPECT_EQ(steps[3].parallel_group(), 0);

  Started started =
      Start(harness, "", "", "prepaid_booking",
            R"({"patient_id":"p-1","preferred_date":"2026-12-15",)"
            R"("specialty":"cardiology","amount_cents":2500})");
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  v1::GetSagaRequest get_saga;
  get_saga.set_saga_id(started.response.saga_id());
  v1::GetSagaResponse saga;
  ASSERT_TRUE(harness.Stub().GetSaga(Context().get(), get_saga, &saga).ok());
  ASSERT_EQ(saga.saga().steps_size(), 4);
  EXPECT_EQ(saga.saga().steps(0).parallel_group(), 0);
  EXPECT_EQ(saga.saga().steps(2).parallel_group(), 1);
  EXPECT_EQ(saga.saga().steps(2).parallel_branch(), 2);
}

// Asynchronous completion (tests/testdata/checkout): `charge` is answered
// ACCEPTED by the fake participant and completed through CompleteStep.
ServiceHarnessOptions WithCheckout() {
  ServiceHarnessOptions options;
  options.definition_dirs = {saga::testing::TestDefinitionDir("checkout")};
  return options;
}

constexpr char kCheckoutInput[] =
    R"({"customer_id":"c-1","amount_cents":2500})";

v1::CompleteStepRequest Completion(const std::string& saga_id,
                                   const std::string& token,
                                   const std::string& output = "{}") {
  v1::CompleteStepRequest request;
  request.set_saga_id(saga_id);
  request.set_step("charge");
  request.set_completion_token(token);
  request.mutable_result()->set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
  request.mutable_result()->set_output_json(output);
  return request;
}

grpc::Status Complete(ServiceHarness& harness,
                      const v1::CompleteStepRequest& request) {
  v1::CompleteStepResponse response;
  return harness.Stub().CompleteStep(Context().get(), request, &response);
}

// The saga once its charge waits for its completion.
v1::Saga AwaitAccepted(ServiceHarness& harness, const std::string& saga_id) {
  v1::GetSagaRequest get;
  get.set_saga_id(saga_id);
  v1::GetSagaResponse saga;
  saga::testing::PollUntil(
      [&] {
        saga.Clear();
        EXPECT_TRUE(harness.Stub().GetSaga(Context().get(), get, &saga).ok());
        return saga.saga().steps_size() > 0 &&
               saga.saga().steps(0).completion_due_unix_ms() > 0;
      },
      10s);
  return saga.saga();
}

std::vector<v1::SagaEvent> HistoryOf(ServiceHarness& harness,
                                     const std::string& saga_id) {
  v1::GetSagaHistoryRequest request;
  request.set_saga_id(saga_id);
  v1::GetSagaHistoryResponse history;
  EXPECT_TRUE(
      harness.Stub().GetSagaHistory(Context().get(), request, &history).ok());
  return {history.events().begin(), history.events().end()};
}

TEST(OrchestratorServiceTest, CompletesAnAcceptedStepOnceWithItsToken) {
  ServiceHarness harness(WithCheckout());
  harness.participant().SetOutcome("charge", v1::STEP_OUTCOME_ACCEPTED);
  Started started = Start(harness, "", "", "checkout", kCheckoutInput);
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  const std::string id = started.response.saga_id();
  const v1::Saga waiting = AwaitAccepted(harness, id);
  ASSERT_GT(waiting.steps(0).completion_due_unix_ms(), 0)
      << waiting.DebugString();
  const std::string token = harness.participant().CompletionToken("charge");
  ASSERT_EQ(token.size(), 32u);
  const size_t events = HistoryOf(harness, id).size();

  const grpc::Status wrong =
      Complete(harness, Completion(id, std::string(32, 'f')));
  EXPECT_EQ(wrong.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(wrong.error_message(),
            "completion token not accepted for saga " + id +
                " step 'charge': unknown, already used, or its attempt has "
                "ended");
  EXPECT_EQ(HistoryOf(harness, id).size(), events);

  const grpc::Status completed =
      Complete(harness, Completion(id, token, R"({"charge_id":"ch-1"})"));
  ASSERT_TRUE(completed.ok()) << completed.error_message();
  Awaited done = Await(harness, id);
  ASSERT_TRUE(done.status.ok()) << done.status.error_message();
  EXPECT_EQ(done.response.saga().status(), v1::SAGA_STATUS_COMPLETED);
  EXPECT_EQ(done.response.saga().steps(0).output_json(),
            R"({"charge_id":"ch-1"})");

  // Spent.
  const size_t ended = HistoryOf(harness, id).size();
  EXPECT_EQ(Complete(harness, Completion(id, token)).error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(HistoryOf(harness, id).size(), ended);

  // The history shows that a token was given, never the token.
  bool redacted = false;
  for (const v1::SagaEvent& event : HistoryOf(harness, id)) {
    EXPECT_EQ(event.data_json().find(token), std::string::npos)
        << event.data_json();
    if (event.type() == "StepStarted" && event.step() == "charge") {
      redacted = event.data_json() == R"({"completion_token":"[redacted]"})";
    }
  }
  EXPECT_TRUE(redacted);
}

TEST(OrchestratorServiceTest, CompletionOfAnUnknownSagaIsRefusedAlike) {
  ServiceHarness harness(WithCheckout());
  const std::string id = "00000000-0000-4000-8000-000000000000";
  const grpc::Status status = Complete(harness, Completion(id, "t"));
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "completion token not accepted for saga " + id +
                " step 'charge': unknown, already used, or its attempt has "
                "ended");
  EXPECT_TRUE(harness.store().Outbox().empty());
}

TEST(OrchestratorServiceTest, CompleteStepRefusesBadRequestsAndWritesNothing) {
  ServiceHarness harness(WithCheckout());
  harness.participant().SetOutcome("charge", v1::STEP_OUTCOME_ACCEPTED);
  Started started = Start(harness, "", "", "checkout", kCheckoutInput);
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  const std::string id = started.response.saga_id();
  AwaitAccepted(harness, id);
  const std::string token = harness.participant().CompletionToken("charge");
  const size_t events = HistoryOf(harness, id).size();

  struct Bad {
    const char* what;
    v1::CompleteStepRequest request;
    const char* message_start;
  };
  auto with = [&](auto change) {
    v1::CompleteStepRequest request = Completion(id, token);
    change(request);
    return request;
  };
  using R = v1::CompleteStepRequest;
  const std::vector<Bad> cases = {
      {"bad saga id", with([](R& r) { r.set_saga_id("nope"); }), "saga_id"},
      {"no step", with([](R& r) { r.set_step(""); }), "step"},
      {"NUL in step",
       with([](R& r) { r.set_step(std::string("char\0ge", 7)); }), "step"},
      {"no token", with([](R& r) { r.set_completion_token(""); }),
       "completion_token"},
      {"token too long",
       with([](R& r) { r.set_completion_token(std::string(129, 'a')); }),
       "completion_token"},
      {"no outcome", with([](R& r) {
         r.mutable_result()->set_outcome(v1::STEP_OUTCOME_UNSPECIFIED);
       }),
       "result.outcome must be"},
      {"retryable outcome", with([](R& r) {
         r.mutable_result()->set_outcome(v1::STEP_OUTCOME_RETRYABLE_FAILURE);
       }),
       "result.outcome must be"},
      {"accepted again", with([](R& r) {
         r.mutable_result()->set_outcome(v1::STEP_OUTCOME_ACCEPTED);
       }),
       "result.outcome must be"},
      {"output not JSON",
       with([](R& r) { r.mutable_result()->set_output_json("{nope"); }),
       "result.output_json is not valid JSON"},
      {"output not an object",
       with([](R& r) { r.mutable_result()->set_output_json("[1]"); }),
       "result.output_json must be a JSON object"},
      {"output with a key twice", with([](R& r) {
         r.mutable_result()->set_output_json(R"({"a":1,"a":2})");
       }),
       "result.output_json has the key"},
      {"output with a NUL", with([](R& r) {
         r.mutable_result()->set_output_json(R"({"a":"x\u0000y"})");
       }),
       "result.output_json field 'a' contains a NUL"},
      {"output too large", with([](R& r) {
         r.mutable_result()->set_output_json(
             R"({"a":")" + std::string(300 * 1024, 'x') + R"("})");
       }),
       "result.output_json is "},
      {"error on success",
       with([](R& r) { r.mutable_result()->set_error("but"); }),
       "result.error must be empty"},
      {"business failure without error", with([](R& r) {
         r.mutable_result()->set_outcome(v1::STEP_OUTCOME_BUSINESS_FAILURE);
         r.mutable_result()->clear_output_json();
       }),
       "result.error"},
      {"business failure with output", with([](R& r) {
         r.mutable_result()->set_outcome(v1::STEP_OUTCOME_BUSINESS_FAILURE);
         r.mutable_result()->set_error("declined");
       }),
       "result.output_json must be empty"},
  };
  for (const Bad& bad : cases) {
    SCOPED_TRACE(bad.what);
    const grpc::Status status = Complete(harness, bad.request);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message().rfind(bad.message_start, 0), 0u)
        << status.error_message();
    EXPECT_EQ(status.error_message().find(token), std::string::npos);
  }
  EXPECT_EQ(HistoryOf(harness, id).size(), events);
  // The valid token still completes the step.
  EXPECT_TRUE(Complete(harness, Completion(id, token)).ok());
}

}  // namespace
}  // namespace saga::api::testing
