// End-to-end tests of saga-orchestrator with the real participants, each
// against its own fresh PostgreSQL database (see cluster.h).

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

constexpr char kBooking[] = "appointment_booking";
// Test definitions in tests/integration/sagas (same steps, other policies).
constexpr char kFast[] = "appointment_booking_fast";
constexpr char kTimeout[] = "appointment_booking_timeout";
// The booking with a pivot budget of 2s instead of an hour.
constexpr char kShortBudget[] = "appointment_booking_short_budget";
constexpr milliseconds kSagaTimeout{60000};

std::string TestSagasDir() { return SourcePath("tests/integration/sagas"); }

std::string ValidInput(int n = 0) {
  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  std::string day = std::to_string(10 + n % 18);
  return BookingInput(kPatients[n % kPatients.size()], "2027-01-" + day,
                      kSpecialties[n % kSpecialties.size()]);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool ContainsIgnoringCase(std::string haystack, std::string needle) {
  auto lower = [](std::string& s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return std::tolower(c); });
  };
  lower(haystack);
  lower(needle);
  return Contains(haystack, needle);
}

int CountType(const std::vector<saga::v1::SagaEvent>& events,
              const std::string& type) {
  return static_cast<int>(std::count_if(
      events.begin(), events.end(),
      [&](const saga::v1::SagaEvent& event) { return event.type() == type; }));
}

std::string Types(const std::vector<saga::v1::SagaEvent>& events) {
  std::string out;
  for (const auto& event : events) {
    out += event.type() +
           (event.step().empty() ? "" : "(" + event.step() + ")") + " ";
  }
  return out;
}

class OrchestratorTest : public ::testing::Test {
 protected:
  void StartCluster(ClusterOptions options = {}) {
    cluster_ = std::make_unique<TestCluster>(std::move(options));
    ASSERT_TRUE(cluster_->Start());
  }

  grpc::Status Start(const std::string& type, const std::string& input,
                     const std::string& key,
                     saga::v1::StartSagaResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::StartSagaRequest request;
    request.set_saga_type(type);
    request.set_input_json(input);
    request.set_idempotency_key(key);
    return cluster_->Stub().StartSaga(&context, request, response);
  }

  grpc::Status Cancel(const std::string& id, const std::string& reason,
                      saga::v1::CancelSagaResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::CancelSagaRequest request;
    request.set_saga_id(id);
    request.set_reason(reason);
    return cluster_->Stub().CancelSaga(&context, request, response);
  }

