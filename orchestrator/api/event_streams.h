// WatchEvents: streams the outbox (store/outbox_store.h has the order and
// why it never skips a late commit). Each stream reads a page at a time,
// writes it, and reads on until it has caught up; then, following, it
// waits for this orchestrator's next commit (CommitSignal) or the poll
// interval (for other orchestrators' commits) and reads again. Nothing
// blocks a gRPC thread: reads run on a small pool of the streams' own.
//
// Thread-safety: Open and BeginShutdown may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/store/outbox_store.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace saga::api {

struct EventStreamOptions {
  // Messages per read.
  int page_size = 256;
  // How long a caught-up stream waits for a commit before reading anyway.
  std::chrono::milliseconds poll_interval{1000};
  // Threads that read for the streams.
  int threads = 2;
};

class EventStreams {
 public:
  // `log` and `commits` must outlive this object, which must outlive the
  // gRPC server.
  EventStreams(store::OutboxLog* log, outbox::CommitSignal* commits,
               EventStreamOptions options);
  ~EventStreams();
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  // The reactor for one WatchEvents call; `request` has been checked.
  grpc::ServerWriteReactor<v1::OutboxEvent>* Open(
      const v1::WatchEventsRequest& request);

  // Ends every stream, now and from now on, with UNAVAILABLE, so the server
  // can shut down without waiting for followers.
  void BeginShutdown();

 private:
  class Stream;
  struct Pool;

  store::OutboxLog* const log_;
  outbox::CommitSignal* const commits_;
  const EventStreamOptions options_;
  std::unique_ptr<Pool> pool_;
  std::atomic<bool> stopping_{false};
};

}  // namespace saga::api
