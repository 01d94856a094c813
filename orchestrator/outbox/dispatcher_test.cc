// The dispatcher's rules against an in-memory queue and a sink that fails
// on demand: what is marked, what is delivered again, and in which order.
// (tests/integration/outbox_itest.cc runs it for real: PostgreSQL, a
// webhook, a restart.)
#include "orchestrator/outbox/dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <vector>

#include "tests/support/test_support.h"

namespace saga::outbox {
namespace {

using ::saga::testing::PollUntil;
using std::chrono::milliseconds;

constexpr milliseconds kWait{20000};

class MemoryQueue final : public store::OutboxQueue {
 public:
  explicit MemoryQueue(int messages) {
    for (int i = 1; i <= messages; ++i) {
      store::OutboxEntry entry;
      entry.position = i;
      entry.message.message_id = "s:" + std::to_string(i);
      pending_.push_back(entry);
    }
  }

  absl::StatusOr<bool> Lead() override { return true; }

  absl::StatusOr<std::vector<store::OutboxEntry>> Pending(int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++reads_;
    std::vector<store::OutboxEntry> page;
    for (const auto& entry : pending_) {
      if (static_cast<int>(page.size()) == limit) break;
      if (!marked_.count(entry.position)) page.push_back(entry);
    }
    return page;
  }

  absl::Status MarkDispatched(const std::vector<int64_t>& positions) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_marks_ > 0) {
      --fail_marks_;
      return absl::UnavailableError("database went away");
    }
    marked_.insert(positions.begin(), positions.end());
    return absl::OkStatus();
  }

  void FailMarks(int times) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_marks_ = times;
  }
  std::set<int64_t> Marked() {
    std::lock_guard<std::mutex> lock(mu_);
    return marked_;
  }
  int Reads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }

 private:
  std::mutex mu_;
  std::vector<store::OutboxEntry> pending_;
  std::set<int64_t> marked_;
  int fail_marks_ = 0;
  int reads_ = 0;
};

// Records every batch offered to it; refuses the first `refusals`.
class ScriptedSink final : public Sink {
 public:
  explicit ScriptedSink(int refusals) : refusals_(refusals) {}

  absl::Status Deliver(
      const std::vector<store::OutboxEntry>& entries) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int64_t> batch;
    for (const auto& entry : entries) batch.push_back(entry.position);
    if (refusals_ > 0) {
      --refusals_;
      refused_.push_back(batch);
      return absl::UnavailableError("refused on purpose");
    }
    accepted_.push_back(batch);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "scripted"; }

  std::vector<std::vector<int64_t>> Accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<std::vector<int64_t>> Refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  std::mutex mu_;
  int refusals_;
  std::vector<std::vector<int64_t>> accepted_;
  std::vector<std::vector<int64_t>> refused_;
};

DispatcherOptions FastOptions() {
  DispatcherOptions options;
  options.batch_size = 4;
  options.poll_interval = milliseconds(20);
  options.initial_backoff = milliseconds(1);
  options.max_backoff = milliseconds(5);
  return options;
}

std::vector<int64_t> Flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& batch : batches)
    all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

TEST(DispatcherTest, RetriesARefusedBatchWholeAndMarksOnlyWhatWasAccepted) {
  MemoryQueue queue(10);
  ScriptedSink sink(/*refusals=*/3);
  CommitSignal commits;
  Dispatcher dispatcher(&queue, &sink, &commits, FastOptions());
  dispatcher.Start();
  ASSERT_TRUE(PollUntil([&] { return queue.Marked().size() == 10; }, kWait));
  dispatcher.Stop();

  // The first batch was offered three times before it went through, and
  // nothing after it was offered in between.
  const auto refused = sink.Refused();
  ASSERT_EQ(refused.size(), 3u);
  for (const auto& batch : refused) {
    EXPECT_EQ(batch, (std::vector<int64_t>{1, 2, 3, 4}));
  }
  EXPECT_EQ(Flatten(sink.Accepted()),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(DispatcherTest, ABatchDeliveredButNotMarkedIsDeliveredAgain) {
  MemoryQueue queue(3);
  queue.FailMarks(1);
  ScriptedSink sink(/*refusals=*/0);
  CommitSignal commits;
  Dispatcher dispatcher(&queue, &sink, &commits, FastOptions());
  dispatcher.Start();
  ASSERT_TRUE(PollUntil([&] { return queue.Marked().size() == 3; }, kWait));
  dispatcher.Stop();
  EXPECT_EQ(sink.Accepted(),
            (std::vector<std::vector<int64_t>>{{1, 2, 3}, {1, 2, 3}}));
}

TEST(DispatcherTest, StopsPromptlyWhileWaitingForCommits) {
  MemoryQueue queue(0);
  ScriptedSink sink(0);
  CommitSignal commits;
  DispatcherOptions options = FastOptions();
  options.poll_interval = std::chrono::hours(1);
  Dispatcher dispatcher(&queue, &sink, &commits, options);
  dispatcher.Start();
  // It found nothing and waits for a commit (or an hour).
  ASSERT_TRUE(PollUntil([&] { return queue.Reads() >= 1; }, kWait));
  dispatcher.Stop();  // would hang for an hour if the wait ignored Stop
  EXPECT_TRUE(sink.Accepted().empty());
}

TEST(DispatchBackoffTest, DoublesUpToTheCap) {
  DispatcherOptions options;
  options.initial_backoff = milliseconds(100);
  options.max_backoff = milliseconds(1000);
  EXPECT_EQ(DispatchBackoff(options, 1), milliseconds(100));
  EXPECT_EQ(DispatchBackoff(options, 2), milliseconds(200));
  EXPECT_EQ(DispatchBackoff(options, 4), milliseconds(800));
  EXPECT_EQ(DispatchBackoff(options, 5), milliseconds(1000));
  EXPECT_EQ(DispatchBackoff(options, 1000), milliseconds(1000));
}

}  // namespace
}  // namespace saga::outbox