  grpc::Status Await(const std::string& id, int64_t timeout_ms,
                     const std::string& step,
                     saga::v1::AwaitSagaResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         milliseconds(timeout_ms + 10000));
    saga::v1::AwaitSagaRequest request;
    request.set_saga_id(id);
    request.set_timeout_ms(timeout_ms);
    request.set_step(step);
    return cluster_->Stub().AwaitSaga(&context, request, response);
  }

  grpc::Status List(saga::v1::SagaStatus status, const std::string& type,
                    int page_size, const std::string& token,
                    saga::v1::ListSagasResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::ListSagasRequest request;
    request.set_status(status);
    request.set_saga_type(type);
    request.set_page_size(page_size);
    request.set_page_token(token);
    return cluster_->Stub().ListSagas(&context, request, response);
  }

  // Every saga id ListSagas returns for the filter, paging with `page_size`;
  // fails the test on a duplicate, an oversized page or an error.
  std::vector<std::string> ListAll(saga::v1::SagaStatus status,
                                   const std::string& type, int page_size) {
    std::vector<std::string> ids;
    std::set<std::string> seen;
    std::string token;
    int64_t previous_created = INT64_MAX;
    for (int page = 0; page < 1000; ++page) {
      saga::v1::ListSagasResponse response;
      grpc::Status rpc = List(status, type, page_size, token, &response);
      if (!rpc.ok()) {
        ADD_FAILURE() << "ListSagas failed: " << rpc.error_code() << " "
                      << rpc.error_message();
        return ids;
      }
      if (page_size > 0) {
        EXPECT_LE(response.sagas_size(), page_size);
      }
      for (const auto& saga : response.sagas()) {
        EXPECT_TRUE(seen.insert(saga.saga_id()).second)
            << "ListSagas returned " << saga.saga_id() << " twice";
        EXPECT_LE(saga.created_unix_ms(), previous_created)
            << "ListSagas is not newest first at " << saga.saga_id();
        previous_created = saga.created_unix_ms();
        if (status != saga::v1::SAGA_STATUS_UNSPECIFIED) {
          EXPECT_EQ(saga.status(), status) << saga.saga_id();
        }
        if (!type.empty()) {
          EXPECT_EQ(saga.saga_type(), type);
        }
        ids.push_back(saga.saga_id());
      }
      if (response.next_page_token().empty()) return ids;
      EXPECT_GT(response.sagas_size(), 0)
          << "an empty page with a next page token";
      token = response.next_page_token();
    }
    ADD_FAILURE() << "ListSagas did not end after 1000 pages";
    return ids;
  }

  // Polls the doctor's database for `window`; fails if the saga ever has an
  // active reservation (late, slow Execute calls must not resurrect it).
  void ExpectNoActiveReservationFor(const std::string& saga_id,
                                    milliseconds window) {
    bool appeared = PollUntil(
        [&] { return cluster_->ActiveReservations(saga_id) > 0; }, window);
    EXPECT_FALSE(appeared) << "an active reservation appeared for " << saga_id
                           << " after the saga ended";
  }

  int64_t TotalBooked() {
    return cluster_->QueryInt(
        "doctor", "SELECT coalesce(sum(booked), 0) FROM doctor_days");
  }

  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(OrchestratorTest, HappyPathCompletesAndParticipantsAgree) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::string input = BookingInput("p-1001", "2026-12-14", "cardiology");
  std::string id = cluster_->StartSaga(kBooking, input, "happy-1");
  ASSERT_FALSE(id.empty());

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(saga);
  saga = cluster_->GetSaga(id);
  EXPECT_EQ(saga.saga_type(), kBooking);
  EXPECT_EQ(saga.definition_version(), 2);
  EXPECT_EQ(saga.idempotency_key(), "happy-1");
  EXPECT_EQ(nlohmann::json::parse(saga.input_json()),
            nlohmann::json::parse(input));
  EXPECT_TRUE(saga.current_step().empty()) << saga.current_step();
  EXPECT_TRUE(saga.error().empty()) << saga.error();
  EXPECT_GT(saga.created_unix_ms(), 0);
  EXPECT_GE(saga.updated_unix_ms(), saga.created_unix_ms());
  ASSERT_EQ(saga.steps_size(), 3);
  const std::vector<std::string> kSteps = {"validate_patient", "reserve_doctor",
                                           "notify"};
  for (int i = 0; i < 3; ++i) {
    const auto& step = saga.steps(i);
    EXPECT_EQ(step.name(), kSteps[i]);
    EXPECT_EQ(step.status(), saga::v1::STEP_STATUS_SUCCEEDED) << step.name();
    EXPECT_EQ(step.attempts(), 1) << step.name();
    EXPECT_EQ(step.compensation_attempts(), 0) << step.name();
    EXPECT_FALSE(step.outcome_unknown()) << step.name();
    EXPECT_TRUE(nlohmann::json::parse(step.output_json()).is_object())
        << step.name() << ": " << step.output_json();
  }

  auto events = cluster_->History(id);
  std::vector<std::string> types;
  std::vector<std::string> steps;
  for (const auto& event : events) {
    types.push_back(event.type());
    steps.push_back(event.step());
  }
  EXPECT_THAT(types, ElementsAre("SagaStarted", "StepStarted", "StepSucceeded",
                                 "StepStarted", "StepSucceeded", "StepStarted",
                                 "StepSucceeded", "SagaCompleted"));
  EXPECT_THAT(steps, ElementsAre("", "validate_patient", "validate_patient",
                                 "reserve_doctor", "reserve_doctor", "notify",
                                 "notify", ""));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq(), static_cast<int64_t>(i + 1));
    EXPECT_GT(events[i].recorded_unix_ms(), 0);
  }

  cluster_->ExpectParticipantsAgree(saga);
  // The reservation is the one reserve_doctor reported, under the saga's
  // key, and both mails went to the right people.
  auto reservation = nlohmann::json::parse(saga.steps(1).output_json());
  ASSERT_TRUE(reservation.contains("reservation_id")) << reservation.dump();
  EXPECT_EQ(cluster_->QueryInt(
                "doctor",
                "SELECT count(*) FROM reservations WHERE reservation_id = $1 "
                "AND status = 'active' AND patient_id = 'p-1001'",
                reservation["reservation_id"].get<std::string>()),
            1);
  EXPECT_EQ(cluster_->QueryInt("doctor",
                               "SELECT count(*) FROM reservations WHERE "
                               "idempotency_key = $1",
                               id + "/reserve_doctor/execute"),
            1);
  auto patient = nlohmann::json::parse(saga.steps(0).output_json());
  ASSERT_TRUE(patient.contains("email")) << patient.dump();
  EXPECT_EQ(cluster_->QueryInt(
                "email", "SELECT count(*) FROM mail_log WHERE recipient = $1",
                patient["email"].get<std::string>()),
            1);
  EXPECT_EQ(TotalBooked(), 1);
}

