#include "orchestrator/engine/committer.h"

#include <algorithm>
#include <utility>

namespace saga::engine {

namespace {

// Moves up to `limit` items from the front of `queue` into a new vector.
template <typename T>
std::vector<T> TakeFront(std::vector<T>& queue, size_t limit) {
  std::vector<T> taken;
  if (queue.size() <= limit) {
    taken.swap(queue);
    return taken;
  }
  taken.reserve(limit);
  std::move(queue.begin(), queue.begin() + limit, std::back_inserter(taken));
  queue.erase(queue.begin(), queue.begin() + limit);
  return taken;
}

}  // namespace

Committer::Committer(store::SagaStore* store, Deliver deliver,
                     CommitterOptions options)
    : store_(store), deliver_(std::move(deliver)), options_(options) {}

Committer::~Committer() { Stop(); }

void Committer::Start() {
  for (int i = 0; i < std::max(1, options_.writers); ++i) {
    writers_.emplace_back([this] { Run(); });
  }
}

void Committer::Stop() {
  {
    sync::MutexLock lock(&mu_);
    stopping_ = true;
  }
  ready_.SignalAll();
  for (std::thread& writer : writers_) writer.join();
  writers_.clear();
}

void Committer::Create(std::shared_ptr<const store::AppendBatch> batch,
                       CreateDone done) {
  {
    sync::MutexLock lock(&mu_);
    if (!stopping_) {
      creates_.push_back({std::move(batch), std::move(done)});
      ready_.Signal();
      return;
    }
  }
  Refuse(std::move(done));
}

void Committer::Append(std::shared_ptr<const store::AppendBatch> batch,
                       AppendDone done) {
  {
    sync::MutexLock lock(&mu_);
    if (!stopping_) {
      appends_.push_back({std::move(batch), std::move(done)});
      ready_.Signal();
      return;
    }
  }
  Refuse(std::move(done));
}

template <typename Done>
void Committer::Refuse(Done done) {
  deliver_([done = std::move(done)] {
    done(absl::UnavailableError("the engine is stopping; nothing committed"));
  });
}

void Committer::Run() {
  mu_.Lock();
  while (true) {
    while (!stopping_ && creates_.empty() && appends_.empty()) {
      ready_.Wait(&mu_);
    }
    if (creates_.empty() && appends_.empty()) break;  // stopping, drained
    // Alternate between the queues so that neither starves the other.
    const bool take_creates =
        !creates_.empty() && (prefer_creates_ || appends_.empty());
    prefer_creates_ = !take_creates;
    if (take_creates) {
      auto group = TakeFront(creates_, options_.max_group);
      mu_.Unlock();
      CommitGroup(std::move(group),
                  [this](const auto& b) { return store_->CreateGroup(b); });
    } else {
      auto group = TakeFront(appends_, options_.max_group);
      mu_.Unlock();
      CommitGroup(std::move(group),
                  [this](const auto& b) { return store_->AppendGroup(b); });
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

template <typename Done, typename Commit>
void Committer::CommitGroup(std::vector<Pending<Done>> group, Commit commit) {
  std::vector<const store::AppendBatch*> batches;
  batches.reserve(group.size());
  for (const auto& pending : group) batches.push_back(pending.batch.get());
  auto results = commit(batches);
  deliver_([group = std::move(group), results = std::move(results)]() mutable {
    for (size_t i = 0; i < group.size(); ++i) {
      group[i].done(std::move(results[i]));
    }
  });
}

}  // namespace saga::engine
