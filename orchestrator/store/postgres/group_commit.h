// Group commit: many threads each submit one write and block until it is
// durable; whichever of them is at the front of the queue becomes the
// leader, takes every write queued behind it (up to max_group) and commits
// them together in one transaction, then wakes the others with their
// results. The same shape as LevelDB's writer queue, with up to
// max_leaders groups committing at once so that the next group forms (and
// can commit on another connection) while one waits for its fsync.
//
// Under light load a write commits alone and at once: nobody waits for a
// timer. Under load, groups grow with the number of waiting writers, so one
// durable commit carries many transitions.
//
// Thread-safe. `commit` is called without the queue's lock held.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace saga::store {

template <typename Write, typename Result>
class GroupCommitQueue {
 public:
  // Commits a group; returns one result per write, in the same order.
  using CommitFn =
      std::function<std::vector<Result>(const std::vector<const Write*>&)>;

  GroupCommitQueue(size_t max_group, size_t max_leaders, CommitFn commit)
      : max_group_(std::max<size_t>(1, max_group)),
        max_leaders_(std::max<size_t>(1, max_leaders)),
        commit_(std::move(commit)) {}

  // Blocks until `write` has been committed (alone or in a group).
  Result Submit(const Write& write) {
    Waiter self{&write, std::nullopt};
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(&self);
    while (!self.result.has_value()) {
      if (queue_.front() == &self && leaders_ < max_leaders_) {
        Lead(lock);
      } else {
        changed_.wait(lock);
      }
    }
    return *std::move(self.result);
  }

  // Writes queued and not yet taken into a group.
  size_t Waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

 private:
  struct Waiter {
    const Write* write;
    std::optional<Result> result;
  };

  // Called with the lock held by the writer at the front of the queue.
  void Lead(std::unique_lock<std::mutex>& lock) {
    std::vector<Waiter*> group;
    std::vector<const Write*> writes;
    while (!queue_.empty() && group.size() < max_group_) {
      group.push_back(queue_.front());
      writes.push_back(queue_.front()->write);
      queue_.pop_front();
    }
    ++leaders_;
    // The next writer in line may lead the next group right away.
    changed_.notify_all();
    lock.unlock();
    std::vector<Result> results = commit_(writes);
    lock.lock();
    --leaders_;
    for (size_t i = 0; i < group.size(); ++i) {
      group[i]->result = std::move(results[i]);
    }
    changed_.notify_all();
  }

  const size_t max_group_;
  const size_t max_leaders_;
  const CommitFn commit_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Waiter*> queue_;
  size_t leaders_ = 0;
};

}  // namespace saga::store
