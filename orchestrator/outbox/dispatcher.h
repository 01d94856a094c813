// The outbox dispatcher: delivers PENDING outbox messages to a sink in
// stream order (outbox_store.h) and marks them DISPATCHED once the sink has
// them. Off unless --outbox-sink is given; then messages stay PENDING, for
// change-data-capture tools to tail the table instead.
//
// Guarantees:
// - Nothing is marked that the sink did not accept: a batch is marked only
//   after Deliver returned OK, and only the entries of that batch.
// - At least once, in order: a failed batch is delivered again, whole,
//   after a backoff (exponential, capped), before anything after it. A
//   batch delivered but not marked (the orchestrator died, the database
//   went away in between) is delivered again by the next dispatcher, so
//   receivers dedupe on message_id.
// - One dispatcher per database at a time: each orchestrator runs one, and
//   only the one whose queue leads (holds the database's dispatcher lock)
//   delivers; the others stand by and try to take over every poll
//   interval.
//
// Wakes on this orchestrator's commits (CommitSignal) and reads every
// poll_interval anyway, for messages committed by other orchestrators.
//
// Thread-safety: Start and Stop from one thread; the dispatcher runs on a
// thread of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/outbox/sink.h"
#include "orchestrator/store/outbox_store.h"
#include "orchestrator/sync/mutex.h"

namespace prometheus {
class Registry;
}

namespace saga::outbox {

struct DispatcherOptions {
  // Most messages per delivery.
  int batch_size = 100;
  // How often to look for messages nobody signalled (other orchestrators'
  // commits) and, standing by, to try to take the lead.
  std::chrono::milliseconds poll_interval{1000};
  // Backoff after a failed delivery or database error: doubles from
  // initial_backoff up to max_backoff.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
  // Where to register the saga_outbox_* metrics; null: none.
  std::shared_ptr<prometheus::Registry> metrics;
};

// The wait before the retry after `failures` consecutive failures (>= 1).
std::chrono::milliseconds DispatchBackoff(const DispatcherOptions& options,
                                          int failures);

class Dispatcher {
 public:
  // `queue`, `sink` and `commits` must outlive the dispatcher.
  Dispatcher(store::OutboxQueue* queue, Sink* sink, CommitSignal* commits,
             DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Start();
  // Returns once the dispatcher thread has ended: at once when idle, or
  // after the delivery in progress (bounded by the sink's timeout).
  void Stop();

 private:
  struct Metrics;
  class Wakeup;

  void Run();
  // One round: lead, read, deliver, mark. Returns false when it failed (the
  // caller backs off) and sets `idle` when there was nothing to deliver.
  bool Round(bool& idle);
  // Waits until `delay` passes or Stop; with `on_commit`, also until this
  // orchestrator commits after generation `seen`.
  void Wait(std::chrono::milliseconds delay, bool on_commit, uint64_t seen);

  store::OutboxQueue* const queue_;
  Sink* const sink_;
  CommitSignal* const commits_;
  const DispatcherOptions options_;
  std::unique_ptr<Metrics> metrics_;

  // Shared with the commit listeners, which may outlive a Wait (and, for a
  // moment, the dispatcher).
  struct Signals {
    sync::Mutex mu;
    sync::CondVar changed;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    bool committed ABSL_GUARDED_BY(mu) = false;  // a commit since Wait began
  };
  const std::shared_ptr<Signals> signals_ = std::make_shared<Signals>();
  bool leading_ = false;  // dispatcher thread only
  std::thread thread_;
};

}  // namespace saga::outbox
