// The committer over the in-memory store: groups form from what is queued
// while a commit is under way, each batch gets its own result in order, and
// Stop commits what was queued before it returns.
#include "orchestrator/engine/committer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "orchestrator/store/memory/memory_store.h"
#include "tests/support/forwarding_store.h"

namespace saga::engine {
namespace {

using namespace std::chrono_literals;

constexpr char kWriter[] = "committer-test";

std::shared_ptr<store::AppendBatch> CreateBatch(const std::string& saga_id) {
  auto batch = std::make_shared<store::AppendBatch>();
  core::Event started;
  started.type = core::EventType::kSagaStarted;
  started.seq = 1;
  started.saga_type = "t";
  started.input_json = "{}";
  batch->saga_id = saga_id;
  batch->events = {started};
  batch->summary.saga_id = saga_id;
  batch->summary.saga_type = "t";
  batch->summary.input_json = "{}";
  batch->summary.last_seq = 1;
  batch->writer = kWriter;
  batch->lease_ttl = 60s;
  return batch;
}

std::shared_ptr<store::AppendBatch> AppendBatch(const std::string& saga_id,
                                                int64_t expected) {
  auto batch = std::make_shared<store::AppendBatch>();
  core::Event event;
  event.type = core::EventType::kStepStarted;
  event.seq = expected + 1;
  event.step = 0;
  event.attempt = 1;
  batch->saga_id = saga_id;
  batch->expected_last_seq = expected;
  batch->events = {event};
  batch->summary.saga_id = saga_id;
  batch->summary.last_seq = expected + 1;
  batch->writer = kWriter;
  batch->lease_ttl = 60s;
  return batch;
}

// Records the size of every group; can hold the next group's commit until
// released, so that writes queue up behind it.
class GroupRecordingStore final : public testing::ForwardingStore {
 public:
  GroupRecordingStore() : ForwardingStore(&inner_) {}

  std::vector<absl::Status> AppendGroup(
      const std::vector<const store::AppendBatch*>& batches) override {
    std::unique_lock lock(mu_);
    groups_.push_back(batches.size());
    changed_.notify_all();
    changed_.wait(lock, [&] { return !hold_; });
    lock.unlock();
    return SagaStore::AppendGroup(batches);  // one Append per batch
  }

  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    hold_ = false;
    changed_.notify_all();
  }
  bool WaitForGroups(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 10s, [&] { return groups_.size() >= n; });
  }
  std::vector<size_t> Groups() {
    std::lock_guard lock(mu_);
    return groups_;
  }

 private:
  store::MemoryStore inner_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool hold_ = false;
  std::vector<size_t> groups_;
};

// Collects delivered results; counts deliveries (one per group).
class Results {
 public:
  Committer::Deliver Deliver() {
    return [this](std::function<void()> work) {
      std::lock_guard lock(mu_);
      ++deliveries_;
      work();  // under the lock: results of one group arrive together
      changed_.notify_all();
    };
  }
  Committer::AppendDone Into(const std::string& name) {
    return [this, name](absl::Status status) {
      order_.push_back(name);
      statuses_[name] = status;
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 10s, [&] { return order_.size() >= n; });
  }
  std::vector<std::string> Order() {
    std::lock_guard lock(mu_);
    return order_;
  }
  absl::Status Status(const std::string& name) {
    std::lock_guard lock(mu_);
    return statuses_.at(name);
  }
  int Deliveries() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int deliveries_ = 0;
  std::vector<std::string> order_;
  std::map<std::string, absl::Status> statuses_;
};

