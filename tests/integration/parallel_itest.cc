// Parallel branches end to end: prepaid_booking (the doctor reserved and
// the consultation charged at once, then the emails) on saga-orchestrator,
// the booking participants and saga-payment, with PostgreSQL. The charges
// settle a moment after they are accepted, so the orchestrator is killed
// while both branches of most sagas are under way; those whose amount is
// above the provider's limit are declined and must roll back the
// reservation made beside them.
#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::seconds;

std::string PrepaidInput(int n, int amount_cents) {
  std::string input = BookingInput(n % 2 == 0 ? "p-1001" : "p-1002",
                                   "2026-12-" + std::to_string(10 + n),
                                   n % 2 == 0 ? "cardiology" : "dermatology");
  input.pop_back();
  return input + ",\"amount_cents\":" + std::to_string(amount_cents) + "}";
}

// Whether both branches started before either ended: the group ran at once.
bool BranchesOverlapped(const std::vector<v1::SagaEvent>& history) {
  int started = 0;
  for (const v1::SagaEvent& event : history) {
    if (event.type() == "StepStarted" &&
        (event.step() == "reserve_doctor" || event.step() == "charge")) {
      ++started;
    }
    if ((event.type() == "StepSucceeded" || event.type() == "StepFailed" ||
         event.type() == "StepAccepted") &&
        (event.step() == "reserve_doctor" || event.step() == "charge")) {
      return started == 2;
    }
  }
  return false;
}

TEST(ParallelItest, BranchesRunAtOnceJoinAndADeclinedChargeReleasesTheDoctor) {
  ClusterOptions options;
  options.participants = BookingParticipants();
  options.participants.push_back(PaymentParticipant());
  options.participant_flags = {
      {"payment",
       {"--settle-after-ms", "400", "--decline-above-cents", "9000"}}};
  options.definitions_dir = TestDefinitionDir("parallel");
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  // Six bookings; every third one's charge is above the limit.
  std::vector<std::string> ids;
  for (int n = 0; n < 6; ++n) {
    ids.push_back(cluster.StartSaga(
        "prepaid_booking", PrepaidInput(n, n % 3 == 2 ? 12000 : 4500)));
    ASSERT_FALSE(ids.back().empty());
  }
  // The orchestrator dies while charges wait for their completion.
  cluster.KillOrchestrator(SIGKILL);
  ASSERT_TRUE(cluster.StartOrchestrator());

  for (int n = 0; n < 6; ++n) {
    const v1::Saga saga = cluster.AwaitTerminal(ids[n], seconds(30));
    const bool declined = n % 3 == 2;
    EXPECT_EQ(saga.status(), declined ? v1::SAGA_STATUS_COMPENSATED
                                      : v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
    EXPECT_TRUE(BranchesOverlapped(cluster.History(ids[n])))
        << "saga " << ids[n] << " ran its branches one after the other";
    if (declined) {
      EXPECT_NE(saga.error().find("step 'charge' failed"), std::string::npos)
          << saga.error();
    }
  }
}

}  // namespace
}  // namespace saga::testing
