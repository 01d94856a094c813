// The saga model beyond request/reply, end to end with the real processes
// and PostgreSQL: wait steps and signals (SignalSaga and `sagactl signal`),
// delay steps, the saga deadline and scheduled starts, each across an
// orchestrator SIGKILL while the saga waits.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/cluster.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kApproval[] = "appointment_booking_approval";
constexpr char kDeadline[] = "appointment_booking_deadline";
constexpr char kFast[] = "appointment_booking_fast";
constexpr milliseconds kSagaTimeout{30000};

int64_t NowUnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SagaModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.definitions_dir = SourcePath("tests/integration/sagas");
    cluster_ = std::make_unique<TestCluster>(options);
    ASSERT_TRUE(cluster_->Start());
  }

  grpc::Status Signal(const std::string& saga_id, const std::string& name,
                      const std::string& payload, const std::string& key,
                      saga::v1::Saga* saga = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::SignalSagaRequest request;
    request.set_saga_id(saga_id);
    request.set_name(name);
    request.set_payload_json(payload);
    request.set_idempotency_key(key);
    saga::v1::SignalSagaResponse response;
    grpc::Status status =
        cluster_->Stub().SignalSaga(&context, request, &response);
    if (saga != nullptr) *saga = response.saga();
    return status;
  }

  // Polls until step `step` of the saga is WAITING.
  bool AwaitWaiting(const std::string& saga_id, const std::string& step) {
    return PollUntil(
        [&] {
          const saga::v1::Saga saga = cluster_->GetSaga(saga_id);
          for (const saga::v1::Step& s : saga.steps()) {
            if (s.name() == step) {
              return s.status() == saga::v1::STEP_STATUS_WAITING;
            }
          }
          return false;
        },
        kSagaTimeout);
  }

  int Count(const std::string& saga_id, const std::string& type) {
    int n = 0;
    for (const std::string& t : cluster_->HistoryTypes(saga_id)) {
      n += t == type;
    }
    return n;
  }

  std::unique_ptr<TestCluster> cluster_;
};

// One cluster, one SIGKILL while every kind of wait is under way: a signal
// kept before its wait step, a wait step waiting for its signal, a deadline
// running down, a scheduled start not reached yet. (One test: each cluster
// costs seconds of CI.)
TEST_F(SagaModelTest, EveryKindOfWaitSurvivesAKillAndEndsAsItShould) {
  // A scheduled start, two seconds ahead.
  const int64_t start_at = NowUnixMs() + 2000;
  std::string scheduled;
  {
    grpc::ClientContext context;
    saga::v1::StartSagaRequest request;
    request.set_saga_type(kFast);
    request.set_input_json(BookingInput("p-1005", "2026-12-13", "pediatrics"));
    request.set_start_at_unix_ms(start_at);
    saga::v1::StartSagaResponse response;
    ASSERT_TRUE(cluster_->Stub().StartSaga(&context, request, &response).ok());
    scheduled = response.saga_id();
  }
  // A signal sent before the saga reaches its wait step: kept.
  const std::string early = cluster_->StartSaga(
      kApproval, BookingInput("p-1001", "2026-12-10", "cardiology"));
  ASSERT_TRUE(
      Signal(early, "clinic_approval", R"({"approved_by":"ann"})", "early-1")
          .ok());
  // Waiting for a signal that comes after the restart, through sagactl.
  const std::string late = cluster_->StartSaga(
      kApproval, BookingInput("p-1002", "2026-12-11", "neurology"));
  // Waiting for an approval nobody sends, within a 2s deadline.
  const std::string deadline = cluster_->StartSaga(
      kDeadline, BookingInput("p-1004", "2026-12-12", "dermatology"));

  saga::v1::Saga before = cluster_->GetSaga(scheduled);
  EXPECT_EQ(before.status(), saga::v1::SAGA_STATUS_RUNNING);
  EXPECT_EQ(before.start_at_unix_ms(), start_at);
  EXPECT_EQ(before.steps(0).status(), saga::v1::STEP_STATUS_PENDING);
  ASSERT_TRUE(AwaitWaiting(late, "approval"));
  saga::v1::Saga waiting = cluster_->GetSaga(late);
  EXPECT_EQ(waiting.steps(2).waits_for_signal(), "clinic_approval");
  EXPECT_GT(waiting.steps(2).waiting_until_unix_ms(), NowUnixMs());

  // Every wait is a due time in the history: the restart resumes each at
  // its time, not from zero.
  cluster_->KillOrchestrator(SIGKILL);
  ASSERT_TRUE(cluster_->StartOrchestrator());
  ASSERT_TRUE(AwaitWaiting(late, "approval"));
  const std::string log = cluster_->log_dir() + "/sagactl-signal.log";
  ChildProcess sagactl(
      {BinaryPath("sagactl"), "--address",
       "127.0.0.1:" + std::to_string(cluster_->orchestrator_port()), "signal",
       late, "clinic_approval", "--payload", R"({"approved_by":"bob"})"},
      {}, log);
  ASSERT_EQ(sagactl.Wait(), 0) << log;

  for (const auto& [id, by] : std::vector<std::pair<std::string, std::string>>{
           {early, "ann"}, {late, "bob"}}) {
    saga::v1::Saga saga = cluster_->AwaitTerminal(id, kSagaTimeout);
    ASSERT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster_->ExpectParticipantsAgree(saga);
    EXPECT_EQ(saga.steps(2).output_json(), R"({"approved_by":")" + by + "\"}");
    ASSERT_EQ(saga.signals_size(), 1);
    EXPECT_EQ(saga.signals(0).consumed_by_step(), "approval");
    EXPECT_EQ(saga.steps(3).status(), saga::v1::STEP_STATUS_SUCCEEDED);
  }
  // A resend with the same key after the end is answered as the first
  // delivery and records nothing; a new key is refused.
  saga::v1::Saga answered;
  EXPECT_TRUE(Signal(early, "clinic_approval", R"({"approved_by":"ann"})",
                     "early-1", &answered)
                  .ok());
  EXPECT_EQ(answered.signals_size(), 1);
  EXPECT_EQ(Count(early, "SignalReceived"), 1);
  EXPECT_EQ(Signal(early, "clinic_approval", "{}", "early-2").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  saga::v1::Saga expired = cluster_->AwaitTerminal(deadline, kSagaTimeout);
  ASSERT_EQ(expired.status(), saga::v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(expired);
  EXPECT_EQ(expired.error(), "deadline passed");
  EXPECT_TRUE(expired.deadline_passed());
  EXPECT_EQ(Count(deadline, "DeadlinePassed"), 1);
  cluster_->ExpectParticipantsAgree(expired);
  EXPECT_EQ(cluster_->AllReservations(deadline), 1);  // made once, released

  saga::v1::Saga started = cluster_->AwaitTerminal(scheduled, kSagaTimeout);
  ASSERT_EQ(started.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(started);
  cluster_->ExpectParticipantsAgree(started);
  for (const saga::v1::SagaEvent& event : cluster_->History(scheduled)) {
    if (event.type() == "StepStarted") {
      EXPECT_GE(event.recorded_unix_ms(), start_at);
      break;
    }
  }
}

}  // namespace
}  // namespace saga::testing
