#include "orchestrator/api/event_streams.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/sync/mutex.h"

namespace saga::api {
namespace {

v1::OutboxEvent ToProto(store::OutboxEntry entry) {
  v1::OutboxEvent event;
  event.set_position(entry.position);
  event.set_message_id(std::move(entry.message.message_id));
  event.set_saga_id(std::move(entry.message.saga_id));
  event.set_saga_type(std::move(entry.saga_type));
  event.set_type(std::move(entry.message.type));
  event.set_header_json(std::move(entry.message.header_json));
  event.set_payload_json(std::move(entry.message.payload_json));
  event.set_at_unix_ms(entry.message.at_ms);
  event.set_recorded_unix_ms(entry.recorded_ms);
  return event;
}

}  // namespace

struct EventStreams::Pool {
  explicit Pool(int threads) : pool(threads) {}
  boost::asio::thread_pool pool;
};

// One WatchEvents call. One operation at a time, each started by the end of
// the previous one: read -> write each event -> read ... -> wait -> read.
// The reactor ends (Finish) only from a read or a failed write, never while
// a wait is pending, so nothing that could still wake it outlives it.
class EventStreams::Stream final
    : public grpc::ServerWriteReactor<v1::OutboxEvent> {
 public:
  Stream(EventStreams* owner, const v1::WatchEventsRequest& request)
      : owner_(owner),
        from_position_(request.from_position()),
        follow_(request.follow()),
        saga_type_(request.saga_type()),
        type_(request.type()) {
    Post([this] { Begin(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    pending_.pop_front();
    WriteNext();
  }

  void OnCancel() override {
    std::shared_ptr<Wake> waiting;
    {
      sync::MutexLock lock(&mu_);
      cancelled_ = true;
      waiting = waiting_;
    }
    if (waiting) waiting->Fire();
  }

  void OnDone() override { delete this; }

 private:
  // Resumes a waiting stream once: on a commit, at the poll interval or on
  // cancellation, whichever comes first. Later calls do nothing, so the
  // commit signal and the timer may keep it past the stream's end.
  class Wake final : public outbox::CommitSignal::Listener {
   public:
    explicit Wake(Stream* stream) : stream_(stream) {}
    void OnCommit() override { Fire(); }
    void Fire() {
      Stream* stream = nullptr;
      {
        sync::MutexLock lock(&mu_);
        std::swap(stream, stream_);
      }
      if (stream != nullptr) stream->Post([stream] { stream->Read(); });
    }

   private:
    sync::Mutex mu_;
    Stream* stream_ ABSL_GUARDED_BY(mu_);  // null once fired
  };

  template <typename Fn>
  void Post(Fn fn) {
    boost::asio::post(owner_->pool_->pool, std::move(fn));
  }

  void Begin() {
    if (from_position_ > 0) {
      absl::StatusOr<store::StreamCursor> cursor =
          owner_->log_->CursorAfter(from_position_);
      if (!cursor.ok()) {
        Finish(ToGrpcStatus(cursor.status()));
        return;
      }
      cursor_ = *cursor;
    }
    Read();
  }

  bool Matches(const store::OutboxEntry& entry) const {
    return (saga_type_.empty() || entry.saga_type == saga_type_) &&
           (type_.empty() || entry.message.type == type_);
  }

  void Read() {
    bool cancelled = false;
    {
      sync::MutexLock lock(&mu_);
      cancelled = cancelled_;
    }
    if (cancelled) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    if (owner_->stopping_) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the orchestrator is shutting down; resume from "
                          "the last position"));
      return;
    }
    // Before the read: a commit that lands during it still wakes the wait.
    seen_ = owner_->commits_->Generation();
    absl::StatusOr<store::StreamPage> page =
        owner_->log_->Read(cursor_, owner_->options_.page_size);
    if (!page.ok()) {
      Finish(ToGrpcStatus(page.status()));
      return;
    }
    cursor_ = page->next;
    caught_up_ = page->caught_up;
    for (store::OutboxEntry& entry : page->entries) {
      if (Matches(entry)) pending_.push_back(ToProto(std::move(entry)));
    }
    WriteNext();
  }

  void WriteNext() {
    if (!pending_.empty()) {
      StartWrite(&pending_.front());
    } else if (!caught_up_) {
      Post([this] { Read(); });
    } else if (!follow_) {
      Finish(grpc::Status::OK);
    } else {
      Wait();
    }
  }

  void Wait() {
    EventStreams* const owner = owner_;
    const uint64_t seen = seen_;
    auto wake = std::make_shared<Wake>(this);
    {
      sync::MutexLock lock(&mu_);
      waiting_ = wake;
      if (cancelled_) {
        // OnCancel came before this wait existed: nobody else will fire it.
        wake->Fire();
        return;
      }
    }
    // From here on the stream may resume, and end, at any moment: only
    // locals may be used.
    auto timer = std::make_shared<boost::asio::steady_timer>(
        owner->pool_->pool.get_executor(), owner->options_.poll_interval);
    timer->async_wait(
        [timer, wake](const boost::system::error_code&) { wake->Fire(); });
    owner->commits_->NotifyOnce(seen, wake);
  }

  EventStreams* const owner_;
  const int64_t from_position_;
  const bool follow_;
  const std::string saga_type_;
  const std::string type_;
  // One operation at a time uses these (see the class comment).
  store::StreamCursor cursor_;
  uint64_t seen_ = 0;
  bool caught_up_ = false;
  std::deque<v1::OutboxEvent> pending_;

  sync::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Wake> waiting_ ABSL_GUARDED_BY(mu_);
};

EventStreams::EventStreams(store::OutboxLog* log, outbox::CommitSignal* commits,
                           EventStreamOptions options)
    : log_(log),
      commits_(commits),
      options_(options),
      pool_(std::make_unique<Pool>(options.threads)) {}

EventStreams::~EventStreams() {
  // Only idle timers can be left (the server, and with it every stream, is
  // gone): drop them rather than wait out the poll interval.
  pool_->pool.stop();
  pool_->pool.join();
}

grpc::ServerWriteReactor<v1::OutboxEvent>* EventStreams::Open(
    const v1::WatchEventsRequest& request) {
  return new Stream(this, request);
}

void EventStreams::BeginShutdown() {
  stopping_ = true;
  // Wakes every waiting stream, which then sees stopping_ and ends.
  commits_->Notify();
}

}  // namespace saga::api