TEST_F(OrchestratorTest, InactivePatientCompensatesWithoutCompensations) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::string id = cluster_->StartSaga(
      kBooking, BookingInput("p-1003", "2026-12-14", "cardiology"));
  ASSERT_FALSE(id.empty());

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(saga);
  EXPECT_TRUE(Contains(saga.error(), "only active patients may book"))
      << saga.error();
  const auto* validate = FindStep(saga, "validate_patient");
  ASSERT_NE(validate, nullptr);
  EXPECT_EQ(validate->status(), saga::v1::STEP_STATUS_FAILED);
  EXPECT_EQ(validate->attempts(), 1) << "a business failure is never retried";
  const auto* reserve = FindStep(saga, "reserve_doctor");
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->attempts(), 0);

  auto events = cluster_->History(id);
  EXPECT_EQ(CountType(events, "CompensationStepStarted"), 0) << Types(events);
  EXPECT_EQ(CountType(events, "StepStarted"), 1) << Types(events);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), "SagaCompensated") << Types(events);

  cluster_->ExpectParticipantsAgree(saga);
  EXPECT_EQ(cluster_->AllReservations(id), 0);
  EXPECT_EQ(TotalBooked(), 0);
}

TEST_F(OrchestratorTest, UnknownSpecialtyCompensatesWithNothingToUndo) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::string id = cluster_->StartSaga(
      kBooking, BookingInput("p-1002", "2026-12-14", "astrology"));
  ASSERT_FALSE(id.empty());

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(saga);
  EXPECT_TRUE(Contains(saga.error(), "astrology")) << saga.error();
  const auto* reserve = FindStep(saga, "reserve_doctor");
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->status(), saga::v1::STEP_STATUS_FAILED);
  EXPECT_EQ(reserve->attempts(), 1);
  const auto* notify = FindStep(saga, "notify");
  ASSERT_NE(notify, nullptr);
  EXPECT_EQ(notify->attempts(), 0);

  auto events = cluster_->History(id);
  EXPECT_EQ(CountType(events, "CompensationStepStarted"), 0) << Types(events);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), "SagaCompensated") << Types(events);

  cluster_->ExpectParticipantsAgree(saga);
  EXPECT_EQ(cluster_->AllReservations(id), 0);
  EXPECT_EQ(TotalBooked(), 0);
}

