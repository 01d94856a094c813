// Wakes outbox readers (WatchEvents streams, the dispatcher) when this
// orchestrator commits, so they read new messages at once instead of
// polling. Commits by other orchestrators on the same database are not
// signalled: readers also read on a modest fallback interval.
//
// A signal says only "something may have changed": readers then read the
// outbox and find out. A message may also become readable without a signal
// of its own, when an older transaction ends (see outbox_store.h), which is
// why every commit signals, whatever it wrote.
//
// Thread-safe. Listeners are called on the notifying thread (the store's
// committing thread): they must only hand work elsewhere, never block.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "orchestrator/sync/mutex.h"

namespace saga::outbox {

class CommitSignal {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnCommit() = 0;
  };

  // After a commit.
  void Notify();

  // How many times Notify has been called; read it before reading the
  // outbox and pass it to NotifyOnce, so a commit in between is not missed.
  uint64_t Generation() const;

  // Calls `listener->OnCommit()` once after Generation() has passed `seen`:
  // at once on this thread if it already has, otherwise on the next
  // Notify. A listener that is gone by then is skipped (and forgotten).
  void NotifyOnce(uint64_t seen, std::weak_ptr<Listener> listener);

 private:
  mutable sync::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<Listener>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace saga::outbox
