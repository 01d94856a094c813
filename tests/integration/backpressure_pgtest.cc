// Backpressure and circuit breaking end to end: saga-orchestrator against the
// real participants, with faults injected through the participants' flags.
//   - a participant that refuses every call opens its circuit: the sagas
//     waiting on it park (the participant sees only the calls before the
//     circuit opened and one probe per cool-down), and once it is back they
//     all complete;
//   - past --max-backlog, StartSaga answers RESOURCE_EXHAUSTED and writes
//     nothing.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/scrape.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr char kFast[] = "appointment_booking_fast";
constexpr auto kSagaTimeout = 60s;

// Distinct bookings the participants accept (as orchestrator_pgtest's).
std::string Input(int n) {
  static const std::vector<std::string> kPatients = {
      "p-1001", "p-1002", "p-1004", "p-1005", "p-1006"};
  static const std::vector<std::string> kSpecialties = {
      "cardiology", "dermatology", "neurology", "pediatrics"};
  return BookingInput(kPatients[n % kPatients.size()],
                      "2027-02-" + std::to_string(10 + n % 18),
                      kSpecialties[n % kSpecialties.size()]);
}

std::string LogPath(const TestCluster& cluster, const std::string& service) {
  return cluster.log_dir() + "/" + service + ".log";
}

// The JSON log lines of `service` whose fields include all of `match`.
int CountLogLines(const TestCluster& cluster, const std::string& service,
                  const std::map<std::string, std::string>& match) {
  std::ifstream in(LogPath(cluster, service));
  int count = 0;
  std::string line;
  while (std::getline(in, line)) {
    Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) continue;
    bool all = true;
    for (const auto& [key, value] : match) {
      all = all && parsed.contains(key) && parsed[key].is_string() &&
            parsed[key].get<std::string>() == value;
    }
    count += all ? 1 : 0;
  }
  return count;
}

std::optional<double> DoctorCircuit(const TestCluster& cluster) {
  const std::string address =
      AwaitMetricsAddress(LogPath(cluster, "orchestrator"), 10s);
  if (address.empty()) return std::nullopt;
  return ParseScrape(HttpGet(address, "/metrics"))
      .Value("saga_participant_circuit_state", {{"participant", "doctor"}});
}

constexpr int kThreshold = 3;

ClusterOptions RefusingDoctor() {
  ClusterOptions options;
  options.definitions_dir = SourcePath("tests/integration/sagas");
  options.participant_flags["doctor"] = {"--refuse-all", "--log-format",
                                         "json"};
  options.orchestrator_flags = {"--log-format",
                                "json",
                                "--metrics-listen",
                                "127.0.0.1:0",
                                "--circuit-failure-threshold",
                                std::to_string(kThreshold),
                                "--circuit-open-ms",
                                "300",
                                "--circuit-ramp-to",
                                "4"};
  return options;
}

