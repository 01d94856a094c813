// The key acceptance test: the orchestrator is SIGKILLed twice while about a
// hundred sagas are in flight, restarted on the same database, and every
// saga must still end with the participants agreeing with its terminal
// state (README, "Guarantees", 1-3).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/consistency.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kBooking[] = "appointment_booking";
constexpr int kSagas = 100;
constexpr milliseconds kAllTerminalDeadline{120000};

// Terminal sagas, counted through the API (retrying while it restarts).
int CountTerminal(TestCluster& cluster) {
  int total = 0;
  for (auto status :
       {saga::v1::SAGA_STATUS_COMPLETED, saga::v1::SAGA_STATUS_COMPENSATED,
        saga::v1::SAGA_STATUS_FAILED}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    saga::v1::ListSagasRequest request;
    request.set_status(status);
    request.set_page_size(1000);
    saga::v1::ListSagasResponse response;
    grpc::Status rpc = cluster.Stub().ListSagas(&context, request, &response);
    if (!rpc.ok()) return -1;
    total += response.sagas_size();
  }
  return total;
}

// Waits until at least `target` sagas have ended (or `timeout` passes), then
// SIGKILLs the orchestrator and starts it again on the same database.
// Returns how many had ended at the kill.
int KillWhenEnded(TestCluster& cluster, int target, milliseconds timeout) {
  int ended = 0;
  PollUntil(
      [&] {
        ended = CountTerminal(cluster);
        return ended >= target;
      },
      timeout);
  cluster.KillOrchestrator(SIGKILL);
  EXPECT_TRUE(cluster.StartOrchestrator());
  return ended;
}

TEST(CrashTest, EverySagaEndsConsistentlyAfterOrchestratorKills) {
  ClusterOptions options;
  // Slow participants keep sagas in flight; failed emails make some valid
  // sagas retry notify and a few give up and compensate.
  options.participant_flags["patient"] = {"--latency-ms",
                                          "validate_patient=100"};
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=300"};
  options.participant_flags["email"] = {"--latency-ms", "send_notification=200",
                                        "--fail-rate", "send_notification=0.3"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  std::vector<std::string> ids;
  std::vector<std::string> inputs;
  std::map<std::string, std::string> expectation;  // id -> why it may fail
  for (int i = 0; i < kSagas; ++i) {
    std::string patient = kPatients[i % kPatients.size()];
    std::string specialty = kSpecialties[i % kSpecialties.size()];
    std::string why = "valid";
    if (i % 10 == 3) {
      patient = "p-1003";
      why = "inactive patient";
    } else if (i % 10 == 7) {
      specialty = "astrology";
      why = "unknown specialty";
    }
    // Spread over December and January so no doctor's day fills up.
    std::string date = i % 2 == 0 ? "2026-12-" : "2027-01-";
    date += std::to_string(10 + (i / 2) % 18);
    inputs.push_back(BookingInput(patient, date, specialty));
    std::string id = cluster.StartSaga(kBooking, inputs.back(),
                                       "crash-" + std::to_string(i));
    ASSERT_FALSE(id.empty()) << "saga " << i;
    ids.push_back(id);
    expectation[id] = why;
  }

  int ended_at_first_kill = KillWhenEnded(cluster, 30, milliseconds(30000));
  int ended_at_second_kill = KillWhenEnded(cluster, 65, milliseconds(60000));
  std::cout << "[ crash    ] orchestrator killed with " << ended_at_first_kill
            << " and then " << ended_at_second_kill << " of " << kSagas
            << " sagas ended\n";
  EXPECT_LT(ended_at_first_kill, kSagas)
      << "no saga was in flight at the first kill: slow the participants";

  // Idempotency keys survive the restarts: a client retrying its StartSaga
  // gets the same saga, and nothing new is created.
  for (int i = 0; i < kSagas; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    saga::v1::StartSagaRequest request;
    request.set_saga_type(kBooking);
    request.set_input_json(inputs[i]);
    request.set_idempotency_key("crash-" + std::to_string(i));
    saga::v1::StartSagaResponse response;
    grpc::Status rpc = cluster.Stub().StartSaga(&context, request, &response);
    ASSERT_TRUE(rpc.ok()) << "retried StartSaga " << i << ": "
                          << rpc.error_message();
    EXPECT_EQ(response.saga_id(), ids[i]);
    EXPECT_FALSE(response.created());
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    saga::v1::ListSagasRequest request;
    request.set_page_size(1000);
    saga::v1::ListSagasResponse response;
    grpc::Status rpc = cluster.Stub().ListSagas(&context, request, &response);
    ASSERT_TRUE(rpc.ok()) << rpc.error_message();
    EXPECT_EQ(response.sagas_size(), kSagas);
  }

  // Invariants 1-3 for every saga, and nothing applied twice.
  ConsistencyReport report =
      CheckConsistency(cluster, ids, kAllTerminalDeadline);
  for (const auto& problem : report.problems) ADD_FAILURE() << problem;
  EXPECT_EQ(report.sagas, kSagas);
  EXPECT_TRUE(report.Clean()) << report.Line();
  for (const auto& [id, saga] : report.final) {
    const std::string& why = expectation[id];
    if (why != "valid") {
      EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPENSATED)
          << why << ": " << DescribeSaga(saga);
    }
  }
  std::cout << "[ crash    ] " << report.Line() << " (" << report.StatusCounts()
            << ")\n";
}

}  // namespace
}  // namespace saga::testing
