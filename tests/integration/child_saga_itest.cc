// Child sagas end to end: saga-orchestrator with the booking participants on
// PostgreSQL, family_booking starting two confirmed_slot children (see
// tests/testdata/children). One cluster, one SIGKILL while children wait:
//  - both children complete -> the parent completes, mapping a child's
//    output into its pivot's input;
//  - the first child compensates (inactive patient) -> the parent rolls
//    back;
//  - the second child compensates (unknown specialty) -> the parent rolls
//    back, rolling back its first, COMPLETED child (the slot is released).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kParent[] = "family_booking";
constexpr milliseconds kTimeout{20000};

std::string FamilyInput(const std::string& patient_id, const std::string& date,
                        const std::string& first, const std::string& second) {
  return R"({"patient_id":")" + patient_id + R"(","preferred_date":")" + date +
         R"(","specialty":")" + first + R"(","second_specialty":")" + second +
         "\"}";
}

class ChildSagaItest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.definitions_dir = TestDefinitionDir("children");
    cluster_ = std::make_unique<TestCluster>(options);
    ASSERT_TRUE(cluster_->Start());
  }

  // The child that step `step` of `parent` started, once it is recorded.
  std::string ChildOf(const std::string& parent, int step) {
    std::string child;
    PollUntil(
        [&] {
          v1::Saga saga = cluster_->GetSaga(parent);
          if (saga.steps_size() > step)
            child = saga.steps(step).child_saga_id();
          return !child.empty();
        },
        kTimeout);
    return child;
  }

  // Whether the child waits for its confirmation.
  bool Waiting(const std::string& child) {
    const v1::Saga saga = cluster_->GetSaga(child);
    const v1::Step* step = FindStep(saga, "confirm");
    return step != nullptr && step->status() == v1::STEP_STATUS_WAITING;
  }

  // Waits until the child waits for its confirmation, then sends it.
  ::testing::AssertionResult Confirm(const std::string& child) {
    if (!PollUntil([&] { return Waiting(child); }, kTimeout)) {
      return ::testing::AssertionFailure()
             << "never waited: " << DescribeSaga(cluster_->GetSaga(child));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kTimeout);
    v1::SignalSagaRequest request;
    request.set_saga_id(child);
    request.set_name("confirm");
    request.set_payload_json(R"({"by":"clinic"})");
    request.set_idempotency_key("confirm-" + child);
    v1::SignalSagaResponse response;
    grpc::Status s = cluster_->Stub().SignalSaga(&context, request, &response);
    if (!s.ok()) return ::testing::AssertionFailure() << s.error_message();
    return ::testing::AssertionSuccess();
  }

  v1::Saga Ended(const std::string& id) {
    return cluster_->AwaitTerminal(id, kTimeout);
  }

  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(ChildSagaItest, ChildrenEndTheirStepsAcrossAnOrchestratorKill) {
  const std::string happy = cluster_->StartSaga(
      kParent, FamilyInput("p-1001", "2026-12-14", "cardiology", "neurology"));
  const std::string inactive = cluster_->StartSaga(
      kParent, FamilyInput("p-1003", "2026-12-14", "cardiology", "neurology"));
  const std::string unknown = cluster_->StartSaga(
      kParent, FamilyInput("p-1002", "2026-12-15", "pediatrics", "astrology"));
  ASSERT_FALSE(happy.empty() || inactive.empty() || unknown.empty());

  const std::string happy_first = ChildOf(happy, 0);
  const std::string unknown_first = ChildOf(unknown, 0);
  ASSERT_FALSE(happy_first.empty() || unknown_first.empty());
  // Both children run (waiting for their confirmation) when the
  // orchestrator dies; the restart must watch them again.
  ASSERT_TRUE(
      PollUntil([&] { return Waiting(happy_first) && Waiting(unknown_first); },
                kTimeout));
  cluster_->KillOrchestrator(SIGKILL);
  ASSERT_TRUE(cluster_->StartOrchestrator());

  ASSERT_TRUE(Confirm(happy_first));
  const std::string happy_second = ChildOf(happy, 1);
  ASSERT_TRUE(Confirm(happy_second));
  ASSERT_TRUE(Confirm(unknown_first));

  // Both children completed: the parent completed, its pivot fed from the
  // first child's output.
  const v1::Saga done = Ended(happy);
  ASSERT_EQ(done.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(done);
  EXPECT_NE(done.steps(0).output_json().find("\"reservation_id\""),
            std::string::npos)
      << done.steps(0).output_json();
  EXPECT_EQ(cluster_->Mails(happy), 2);  // the patient and the doctor
  for (const std::string& child : {happy_first, happy_second}) {
    const v1::Saga saga = cluster_->GetSaga(child);
    EXPECT_EQ(saga.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(saga);
    EXPECT_EQ(saga.parent_saga_id(), happy);
    EXPECT_EQ(cluster_->ActiveReservations(child), 1);
  }
  EXPECT_EQ(cluster_->GetSaga(happy_second).parent_step(), "second_slot");
  // The parent lists its children, and only them.
  {
    grpc::ClientContext context;
    v1::ListSagasRequest request;
    request.set_parent_saga_id(happy);
    v1::ListSagasResponse response;
    ASSERT_TRUE(cluster_->Stub().ListSagas(&context, request, &response).ok());
    std::vector<std::string> ids;
    for (const v1::Saga& saga : response.sagas()) ids.push_back(saga.saga_id());
    std::sort(ids.begin(), ids.end());
    std::vector<std::string> expected{happy_first, happy_second};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(ids, expected);
  }

  // The first child compensated: a business failure of the parent's step.
  const v1::Saga refused = Ended(inactive);
  ASSERT_EQ(refused.status(), v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(refused);
  EXPECT_NE(refused.error().find("ended COMPENSATED"), std::string::npos)
      << refused.error();
  const std::string refused_child = refused.steps(0).child_saga_id();
  EXPECT_EQ(Ended(refused_child).status(), v1::SAGA_STATUS_COMPENSATED);
  EXPECT_EQ(cluster_->Mails(inactive), 0);

  // The second child compensated: the parent undid its COMPLETED first
  // child, whose slot is released.
  const v1::Saga undone = Ended(unknown);
  ASSERT_EQ(undone.status(), v1::SAGA_STATUS_COMPENSATED)
      << DescribeSaga(undone);
  EXPECT_EQ(undone.steps(0).status(), v1::STEP_STATUS_COMPENSATED);
  const v1::Saga first = Ended(unknown_first);
  EXPECT_EQ(first.status(), v1::SAGA_STATUS_COMPENSATED) << DescribeSaga(first);
  EXPECT_EQ(cluster_->AllReservations(unknown_first), 1);
  EXPECT_EQ(cluster_->ActiveReservations(unknown_first), 0);
  EXPECT_EQ(cluster_->Mails(unknown), 0);
}

}  // namespace
}  // namespace saga::testing
