#include "orchestrator/store/postgres/group_commit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace saga::store {
namespace {

using ::saga::testing::PollUntil;

// Records every group it is asked to commit; the first commit waits until
// the test opens the gate, so that the writes behind it queue up.
class GatedCommitter {
 public:
  std::vector<int> Commit(const std::vector<const int*>& group) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      std::vector<int> values;
      for (const int* write : group) values.push_back(*write);
      groups_.push_back(values);
      gate_.wait(lock, [this] { return open_; });
    }
    std::vector<int> results;
    for (const int* write : group) results.push_back(*write * 10);
    return results;
  }

  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    gate_.notify_all();
  }

  std::vector<std::vector<int>> Groups() {
    std::lock_guard<std::mutex> lock(mu_);
    return groups_;
  }

 private:
  std::mutex mu_;
  std::condition_variable gate_;
  bool open_ = false;
  std::vector<std::vector<int>> groups_;
};

TEST(GroupCommitQueueTest, WritesQueuedBehindACommitShareTheNextOne) {
  GatedCommitter committer;
  GroupCommitQueue<int, int> queue(
      /*max_group=*/64, /*max_leaders=*/1,
      [&](const std::vector<const int*>& group) {
        return committer.Commit(group);
      });
  std::vector<int> results(6, 0);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = queue.Submit(0); });
  ASSERT_TRUE(PollUntil([&] { return committer.Groups().size() == 1; },
                        std::chrono::seconds(10)));
  // Submitted one by one, so the group's order is known.
  for (int i = 1; i < 6; ++i) {
    threads.emplace_back([&, i] { results[i] = queue.Submit(i); });
    ASSERT_TRUE(PollUntil([&] { return queue.Waiting() == size_t(i); },
                          std::chrono::seconds(10)));
  }
  committer.Open();
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(committer.Groups(),
            (std::vector<std::vector<int>>{{0}, {1, 2, 3, 4, 5}}));
  EXPECT_EQ(results, (std::vector<int>{0, 10, 20, 30, 40, 50}));
  EXPECT_EQ(queue.Waiting(), 0u);
}

TEST(GroupCommitQueueTest, GroupsAreCappedAtMaxGroup) {
  GatedCommitter committer;
  GroupCommitQueue<int, int> queue(
      /*max_group=*/2, /*max_leaders=*/1,
      [&](const std::vector<const int*>& group) {
        return committer.Commit(group);
      });
  std::vector<std::thread> threads;
  threads.emplace_back([&] { queue.Submit(0); });
  ASSERT_TRUE(PollUntil([&] { return committer.Groups().size() == 1; },
                        std::chrono::seconds(10)));
  for (int i = 1; i < 6; ++i) {
    threads.emplace_back([&, i] { queue.Submit(i); });
    ASSERT_TRUE(PollUntil([&] { return queue.Waiting() == size_t(i); },
                          std::chrono::seconds(10)));
  }
  committer.Open();
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(committer.Groups(),
            (std::vector<std::vector<int>>{{0}, {1, 2}, {3, 4}, {5}}));
}

TEST(GroupCommitQueueTest, ASecondLeaderCommitsWhileTheFirstWaits) {
  GatedCommitter committer;
  GroupCommitQueue<int, int> queue(
      /*max_group=*/64, /*max_leaders=*/2,
      [&](const std::vector<const int*>& group) {
        return committer.Commit(group);
      });
  std::vector<std::thread> threads;
  threads.emplace_back([&] { queue.Submit(0); });
  ASSERT_TRUE(PollUntil([&] { return committer.Groups().size() == 1; },
                        std::chrono::seconds(10)));
  threads.emplace_back([&] { queue.Submit(1); });
  // The second write does not wait for the first group: it leads its own.
  ASSERT_TRUE(PollUntil([&] { return committer.Groups().size() == 2; },
                        std::chrono::seconds(10)));
  committer.Open();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(committer.Groups(), (std::vector<std::vector<int>>{{0}, {1}}));
}

}  // namespace
}  // namespace saga::store
