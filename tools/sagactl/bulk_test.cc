// The pure parts of bulk repairs: filter flags, progress lines, the
// classification and rendering of per-saga results, and the bounded runner.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/sagactl/bulk_filter.h"
#include "tools/sagactl/bulk_progress.h"
#include "tools/sagactl/bulk_result.h"
#include "tools/sagactl/bulk_runner.h"
#include "tools/sagactl/exit_codes.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kNow = 1714564800000;

TEST(BulkFilterTest, FlagsBecomeAListRequestCountingBackFromNow) {
  BulkFilterArgs args;
  EXPECT_FALSE(args.any());
  args.status = "failed";
  args.type = "appointment_booking";
  args.since = "2h";
  args.until = "30m";
  args.step = "reserve_doctor";
  args.error_contains = "Timeout";
  args.business_key = "patient-7";
  ASSERT_TRUE(args.any());
  absl::StatusOr<v1::ListSagasRequest> request = BulkListRequest(args, kNow);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->status(), v1::SAGA_STATUS_FAILED);
  EXPECT_EQ(request->saga_type(), "appointment_booking");
  EXPECT_EQ(request->created_after_unix_ms(), kNow - 2 * 3600 * 1000);
  EXPECT_EQ(request->created_before_unix_ms(), kNow - 30 * 60 * 1000);
  EXPECT_EQ(request->step(), "reserve_doctor");
  EXPECT_EQ(request->error_contains(), "Timeout");
  EXPECT_EQ(request->business_key(), "patient-7");
  EXPECT_EQ(request->page_size(), 0);
}

TEST(BulkFilterTest, BadFlagsAreUsageErrors) {
  BulkFilterArgs bad_status;
  bad_status.status = "broken";
  BulkFilterArgs bad_since;
  bad_since.since = "yesterday";
  BulkFilterArgs empty_range;
  empty_range.since = "1h";
  empty_range.until = "2h";
  for (const BulkFilterArgs& args : {bad_status, bad_since, empty_range}) {
    absl::StatusOr<v1::ListSagasRequest> request = BulkListRequest(args, kNow);
    EXPECT_EQ(ExitCodeFor(request.status()), kExitUsage) << request.status();
  }
}

TEST(BulkFilterTest, GroupedCountSeparatesThousands) {
  EXPECT_EQ(GroupedCount(0), "0");
  EXPECT_EQ(GroupedCount(999), "999");
  EXPECT_EQ(GroupedCount(1000), "1,000");
  EXPECT_EQ(GroupedCount(1234567), "1,234,567");
}

TEST(BulkProgressTest, ShowsDoneTotalRateAndEta) {
  EXPECT_EQ(FormatProgress(0, 1000, milliseconds(0), false), "0/1,000  0%");
  EXPECT_EQ(FormatProgress(500, 1000, milliseconds(2000), false),
            "500/1,000  50%  250.0/s  ETA 2.0s");
  EXPECT_EQ(FormatProgress(500, 1000, milliseconds(2000), true),
            "[==========>         ] 500/1,000  50%  250.0/s  ETA 2.0s");
  EXPECT_EQ(FormatProgress(1000, 1000, milliseconds(4000), true),
            "[====================] 1,000/1,000  100%  250.0/s");
}

TEST(BulkProgressTest, TerminalRedrawsAtMostTenTimesASecond) {
  ProgressReporter terminal(true);
  const std::string first = terminal.Update(1, 10, milliseconds(10));
  EXPECT_EQ(first.rfind("\r[", 0), 0u) << first;
  EXPECT_EQ(terminal.Update(2, 10, milliseconds(60)), "");
  EXPECT_NE(terminal.Update(3, 10, milliseconds(110)), "");
  EXPECT_EQ(terminal.Update(4, 10, milliseconds(150)), "");
  const std::string last = terminal.Finish(10, 10, milliseconds(1000));
  EXPECT_EQ(last.back(), '\n');
  EXPECT_NE(last.find("10/10"), std::string::npos) << last;
}