// An email outage, whatever it looks like to the orchestrator, only delays
// a booking: the emails go out once the service is back, within the
// pivot's hour. Each kind of outage in turn: the service down (connections
// refused: nothing sent), answering UNAVAILABLE (sent, no answer: outcome
// unknown), and failing every send with an explicit retryable failure.
TEST_F(OrchestratorTest, EmailOutageOfAnyKindDelaysTheBookingUntilItEnds) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  struct Outage {
    std::string kind;
    std::vector<std::string> flags;  // empty: the service is down
  };
  const std::vector<Outage> outages = {
      {"down", {}},
      {"answering UNAVAILABLE", {"--refuse-all"}},
      {"failing every send", {"--fail-rate", "send_notification=1"}}};
  int day = 20;
  for (const Outage& outage : outages) {
    SCOPED_TRACE(outage.kind);
    if (outage.flags.empty()) {
      cluster_->StopParticipant("email");
    } else {
      ASSERT_TRUE(cluster_->RestartParticipant("email", outage.flags));
    }
    const std::string id = cluster_->StartSaga(
        kBooking, BookingInput("p-1001", "2026-12-" + std::to_string(day++),
                               "neurology"));
    ASSERT_FALSE(id.empty());
    // A few sends fail while the saga keeps its reservation.
    ASSERT_TRUE(PollUntil(
        [&] {
          const auto* notify = FindStep(cluster_->GetSaga(id), "notify");
          return notify != nullptr && notify->attempts() >= 3;
        },
        kSagaTimeout));
    saga::v1::Saga waiting = cluster_->GetSaga(id);
    EXPECT_EQ(waiting.status(), saga::v1::SAGA_STATUS_RUNNING)
        << DescribeSaga(waiting);
    EXPECT_EQ(cluster_->ActiveReservations(id), 1);
    EXPECT_EQ(cluster_->Mails(id), 0);

    ASSERT_TRUE(cluster_->RestartParticipant("email", {}));
    saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster_->ExpectParticipantsAgree(saga);
    EXPECT_EQ(cluster_->Mails(id), 2);
  }
}

// An email outage longer than the pivot's retry budget (here 2s; the
// booking saga's is an hour) releases the reservation.
TEST_F(OrchestratorTest, EmailAlwaysFailingReleasesTheReservation) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["email"] = {"--fail-rate", "send_notification=1"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  std::string id = cluster_->StartSaga(
      kShortBudget, BookingInput("p-1004", "2026-12-15", "dermatology"));
  ASSERT_FALSE(id.empty());

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(saga);
  EXPECT_NE(saga.error().find("(its give_up_after is 2s)"), std::string::npos)
      << saga.error();
  const auto* notify = FindStep(saga, "notify");
  ASSERT_NE(notify, nullptr);
  EXPECT_EQ(notify->status(), saga::v1::STEP_STATUS_FAILED);
  EXPECT_GT(notify->attempts(), 1) << "a retryable failure is retried";
  const auto* reserve = FindStep(saga, "reserve_doctor");
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->status(), saga::v1::STEP_STATUS_COMPENSATED);
  const auto* validate = FindStep(saga, "validate_patient");
  ASSERT_NE(validate, nullptr);
  EXPECT_EQ(validate->compensation_attempts(), 0) << "read-only step";

  // Exactly one compensation ran: reserve_doctor's; the read-only step and
  // the failed pivot have nothing to undo.
  auto events = cluster_->History(id);
  int compensation_starts = 0;
  for (const auto& event : events) {
    if (event.type() == "CompensationStepStarted" ||
        event.type() == "CompensationStepSucceeded") {
      EXPECT_EQ(event.step(), "reserve_doctor") << Types(events);
    }
    if (event.type() == "CompensationStepStarted") ++compensation_starts;
  }
  EXPECT_EQ(compensation_starts, 1) << Types(events);
  EXPECT_EQ(CountType(events, "CompensationStepSucceeded"), 1) << Types(events);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), "SagaCompensated") << Types(events);

  cluster_->ExpectParticipantsAgree(saga);
  EXPECT_EQ(cluster_->AllReservations(id), 1) << "reserved, then released";
  EXPECT_EQ(cluster_->ActiveReservations(id), 0);
  EXPECT_EQ(cluster_->Mails(id), 0);
  EXPECT_EQ(TotalBooked(), 0) << "the released slot is free again";
}

