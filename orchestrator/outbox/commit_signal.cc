#include "orchestrator/outbox/commit_signal.h"

#include <utility>

namespace saga::outbox {

void CommitSignal::Notify() {
  std::vector<std::weak_ptr<Listener>> waiting;
  {
    sync::MutexLock lock(&mu_);
    ++generation_;
    waiting.swap(waiting_);
  }
  for (const auto& weak : waiting) {
    if (auto listener = weak.lock()) listener->OnCommit();
  }
}

uint64_t CommitSignal::Generation() const {
  sync::MutexLock lock(&mu_);
  return generation_;
}

void CommitSignal::NotifyOnce(uint64_t seen, std::weak_ptr<Listener> listener) {
  {
    sync::MutexLock lock(&mu_);
    if (generation_ == seen) {
      // Listeners woken some other way (a timer, a cancelled stream) leave
      // expired entries behind; drop them so a quiet database does not
      // grow the list.
      std::erase_if(waiting_, [](const auto& weak) { return weak.expired(); });
      waiting_.push_back(std::move(listener));
      return;
    }
  }
  if (auto alive = listener.lock()) alive->OnCommit();
}

}  // namespace saga::outbox