TEST(BackpressureTest, CircuitOpensParksSagasProbesAndRecovers) {
  TestCluster cluster(RefusingDoctor());
  ASSERT_TRUE(cluster.Start());
  constexpr int kSagas = 6;
  std::vector<std::string> ids;
  for (int i = 0; i < kSagas; ++i) {
    ids.push_back(cluster.StartSaga(kFast, Input(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  const std::map<std::string, std::string> to_half_open = {
      {"msg", "participant circuit"},
      {"participant", "doctor"},
      {"to", "half_open"}};
  // Open, then probed (and re-opened) at least twice.
  ASSERT_TRUE(PollUntil(
      [&] { return CountLogLines(cluster, "orchestrator", to_half_open) >= 2; },
      30s))
      << "the doctor's circuit was not probed twice";
  EXPECT_GE(CountLogLines(cluster, "orchestrator",
                          {{"msg", "participant circuit"},
                           {"participant", "doctor"},
                           {"from", "closed"},
                           {"to", "open"}}),
            1);
  ASSERT_TRUE(PollUntil([&] { return DoctorCircuit(cluster) == 1.0; }, 30s))
      << "saga_participant_circuit_state{participant=\"doctor\"} never 1";

  // Not hammered: the doctor saw at most each saga's first call, the few
  // retries sent before the threshold was reached, and one probe per
  // half-open.
  // (Without the breaker each saga would spend its 30 attempts in about a
  // second.) The doctor's log is read first: probes only grow.
  const int refused = CountLogLines(
      cluster, "doctor", {{"msg", "execute"}, {"outcome", "UNAVAILABLE"}});
  const int probes = CountLogLines(cluster, "orchestrator", to_half_open);
  EXPECT_GE(refused, kThreshold);
  EXPECT_LE(refused, kSagas + kThreshold + probes);
  for (const auto& id : ids) {
    const saga::v1::Saga saga = cluster.GetSaga(id);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_RUNNING)
        << DescribeSaga(saga);
  }

  // The doctor comes back: a probe succeeds, the ramp lets the parked calls
  // through, and every saga completes.
  ASSERT_TRUE(cluster.RestartParticipant("doctor", {"--log-format", "json"}));
  for (const auto& id : ids) {
    const saga::v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
  }
  EXPECT_GE(CountLogLines(cluster, "orchestrator",
                          {{"msg", "participant circuit"},
                           {"participant", "doctor"},
                           {"from", "half_open"},
                           {"to", "closed"}}),
            1);
  EXPECT_EQ(DoctorCircuit(cluster), 0.0);
}

TEST(BackpressureTest, StartPastTheBacklogIsResourceExhaustedAndWritesNothing) {
  ClusterOptions options;
  options.definitions_dir = SourcePath("tests/integration/sagas");
  // Slow enough that the first sagas are still running when the next start
  // arrives (reserve_doctor's timeout is 10 s).
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=5000"};
  options.orchestrator_flags = {"--max-backlog", "2", "--log-format", "json"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());
  const std::string first = cluster.StartSaga(kFast, Input(0));
  const std::string second = cluster.StartSaga(kFast, Input(1));
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  saga::v1::StartSagaRequest request;
  request.set_saga_type(kFast);
  request.set_input_json(Input(2));
  request.set_idempotency_key("refused-start");
  saga::v1::StartSagaResponse response;
  const grpc::Status status =
      cluster.Stub().StartSaga(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_NE(status.error_message().find("--max-backlog"), std::string::npos)
      << status.error_message();
  EXPECT_GE(
      CountLogLines(cluster, "orchestrator",
                    {{"msg", "saga start refused: backlog bound reached"}}),
      1);

  // Nothing was written for it: only the two accepted sagas exist.
  {
    grpc::ClientContext list_context;
    list_context.set_deadline(std::chrono::system_clock::now() + 30s);
    saga::v1::ListSagasRequest list;
    saga::v1::ListSagasResponse listed;
    ASSERT_TRUE(cluster.Stub().ListSagas(&list_context, list, &listed).ok());
    ASSERT_EQ(listed.sagas_size(), 2);
    for (const auto& saga : listed.sagas()) {
      EXPECT_TRUE(saga.saga_id() == first || saga.saga_id() == second)
          << saga.saga_id();
    }
  }

  // The accepted sagas finish, and then there is room again.
  for (const auto& id : {first, second}) {
    const saga::v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
    EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
        << DescribeSaga(saga);
  }
  grpc::StatusCode retried = grpc::StatusCode::UNKNOWN;
  EXPECT_TRUE(PollUntil(
      [&] {
        grpc::ClientContext again;
        again.set_deadline(std::chrono::system_clock::now() + 30s);
        saga::v1::StartSagaResponse accepted;
        retried =
            cluster.Stub().StartSaga(&again, request, &accepted).error_code();
        return retried != grpc::StatusCode::RESOURCE_EXHAUSTED;
      },
      30s));
  EXPECT_EQ(retried, grpc::StatusCode::OK);
}

}  // namespace
}  // namespace saga::testing