// The operator's path without SQL: a saga whose compensation gave up is
// listed as FAILED at the step that gave up; once the participant is fixed,
// RetrySaga finishes the rollback and the saga reports why it rolled back.
TEST_F(OrchestratorTest, OperatorRetryFinishesAFailedRollback) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["email"] = {"--fail-rate", "send_notification=1"};
  options.participant_flags["doctor"] = {"--fail-rate",
                                         "release_reservation=1"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  const std::string id = cluster_->StartSaga(
      kFast, BookingInput("p-1004", "2026-12-16", "dermatology"));
  ASSERT_FALSE(id.empty());

  saga::v1::Saga failed = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(failed.status(), saga::v1::SAGA_STATUS_FAILED)
      << DescribeSaga(failed);
  EXPECT_EQ(failed.current_step(), "reserve_doctor");
  EXPECT_EQ(failed.current_attempt(), 30) << "the compensation's attempts";
  EXPECT_TRUE(
      Contains(failed.error(), "compensation of step 'reserve_doctor' gave up"))
      << failed.error();
  EXPECT_THAT(ListAll(saga::v1::SAGA_STATUS_FAILED, "", 10), ElementsAre(id));
  EXPECT_EQ(cluster_->ActiveReservations(id), 1) << "nothing released yet";

  ASSERT_TRUE(cluster_->RestartParticipant("doctor", {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::RetrySagaRequest request;
  request.set_saga_id(id);
  request.mutable_operator_()->set_name("alice");
  request.mutable_operator_()->set_reason("doctor service fixed");
  saga::v1::RetrySagaResponse response;
  grpc::Status rpc = cluster_->Stub().RetrySaga(&context, request, &response);
  ASSERT_TRUE(rpc.ok()) << rpc.error_code() << " " << rpc.error_message();

  saga::v1::Saga repaired = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(repaired.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(repaired);
  EXPECT_TRUE(Contains(repaired.error(), "step 'notify' gave up"))
      << repaired.error();
  auto events = cluster_->History(id);
  EXPECT_EQ(CountType(events, "OperatorAction"), 1) << Types(events);
  cluster_->ExpectParticipantsAgree(repaired);
  EXPECT_EQ(cluster_->ActiveReservations(id), 0);
}

TEST_F(OrchestratorTest, RetryableFailuresAreRetriedUntilSuccess) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["doctor"] = {"--fail-rate", "reserve_doctor=0.5"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  constexpr int kSagas = 12;
  std::vector<std::string> ids;
  for (int i = 0; i < kSagas; ++i) {
    ids.push_back(cluster_->StartSaga(kFast, ValidInput(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  int max_attempts = 0;
  std::string retried;
  for (const auto& id : ids) {
    saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster_->ExpectParticipantsAgree(saga);
    if (const auto* reserve = FindStep(saga, "reserve_doctor")) {
      if (reserve->attempts() > max_attempts) {
        max_attempts = reserve->attempts();
        retried = id;
      }
    }
  }
  EXPECT_GT(max_attempts, 1)
      << "with a 50% failure rate some saga needs a second attempt";
  if (!retried.empty() && max_attempts > 1) {
    auto events = cluster_->History(retried);
    EXPECT_GE(CountType(events, "StepFailed"), max_attempts - 1)
        << Types(events);
    EXPECT_GE(CountType(events, "RetryScheduled"), max_attempts - 1)
        << Types(events);
  }
  EXPECT_EQ(TotalBooked(), kSagas) << "one slot per saga despite retries";
}

TEST_F(OrchestratorTest, StepTimeoutCompensatesAndLateCallsChangeNothing) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=1500"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  std::string id = cluster_->StartSaga(
      kTimeout, BookingInput("p-1005", "2026-12-16", "neurology"));
  ASSERT_FALSE(id.empty());

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(saga);
  const auto* reserve = FindStep(saga, "reserve_doctor");
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->attempts(), 3);
  // A timed-out call may have applied, so it must be compensated.
  EXPECT_EQ(reserve->status(), saga::v1::STEP_STATUS_COMPENSATED);
  auto events = cluster_->History(id);
  EXPECT_GE(CountType(events, "CompensationStepStarted"), 1) << Types(events);
  const auto* notify = FindStep(saga, "notify");
  ASSERT_NE(notify, nullptr);
  EXPECT_EQ(notify->attempts(), 0);

  // The three slow Execute calls finish up to ~1.5 s after the saga ended;
  // none of them may leave a reservation behind.
  ExpectNoActiveReservationFor(id, milliseconds(3500));
  cluster_->ExpectParticipantsAgree(saga);
  EXPECT_EQ(TotalBooked(), 0);
}

TEST_F(OrchestratorTest, StartSagaIsIdempotent) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::string input = BookingInput("p-1006", "2026-12-17", "pediatrics");
  saga::v1::StartSagaResponse first;
  grpc::Status rpc = Start(kBooking, input, "idem-key-1", &first);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_TRUE(first.created());
  ASSERT_FALSE(first.saga_id().empty());

  saga::v1::StartSagaResponse second;
  rpc = Start(kBooking, input, "idem-key-1", &second);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_EQ(second.saga_id(), first.saga_id());
  EXPECT_FALSE(second.created());

  // The same object written differently is the same input.
  saga::v1::StartSagaResponse reordered;
  rpc = Start(kBooking,
              "{ \"specialty\": \"pediatrics\", \"patient_id\": \"p-1006\", "
              "\"preferred_date\": \"2026-12-17\" }",
              "idem-key-1", &reordered);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_EQ(reordered.saga_id(), first.saga_id());
  EXPECT_FALSE(reordered.created());

  saga::v1::StartSagaResponse conflict;
  rpc = Start(kBooking, BookingInput("p-1006", "2026-12-18", "pediatrics"),
              "idem-key-1", &conflict);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << rpc.error_message();

  saga::v1::Saga saga = cluster_->AwaitTerminal(first.saga_id(), kSagaTimeout);
  EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(saga);
  cluster_->ExpectParticipantsAgree(saga);

  // After the end, the key still maps to the same saga.
  saga::v1::StartSagaResponse after;
  rpc = Start(kBooking, input, "idem-key-1", &after);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_EQ(after.saga_id(), first.saga_id());
  EXPECT_FALSE(after.created());

  EXPECT_THAT(ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, "", 0),
              ElementsAre(first.saga_id()));
  EXPECT_EQ(TotalBooked(), 1);
}

TEST_F(OrchestratorTest, CancelMidSagaCompensates) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=1500"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  std::string id = cluster_->StartSaga(
      kFast, BookingInput("p-1001", "2026-12-18", "cardiology"));
  ASSERT_FALSE(id.empty());

  // Once validate_patient succeeded, reserve_doctor is in flight for 1.5 s.
  saga::v1::AwaitSagaResponse awaited;
  grpc::Status rpc = Await(id, 10000, "validate_patient", &awaited);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  ASSERT_TRUE(awaited.reached()) << DescribeSaga(awaited.saga());
  ASSERT_FALSE(IsTerminal(awaited.saga().status()))
      << DescribeSaga(awaited.saga());

  saga::v1::CancelSagaResponse cancelled;
  rpc = Cancel(id, "the patient changed plans", &cancelled);
  ASSERT_TRUE(rpc.ok()) << rpc.error_code() << " " << rpc.error_message();
  EXPECT_EQ(cancelled.saga().saga_id(), id);
  EXPECT_NE(cancelled.saga().status(), saga::v1::SAGA_STATUS_COMPLETED);

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(saga);
  EXPECT_TRUE(Contains(saga.error(), "the patient changed plans"))
      << saga.error();
  auto events = cluster_->History(id);
  EXPECT_EQ(CountType(events, "CancelRequested"), 1) << Types(events);
  const auto* notify = FindStep(saga, "notify");
  ASSERT_NE(notify, nullptr);
  EXPECT_EQ(notify->attempts(), 0);

  // The reservation was released or never made, and the in-flight call
  // finishing late does not bring it back.
  ExpectNoActiveReservationFor(id, milliseconds(2500));
  cluster_->ExpectParticipantsAgree(saga);
  EXPECT_EQ(TotalBooked(), 0);
}

TEST_F(OrchestratorTest, CancelAfterCompletedIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::string id = cluster_->StartSaga(
      kBooking, BookingInput("p-1002", "2026-12-19", "dermatology"));
  ASSERT_FALSE(id.empty());
  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(saga);

  saga::v1::CancelSagaResponse cancelled;
  grpc::Status rpc = Cancel(id, "too late", &cancelled);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << rpc.error_message();
  EXPECT_FALSE(rpc.error_message().empty());

  rpc = Cancel("00000000-0000-4000-8000-000000000000", "no such saga",
               &cancelled);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND)
      << rpc.error_message();

  saga = cluster_->GetSaga(id);
  EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED);
  EXPECT_EQ(CountType(cluster_->History(id), "CancelRequested"), 0);
  cluster_->ExpectParticipantsAgree(saga);
}

