// Operating the orchestrator with sagactl alone, end to end (the real
// orchestrator, the booking participants, PostgreSQL): a saga found by its
// business key; a failed rollback retried, then marked compensated, with
// `show` naming the call that failed and counting every round's attempts
// and `await --expect` accepting the wanted end; the saga rerun with an
// edited input, linked both ways; a mistyped id refused as a usage error.
// Eleven sagactl runs and one participant restart after the cluster's
// start.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

constexpr char kKeyed[] = "keyed_booking";

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout, then stderr
};

class OperatingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.definitions_dir = TestDefinitionDir("keyed");
    // Every email fails (so every booking rolls back) and so does every
    // release of a reservation (so the rollback gives up: FAILED).
    options.participant_flags["email"] = {"--fail-rate", "send_notification=1"};
    options.participant_flags["doctor"] = {"--fail-rate",
                                           "release_reservation=1"};
    cluster_ = std::make_unique<TestCluster>(options);
    ASSERT_TRUE(cluster_->Start());
  }

  // Runs `sagactl --address <orchestrator> args...` to its end.
  Outcome Sagactl(const std::vector<std::string>& args) {
    const std::string log =
        cluster_->log_dir() + "/sagactl-" + std::to_string(++runs_) + ".out";
    std::vector<std::string> argv = {
        BinaryPath("sagactl"), "--address",
        "127.0.0.1:" + std::to_string(cluster_->orchestrator_port())};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess process(argv, {"SAGACTL_OPERATOR=ann", "COLUMNS=200"}, log);
    const int status = process.Wait();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(log)};
  }

  std::unique_ptr<TestCluster> cluster_;
  int runs_ = 0;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(OperatingTest, BusinessKeysRepairsAndRerunsThroughSagactl) {
  const std::string id = cluster_->StartSaga(
      kKeyed, BookingInput("p-1004", "2026-12-16", "dermatology"));
  const std::string other = cluster_->StartSaga(
      kKeyed, BookingInput("p-1001", "2026-12-17", "cardiology"));
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(other.empty());

  // The definition derives the key from the patient: found by it alone.
  Outcome failed = Sagactl({"await", id, "--expect", "FAILED"});
  ASSERT_EQ(failed.exit_code, 0) << failed.output;
  Outcome listed = Sagactl({"list", "--business-key", "p-1004", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const nlohmann::json sagas = nlohmann::json::parse(listed.output)["sagas"];
  ASSERT_EQ(sagas.size(), 1u) << listed.output;
  EXPECT_EQ(sagas[0]["saga_id"], id);
  EXPECT_EQ(sagas[0]["business_key"], "p-1004");

  // `show` names the key and the call to fix.
  Outcome shown = Sagactl({"show", id});
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(Contains(shown.output, "Business key:     p-1004\n"))
      << shown.output;
  EXPECT_TRUE(Contains(shown.output,
                       "Failed call:      doctor release_reservation "
                       "(compensating step reserve_doctor)\n"))
      << shown.output;

  // A retry while the doctor still fails: a new round of 5 attempts, then
  // FAILED again.
  Outcome retried = Sagactl({"retry", id, "--reason", "try again"});
  ASSERT_EQ(retried.exit_code, 0) << retried.output;
  ASSERT_EQ(Sagactl({"await", id, "--expect", "FAILED"}).exit_code, 0);
  const v1::Saga again = cluster_->GetSaga(id);
  ASSERT_EQ(again.steps(1).name(), "reserve_doctor");
  EXPECT_EQ(again.steps(1).compensation_attempts(), 5);
  EXPECT_EQ(again.steps(1).total_compensation_attempts(), 10);

  // The operator releases the slot by hand: the saga and its step say so,
  // and `await --expect` takes that end as the wanted one.
  Outcome marked =
      Sagactl({"mark-compensated", id, "--reason", "released by phone"});
  ASSERT_EQ(marked.exit_code, 0) << marked.output;
  Outcome awaited = Sagactl({"await", id, "--expect", "COMPENSATED"});
  EXPECT_EQ(awaited.exit_code, 0) << awaited.output;
  EXPECT_EQ(cluster_->GetSaga(id).steps(1).status(),
            v1::STEP_STATUS_COMPENSATED);

  // The email service is back (the doctor still cannot release, which a
  // booking that completes never asks): rerun the booking two days later.
  ASSERT_TRUE(cluster_->RestartParticipant("email", {}));
  Outcome rerun = Sagactl({"rerun", id, "--reason", "email is back", "--set",
                           "preferred_date=2026-12-18"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  const std::string new_id = rerun.output.substr(0, rerun.output.find('\n'));
  Outcome completed = Sagactl({"await", new_id, "--expect", "COMPLETED"});
  ASSERT_EQ(completed.exit_code, 0) << completed.output;
  const v1::Saga rerun_saga = cluster_->GetSaga(new_id);
  EXPECT_EQ(rerun_saga.rerun_of(), id);
  EXPECT_EQ(rerun_saga.business_key(), "p-1004");
  EXPECT_TRUE(Contains(rerun_saga.input_json(), "2026-12-18"))
      << rerun_saga.input_json();
  cluster_->ExpectParticipantsAgree(rerun_saga);
  // Who asked and why, in the rerun's first event.
  const std::vector<v1::SagaEvent> history = cluster_->History(new_id);
  ASSERT_FALSE(history.empty());
  EXPECT_TRUE(Contains(history[0].data_json(), "\"reason\":\"email is back\""))
      << history[0].data_json();

  // The old saga shows its rerun, every round's attempts, and no step left
  // COMPENSATION_FAILED.
  Outcome old = Sagactl({"show", id});
  ASSERT_EQ(old.exit_code, 0) << old.output;
  EXPECT_TRUE(Contains(old.output, "Reruns:           " + new_id + "\n"))
      << old.output;
  EXPECT_TRUE(Contains(old.output, "5 (10 in all)")) << old.output;
  EXPECT_FALSE(Contains(old.output, "COMPENSATION_FAILED")) << old.output;

  // A mistyped id is a usage error, found before any call.
  Outcome not_an_id = Sagactl({"show", "not-a-uuid"});
  EXPECT_EQ(not_an_id.exit_code, 2) << not_an_id.output;
}

}  // namespace
}  // namespace saga::testing
