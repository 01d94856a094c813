// Retention in a running orchestrator: with a short retention and an
// archive, the sagas that ended disappear from the API and appear, whole,
// in the archive; a saga still waiting for its signal stays untouched.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/core/history_file.h"
#include "orchestrator/core/replay.h"
#include "orchestrator/retention/gzip_file.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kSagaTimeout{30000};

grpc::StatusCode GetSagaCode(TestCluster& cluster, const std::string& id) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
  v1::GetSagaRequest request;
  request.set_saga_id(id);
  v1::GetSagaResponse response;
  return cluster.Stub().GetSaga(&context, request, &response).error_code();
}

// Each line of each committed archive file, decompressed.
std::vector<std::string> ArchiveLines(const std::string& dir) {
  std::vector<std::string> lines;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".gz") continue;
    absl::StatusOr<std::string> text =
        retention::ReadGzipFile(entry.path().string());
    EXPECT_TRUE(text.ok()) << text.status();
    std::istringstream stream(text.value_or(""));
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
  }
  return lines;
}

// patient_check (one read-only step), and a saga that checks the patient
// and then waits for a signal that never comes: only the patient
// participant runs, so the cluster starts quickly.
constexpr char kWaitDefinition[] = R"(name: patient_wait
version: 1
description: Check a patient, then wait for a signal.
input:
  required:
    patient_id: string
steps:
  - name: validate_patient
    kind: read_only
    participant: patient
    action: validate_patient
    timeout: 2s
    retry: {max_attempts: 3, initial_backoff: 100ms, max_backoff: 1s, multiplier: 2.0, jitter: 0.2}
    input:
      patient_id: input.patient_id
  - name: approval
    kind: wait
    signal: clinic_approval
    timeout: 60s
)";

TEST(RetentionTest, TheOrchestratorPrunesEndedSagasAndArchivesThem) {
  char pattern[] = "/tmp/retention-itest-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::string archive = dir + "/archive";
  const std::string config = dir + "/orchestrator.yaml";
  fs::create_directory(dir + "/sagas");
  fs::copy_file(TestDefinitionPath("patient_check"),
                dir + "/sagas/patient_check.yaml");
  std::ofstream(dir + "/sagas/patient_wait.yaml") << kWaitDefinition;
  std::ofstream(config) << "retention:\n"
                           "  sagas: 1s\n"
                           "  interval_ms: 200\n"
                           "  batch: 2\n"
                           "  archive: file:" +
                               archive + "\n";

  ClusterOptions options;
  for (const ClusterParticipant& spec : BookingParticipants()) {
    if (spec.name == "patient") options.participants = {spec};
  }
  options.definitions_dir = dir + "/sagas";
  options.orchestrator_flags = {"--config", config};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  std::vector<std::string> ended;
  for (const char* patient : {"p-1001", "p-1002", "p-1004"}) {
    ended.push_back(cluster.StartSaga(
        "patient_check", std::string(R"({"patient_id":")") + patient + "\"}"));
  }
  // An inactive patient: the check fails, the saga ends COMPENSATED.
  ended.push_back(
      cluster.StartSaga("patient_check", R"({"patient_id":"p-1003"})"));
  const std::string waiting =
      cluster.StartSaga("patient_wait", R"({"patient_id":"p-1001"})");
  std::set<v1::SagaStatus> statuses;
  for (const std::string& id : ended) {
    const v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
    ASSERT_TRUE(IsTerminal(saga.status())) << DescribeSaga(saga);
    statuses.insert(saga.status());
  }
  EXPECT_EQ(statuses, (std::set<v1::SagaStatus>{v1::SAGA_STATUS_COMPLETED,
                                                v1::SAGA_STATUS_COMPENSATED}));
  ASSERT_TRUE(PollUntil(
      [&] {
        const v1::Step* step = FindStep(cluster.GetSaga(waiting), "approval");
        return step != nullptr && step->status() == v1::STEP_STATUS_WAITING;
      },
      kSagaTimeout));
  const size_t waiting_events = cluster.History(waiting).size();

  EXPECT_TRUE(PollUntil(
      [&] {
        for (const std::string& id : ended) {
          if (GetSagaCode(cluster, id) != grpc::StatusCode::NOT_FOUND) {
            return false;
          }
        }
        return true;
      },
      kSagaTimeout))
      << cluster.OrchestratorLog();

  // The unfinished saga is whole and still waits.
  const v1::Saga still = cluster.GetSaga(waiting);
  EXPECT_EQ(still.status(), v1::SAGA_STATUS_RUNNING) << DescribeSaga(still);
  EXPECT_EQ(cluster.History(waiting).size(), waiting_events);

  // The archive holds each ended saga once (no crash here), each an export
  // document that replays.
  std::multiset<std::string> archived;
  for (const std::string& line : ArchiveLines(archive)) {
    absl::StatusOr<core::History> history =
        core::DecodeHistory(line, "archive");
    ASSERT_TRUE(history.ok()) << history.status();
    archived.insert(history->saga.saga_id);
    const core::ReplayReport replay = core::ReplayHistory(*history);
    EXPECT_TRUE(replay.ok())
        << history->saga.saga_id << ": " << replay.divergence->reason;
  }
  EXPECT_EQ(archived, std::multiset<std::string>(ended.begin(), ended.end()));

  // And `sagactl replay` takes a line as it takes an export.
  const std::vector<std::string> lines = ArchiveLines(archive);
  ASSERT_FALSE(lines.empty());
  std::ofstream(dir + "/one.json") << lines.front() << "\n";
  ChildProcess replay({BinaryPath("sagactl"), "replay", dir + "/one.json"}, {},
                      dir + "/replay.log");
  const int status = replay.Wait();
  std::ifstream log(dir + "/replay.log");
  const std::string output((std::istreambuf_iterator<char>(log)),
                           std::istreambuf_iterator<char>());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace saga::testing