TEST_F(OrchestratorTest, BadInputIsRejectedAndCreatesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  struct Case {
    std::string type;
    std::string input;
    std::string mentions;  // the message must name the problem
  };
  const std::vector<Case> kInvalid = {
      {kBooking, "{\"patient_id\": \"p-1001\",", "json"},
      {kBooking, "[\"p-1001\", \"2026-12-14\", \"cardiology\"]", "object"},
      {kBooking, "\"p-1001\"", "object"},
      {kBooking, "{\"patient_id\":\"p-1001\",\"specialty\":\"cardiology\"}",
       "preferred_date"},
      {kBooking,
       "{\"patient_id\":42,\"preferred_date\":\"2026-12-14\","
       "\"specialty\":\"cardiology\"}",
       "patient_id"},
      {kBooking,
       "{\"patient_id\":\"p-1001\",\"preferred_date\":\"2026-12-14\","
       "\"specialty\":\"cardiology\",\"padding\":\"" +
           std::string(300 * 1024, 'x') + "\"}",
       ""},
  };
  for (const auto& c : kInvalid) {
    saga::v1::StartSagaResponse response;
    grpc::Status rpc = Start(c.type, c.input, "", &response);
    std::string shown = c.input.substr(0, 80);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << shown << ": " << rpc.error_message();
    EXPECT_TRUE(ContainsIgnoringCase(rpc.error_message(), c.mentions))
        << shown << ": the message \"" << rpc.error_message()
        << "\" should mention " << c.mentions;
  }

  saga::v1::StartSagaResponse response;
  grpc::Status rpc = Start("no_such_saga", ValidInput(), "", &response);
  EXPECT_TRUE(rpc.error_code() == grpc::StatusCode::NOT_FOUND ||
              rpc.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      << rpc.error_code() << " " << rpc.error_message();
  EXPECT_TRUE(Contains(rpc.error_message(), "no_such_saga"))
      << rpc.error_message();
  rpc = Start("", ValidInput(), "", &response);
  EXPECT_TRUE(rpc.error_code() == grpc::StatusCode::NOT_FOUND ||
              rpc.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      << rpc.error_code() << " " << rpc.error_message();

  EXPECT_TRUE(ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, "", 0).empty());
}

TEST_F(OrchestratorTest, UnknownSagaIdIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::string kUnknown = "00000000-0000-4000-8000-000000000000";
  {
    grpc::ClientContext context;
    saga::v1::GetSagaRequest request;
    request.set_saga_id(kUnknown);
    saga::v1::GetSagaResponse response;
    grpc::Status rpc = cluster_->Stub().GetSaga(&context, request, &response);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND)
        << rpc.error_message();
    EXPECT_TRUE(Contains(rpc.error_message(), kUnknown)) << rpc.error_message();
  }
  {
    grpc::ClientContext context;
    saga::v1::GetSagaRequest request;
    request.set_saga_id("not-a-saga-id");
    saga::v1::GetSagaResponse response;
    grpc::Status rpc = cluster_->Stub().GetSaga(&context, request, &response);
    EXPECT_TRUE(rpc.error_code() == grpc::StatusCode::NOT_FOUND ||
                rpc.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
        << rpc.error_code() << " " << rpc.error_message();
  }
  {
    grpc::ClientContext context;
    saga::v1::GetSagaHistoryRequest request;
    request.set_saga_id(kUnknown);
    saga::v1::GetSagaHistoryResponse response;
    grpc::Status rpc =
        cluster_->Stub().GetSagaHistory(&context, request, &response);
    EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND)
        << rpc.error_message();
  }
  saga::v1::AwaitSagaResponse awaited;
  grpc::Status rpc = Await(kUnknown, 100, "", &awaited);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::NOT_FOUND)
      << rpc.error_message();
}