TEST(CommitterTest, WritesQueuedDuringACommitShareTheNextGroup) {
  GroupRecordingStore store;
  for (const char* id : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(store.Create(*CreateBatch(id)).ok());
  }
  Results results;
  Committer committer(&store, results.Deliver(), {.writers = 1});
  committer.Start();

  store.Hold();
  committer.Append(AppendBatch("a", 1), results.Into("a1"));
  ASSERT_TRUE(store.WaitForGroups(1));
  // The writer is busy with a1: these queue and form one group, in order;
  // the stale and unknown ones are refused alone.
  committer.Append(AppendBatch("b", 1), results.Into("b1"));
  committer.Append(AppendBatch("c", 5), results.Into("c-stale"));
  committer.Append(AppendBatch("ghost", 1), results.Into("ghost"));
  committer.Append(AppendBatch("b", 2), results.Into("b2"));
  committer.Append(AppendBatch("d", 1), results.Into("d1"));
  store.Release();
  ASSERT_TRUE(results.WaitFor(6));

  EXPECT_EQ(store.Groups(), (std::vector<size_t>{1, 5}));
  EXPECT_EQ(results.Deliveries(), 2);
  EXPECT_EQ(results.Order(), (std::vector<std::string>{"a1", "b1", "c-stale",
                                                       "ghost", "b2", "d1"}));
  EXPECT_TRUE(results.Status("a1").ok());
  EXPECT_TRUE(results.Status("b1").ok());
  EXPECT_TRUE(results.Status("b2").ok());
  EXPECT_TRUE(results.Status("d1").ok());
  EXPECT_EQ(results.Status("c-stale").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(results.Status("ghost").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Load("b")->summary.last_seq, 3);
}

TEST(CommitterTest, GroupsAreCappedAtMaxGroup) {
  GroupRecordingStore store;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.Create(*CreateBatch("s" + std::to_string(i))).ok());
  }
  Results results;
  Committer committer(&store, results.Deliver(),
                      {.writers = 1, .max_group = 2});
  committer.Start();
  store.Hold();
  committer.Append(AppendBatch("s0", 1), results.Into("s0"));
  ASSERT_TRUE(store.WaitForGroups(1));
  for (int i = 1; i < 5; ++i) {
    committer.Append(AppendBatch("s" + std::to_string(i), 1),
                     results.Into("s" + std::to_string(i)));
  }
  store.Release();
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_EQ(store.Groups(), (std::vector<size_t>{1, 2, 2}));
}

TEST(CommitterTest, CreatesCommitAndReportTheirResult) {
  store::MemoryStore store;
  std::mutex mu;
  std::condition_variable done;
  std::vector<absl::StatusOr<store::CreateResult>> created;
  Committer committer(&store, [](std::function<void()> work) { work(); }, {});
  committer.Start();
  auto record = [&](absl::StatusOr<store::CreateResult> result) {
    std::lock_guard lock(mu);
    created.push_back(std::move(result));
    done.notify_all();
  };
  committer.Create(CreateBatch("n1"), record);
  committer.Create(CreateBatch("n1"), record);  // same id: refused
  std::unique_lock lock(mu);
  ASSERT_TRUE(done.wait_for(lock, 10s, [&] { return created.size() == 2; }));
  ASSERT_TRUE(created[0].ok()) << created[0].status();
  EXPECT_TRUE(created[0]->created);
  EXPECT_FALSE(created[1].ok());
  EXPECT_TRUE(store.Load("n1").ok());
}

TEST(CommitterTest, StopCommitsWhatIsQueuedAndRefusesLaterWrites) {
  GroupRecordingStore store;
  ASSERT_TRUE(store.Create(*CreateBatch("a")).ok());
  ASSERT_TRUE(store.Create(*CreateBatch("b")).ok());
  Results results;
  Committer committer(&store, results.Deliver(), {.writers = 1});
  committer.Start();
  store.Hold();
  committer.Append(AppendBatch("a", 1), results.Into("a1"));
  ASSERT_TRUE(store.WaitForGroups(1));
  committer.Append(AppendBatch("b", 1), results.Into("b1"));
  store.Release();
  committer.Stop();
  // Both were submitted before Stop, so both are committed when it returns.
  EXPECT_EQ(results.Order().size(), 2u);
  EXPECT_TRUE(results.Status("a1").ok());
  EXPECT_TRUE(results.Status("b1").ok());

  committer.Append(AppendBatch("a", 2), results.Into("late"));
  ASSERT_TRUE(results.WaitFor(3));
  EXPECT_EQ(results.Status("late").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.Load("a")->summary.last_seq, 2);
}

}  // namespace
}  // namespace saga::engine
