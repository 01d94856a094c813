// Feeds the bookings view from the orchestrator's outbox stream
// (SagaOrchestrator.WatchEvents), from the position the view recorded.
//
// On start and after every interruption it first catches up (a stream
// without follow, which ends once it has read everything committed), logs
// "caught up", then follows new messages as they commit. A reader thread
// queues what the stream sends; whatever has arrived is applied in one
// BookingStore::Apply (messages of other saga types only move the
// position). Nothing is ever skipped over: the next stream starts at the
// recorded position.
//
// When the orchestrator answers OUT_OF_RANGE (the recorded position is no
// longer in the outbox: pruned, or from another orchestrator database) or
// a message cannot be read, the view cannot go on without missing updates:
// the consumer stops and calls `on_fatal` with the reason (the operator
// may then rebuild the view from position 0: saga-bookings-view
// --rebuild). Anything else (orchestrator or database unreachable) is
// retried with a backoff.
//
// Metrics (on `registry`):
//   saga_bookings_view_messages_total{outcome}   applied, duplicate, stale,
//                                                other_type
//   saga_bookings_view_lag_seconds   how old the last message applied was
//                                    (since its outbox commit); 0 once
//                                    caught up
//   saga_bookings_view_caught_up     1 while following after a catch-up
//
// Thread-safe; one background thread, and one more per stream.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "participants/bookings_view/booking_store.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace prometheus {
class Registry;
}

namespace saga::bookings {

struct ConsumerOptions {
  // The orchestrator's HOST:PORT (plaintext gRPC).
  std::string orchestrator;
  // Bearer token for the orchestrator (WatchEvents needs an operator's);
  // empty: none.
  std::string bearer_token;
  // The saga types whose messages are bookings.
  std::set<std::string> saga_types;
};

class OutboxConsumer {
 public:
  // Starts the thread. `store` and `registry` must outlive the consumer.
  OutboxConsumer(BookingStore* store, ConsumerOptions options,
                 prometheus::Registry& registry,
                 std::function<void(const std::string&)> on_fatal);
  ~OutboxConsumer();  // Stop()
  void Stop();

 private:
  struct Metrics;
  enum class StreamEnd { kCaughtUp, kRetry, kFatal, kStopped };

  void Run();
  // Reads one stream from the recorded position.
  StreamEnd ReadStream(bool follow);
  // Applies messages read from a stream in one transaction; how the stream
  // must end when that fails.
  std::optional<StreamEnd> ApplyBatch(
      const std::vector<v1::OutboxEvent>& events);
  // Waits `delay` unless stopped; false when stopped.
  bool Pause(std::chrono::milliseconds delay);

  BookingStore* store_;
  const ConsumerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::function<void(const std::string&)> on_fatal_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::unique_ptr<v1::SagaOrchestrator::Stub> stub_;
  grpc::ClientContext* stream_ = nullptr;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace saga::bookings