TEST_F(OrchestratorTest, ListSagasFiltersByStatusAndPages) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::set<std::string> completed;
  std::set<std::string> compensated;
  for (int i = 0; i < 5; ++i) {
    std::string id = cluster_->StartSaga(kBooking, ValidInput(i));
    ASSERT_FALSE(id.empty());
    completed.insert(id);
  }
  for (int i = 0; i < 3; ++i) {
    std::string id = cluster_->StartSaga(
        kBooking, BookingInput("p-1003", "2027-01-0" + std::to_string(i + 4),
                               "cardiology"));
    ASSERT_FALSE(id.empty());
    compensated.insert(id);
  }
  for (const auto& ids : {completed, compensated}) {
    for (const auto& id : ids) {
      saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
      ASSERT_TRUE(IsTerminal(saga.status())) << DescribeSaga(saga);
    }
  }

  auto all = ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, "", 0);
  EXPECT_EQ(all.size(), 8u);
  auto as_set = [](const std::vector<std::string>& ids) {
    return std::set<std::string>(ids.begin(), ids.end());
  };
  EXPECT_EQ(as_set(ListAll(saga::v1::SAGA_STATUS_COMPLETED, "", 0)), completed);
  EXPECT_EQ(as_set(ListAll(saga::v1::SAGA_STATUS_COMPENSATED, "", 0)),
            compensated);
  EXPECT_TRUE(ListAll(saga::v1::SAGA_STATUS_RUNNING, "", 0).empty());
  EXPECT_TRUE(ListAll(saga::v1::SAGA_STATUS_FAILED, "", 0).empty());
  EXPECT_EQ(ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, kBooking, 0).size(), 8u);
  EXPECT_TRUE(
      ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, "other_saga", 0).empty());

  // Paging: every saga exactly once, in the same newest-first order.
  for (int page_size : {1, 3, 8}) {
    SCOPED_TRACE("page_size " + std::to_string(page_size));
    EXPECT_EQ(ListAll(saga::v1::SAGA_STATUS_UNSPECIFIED, "", page_size), all);
  }
  EXPECT_EQ(as_set(ListAll(saga::v1::SAGA_STATUS_COMPLETED, "", 2)), completed);

  saga::v1::ListSagasResponse response;
  grpc::Status rpc =
      List(saga::v1::SAGA_STATUS_UNSPECIFIED, "", 2, "not a token", &response);
  EXPECT_EQ(rpc.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << rpc.error_message();
}