TEST(BulkProgressTest, LogGetsAPlainLineEveryFiveSecondsAndTheTotal) {
  ProgressReporter log(false);
  EXPECT_EQ(log.Update(100, 1000, milliseconds(1000)), "");
  EXPECT_EQ(log.Update(400, 1000, milliseconds(5000)),
            "sagactl: 400/1,000  40%  80.0/s  ETA 7.5s\n");
  EXPECT_EQ(log.Update(500, 1000, milliseconds(9000)), "");
  EXPECT_NE(log.Update(900, 1000, milliseconds(10000)), "");
  EXPECT_EQ(log.Finish(1000, 1000, milliseconds(12500)),
            "sagactl: 1,000/1,000  100%  80.0/s in 12s\n");
}

v1::Saga SagaIn(v1::SagaStatus status, const std::string& step = "") {
  v1::Saga saga;
  saga.set_status(status);
  saga.set_current_step(step);
  return saga;
}

TEST(BulkResultTest, SuccessIsDoneAndARefusalIsAlreadyDoneOnlyWhenTrue) {
  const absl::Status refused =
      absl::FailedPreconditionError("nothing to retry: saga is COMPENSATING");
  BulkItemResult done = ClassifyBulkItem(BulkAction::kRetry, "", "s1",
                                         absl::OkStatus(), std::nullopt);
  EXPECT_EQ(done.outcome, BulkOutcome::kDone);
  EXPECT_EQ(done.code, absl::StatusCode::kOk);

  BulkItemResult earlier =
      ClassifyBulkItem(BulkAction::kRetry, "", "s2", refused,
                       SagaIn(v1::SAGA_STATUS_COMPENSATING, "reserve_doctor"));
  EXPECT_EQ(earlier.outcome, BulkOutcome::kAlreadyDone);
  EXPECT_EQ(earlier.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(earlier.error, refused.message());

  // Still FAILED, or not readable after the refusal: failed, with the
  // server's reason.
  EXPECT_EQ(ClassifyBulkItem(BulkAction::kRetry, "", "s3", refused,
                             SagaIn(v1::SAGA_STATUS_FAILED))
                .outcome,
            BulkOutcome::kFailed);
  EXPECT_EQ(
      ClassifyBulkItem(BulkAction::kRetry, "", "s3", refused, std::nullopt)
          .outcome,
      BulkOutcome::kFailed);
  // Another error never counts as done, whatever the saga shows.
  EXPECT_EQ(ClassifyBulkItem(BulkAction::kRetry, "", "s4",
                             absl::UnavailableError("database down"),
                             SagaIn(v1::SAGA_STATUS_COMPENSATED))
                .outcome,
            BulkOutcome::kFailed);
}

TEST(BulkResultTest, EachRepairHasItsOwnAim) {
  const absl::Status refused = absl::FailedPreconditionError("no");
  auto outcome = [&](BulkAction action, const v1::Saga& after) {
    return ClassifyBulkItem(action, "charge", "s", refused, after).outcome;
  };
  EXPECT_EQ(outcome(BulkAction::kMarkCompensated,
                    SagaIn(v1::SAGA_STATUS_COMPENSATED)),
            BulkOutcome::kAlreadyDone);
  EXPECT_EQ(
      outcome(BulkAction::kMarkCompensated, SagaIn(v1::SAGA_STATUS_RUNNING)),
      BulkOutcome::kFailed);
  EXPECT_EQ(outcome(BulkAction::kCancel, SagaIn(v1::SAGA_STATUS_COMPENSATED)),
            BulkOutcome::kAlreadyDone);
  EXPECT_EQ(outcome(BulkAction::kCancel, SagaIn(v1::SAGA_STATUS_COMPLETED)),
            BulkOutcome::kFailed);
  EXPECT_EQ(outcome(BulkAction::kSkipStep,
                    SagaIn(v1::SAGA_STATUS_COMPENSATING, "reserve")),
            BulkOutcome::kAlreadyDone);
  EXPECT_EQ(
      outcome(BulkAction::kSkipStep, SagaIn(v1::SAGA_STATUS_FAILED, "charge")),
      BulkOutcome::kFailed);
}

TEST(BulkResultTest, JsonLineHasTheFourFields) {
  BulkItemResult result;
  result.saga_id = "00000000-0000-4000-8000-000000000001";
  result.outcome = BulkOutcome::kFailed;
  result.code = absl::StatusCode::kFailedPrecondition;
  result.error = "nothing to retry";
  const std::string line = RenderBulkJsonLine(result);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(nlohmann::json::parse(line),
            nlohmann::json({{"saga_id", result.saga_id},
                            {"outcome", "failed"},
                            {"code", "FAILED_PRECONDITION"},
                            {"error", "nothing to retry"}}));
}

TEST(BulkResultTest, ReportCountsOutcomesAndListsTheFailures) {
  std::vector<BulkItemResult> results(4);
  results[0] = {"a", BulkOutcome::kDone, absl::StatusCode::kOk, ""};
  results[1] = {"b", BulkOutcome::kAlreadyDone,
                absl::StatusCode::kFailedPrecondition, "no longer FAILED"};
  results[2] = {"c", BulkOutcome::kFailed, absl::StatusCode::kNotFound,
                "saga c not found"};
  results[3].saga_id = "d";
  const BulkCounts counts = CountOutcomes(results);
  EXPECT_EQ(counts.done, 1u);
  EXPECT_EQ(counts.already_done, 1u);
  EXPECT_EQ(counts.failed, 1u);
  EXPECT_EQ(counts.not_attempted, 1u);
  const std::string report =
      RenderBulkReport(BulkAction::kRetry, results, /*interrupted=*/true);
  EXPECT_EQ(report.rfind("retry of 4 sagas (interrupted): 1 done, 1 already "
                         "done, 1 failed, 1 not attempted\n",
                         0),
            0u)
      << report;
  EXPECT_NE(report.find("c        failed   NOT_FOUND  saga c not found"),
            std::string::npos)
      << report;
  // Not attempted: counted in the summary, not listed.
  EXPECT_EQ(report.find("not_attempted"), std::string::npos) << report;
  EXPECT_EQ(report.find("a  "), std::string::npos) << report;
  EXPECT_NE(report.find("Run the same command again"), std::string::npos);
}

TEST(BulkRunnerTest, RunsEveryItemWithABoundedNumberInFlight) {
  std::mutex mu;
  int in_flight = 0;
  int most = 0;
  std::multiset<size_t> ran;
  std::atomic<bool> stop{false};
  size_t ticks_done = 0;
  BulkRunOptions options;
  options.parallel = 3;
  options.tick = milliseconds(1);
  const size_t started = RunBulk(
      50, options,
      [&](size_t i) {
        {
          std::lock_guard lock(mu);
          most = std::max(most, ++in_flight);
          ran.insert(i);
        }
        std::this_thread::yield();
        std::lock_guard lock(mu);
        --in_flight;
      },
      stop, [&](size_t done) { ticks_done = done; });
  EXPECT_EQ(started, 50u);
  EXPECT_EQ(ran.size(), 50u);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(ran.count(i), 1u) << i;
  EXPECT_LE(most, 3);
  EXPECT_EQ(ticks_done, 50u);  // the last tick sees every item finished
}

TEST(BulkRunnerTest, StopLetsTheItemsInFlightFinishAndStartsNoOther) {
  std::atomic<bool> stop{false};
  std::atomic<int> arrived{0};
  std::atomic<int> finished{0};
  BulkRunOptions options;
  options.parallel = 3;
  // The first three items meet, then each asks to stop (Ctrl-C while they
  // are in flight) before it returns.
  const size_t started = RunBulk(
      100, options,
      [&](size_t) {
        arrived.fetch_add(1);
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (arrived.load() < 3 &&
               std::chrono::steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
        stop.store(true);
        finished.fetch_add(1);
      },
      stop, [](size_t) {});
  EXPECT_EQ(started, 3u);
  EXPECT_EQ(finished.load(), 3);
}

}  // namespace
}  // namespace saga::sagactl