TEST_F(OrchestratorTest, AwaitSagaReturnsOnceTheStepSucceeded) {
  ClusterOptions options;
  options.definitions_dir = TestSagasDir();
  options.participant_flags["email"] = {"--latency-ms",
                                        "send_notification=3000"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  std::string id = cluster_->StartSaga(
      kFast, BookingInput("p-1004", "2026-12-20", "pediatrics"));
  ASSERT_FALSE(id.empty());

  saga::v1::AwaitSagaResponse awaited;
  grpc::Status rpc = Await(id, 20000, "reserve_doctor", &awaited);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_TRUE(awaited.reached());
  const auto* reserve = FindStep(awaited.saga(), "reserve_doctor");
  ASSERT_NE(reserve, nullptr);
  EXPECT_EQ(reserve->status(), saga::v1::STEP_STATUS_SUCCEEDED);
  // notify takes 3 s, so the saga has not ended yet.
  EXPECT_EQ(awaited.saga().status(), saga::v1::SAGA_STATUS_RUNNING)
      << DescribeSaga(awaited.saga());
  EXPECT_EQ(cluster_->ActiveReservations(id), 1);

  // Waiting for the end with a short timeout: not reached, saga as it is.
  auto before = std::chrono::steady_clock::now();
  rpc = Await(id, 200, "", &awaited);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_FALSE(awaited.reached());
  EXPECT_EQ(awaited.saga().status(), saga::v1::SAGA_STATUS_RUNNING);
  EXPECT_GE(std::chrono::steady_clock::now() - before, milliseconds(150));

  saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
  EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(saga);
  cluster_->ExpectParticipantsAgree(saga);

  // On an ended saga, awaiting a step returns at once.
  rpc = Await(id, 10000, "notify", &awaited);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();
  EXPECT_TRUE(awaited.reached());
}

}  // namespace
}  // namespace saga::testing
