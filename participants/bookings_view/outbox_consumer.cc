#include "participants/bookings_view/outbox_consumer.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace saga::bookings {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

// Reconnects within a second once the orchestrator is back (gRPC's default
// backoff grows to two minutes while it is away).
std::shared_ptr<grpc::Channel> OrchestratorChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Messages read ahead of the database (the reader waits beyond this), and
// the most applied in one transaction.
constexpr size_t kMaxQueued = 2000;
constexpr size_t kMaxBatch = 500;

// Between the thread that reads a stream and the one that applies it: the
// view applies whatever has arrived in one transaction, so it keeps up with
// a burst at a few statements per batch rather than per message.
struct Inbox {
  std::mutex mu;
  std::condition_variable changed;
  std::deque<v1::OutboxEvent> events;  // GUARDED_BY(mu)
  bool done = false;                   // GUARDED_BY(mu): the stream ended
  bool abandoned = false;              // GUARDED_BY(mu): stop reading
  grpc::Status status;                 // GUARDED_BY(mu), once done
};

// Reads the stream into `inbox` until it ends; Finish()es it.
void ReadInto(grpc::ClientReader<v1::OutboxEvent>& reader, Inbox& inbox) {
  v1::OutboxEvent event;
  while (reader.Read(&event)) {
    std::unique_lock lock(inbox.mu);
    inbox.changed.wait(lock, [&] {
      return inbox.events.size() < kMaxQueued || inbox.abandoned;
    });
    // Abandoned: the call was cancelled; drain it so Finish can return.
    if (inbox.abandoned) continue;
    inbox.events.push_back(std::move(event));
    inbox.changed.notify_all();
  }
  grpc::Status status = reader.Finish();
  std::lock_guard lock(inbox.mu);
  inbox.done = true;
  inbox.status = std::move(status);
  inbox.changed.notify_all();
}

}  // namespace

struct OutboxConsumer::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : messages(prometheus::BuildCounter()
                     .Name("saga_bookings_view_messages_total")
                     .Help("Outbox messages read, by outcome: applied, "
                           "duplicate (message_id applied before), stale, "
                           "other_type (not a booking saga)")
                     .Register(registry)),
        applied(messages.Add({{"outcome", "applied"}})),
        duplicate(messages.Add({{"outcome", "duplicate"}})),
        stale(messages.Add({{"outcome", "stale"}})),
        other_type(messages.Add({{"outcome", "other_type"}})),
        lag(prometheus::BuildGauge()
                .Name("saga_bookings_view_lag_seconds")
                .Help("Age of the last message applied (from its commit in "
                      "the outbox to its commit here); 0 once caught up")
                .Register(registry)
                .Add({})),
        caught_up(prometheus::BuildGauge()
                      .Name("saga_bookings_view_caught_up")
                      .Help("1 while following the stream after catching up")
                      .Register(registry)
                      .Add({})) {}

  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Counter& applied;
  prometheus::Counter& duplicate;
  prometheus::Counter& stale;
  prometheus::Counter& other_type;
  prometheus::Gauge& lag;
  prometheus::Gauge& caught_up;
};

OutboxConsumer::OutboxConsumer(BookingStore* store, ConsumerOptions options,
                               prometheus::Registry& registry,
                               std::function<void(const std::string&)> on_fatal)
    : store_(store),
      options_(std::move(options)),
      metrics_(std::make_unique<Metrics>(registry)),
      on_fatal_(std::move(on_fatal)),
      stub_(v1::SagaOrchestrator::NewStub(
          OrchestratorChannel(options_.orchestrator))),
      thread_([this] { Run(); }) {}

OutboxConsumer::~OutboxConsumer() { Stop(); }

void OutboxConsumer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->TryCancel();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool OutboxConsumer::Pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, delay, [this] { return stopping_; });
}

void OutboxConsumer::Run() {
  std::chrono::milliseconds backoff = kFirstBackoff;
  bool follow = false;
  while (true) {
    switch (ReadStream(follow)) {
      case StreamEnd::kCaughtUp:
        follow = true;
        backoff = kFirstBackoff;
        continue;
      case StreamEnd::kRetry:
        follow = false;
        metrics_->caught_up.Set(0);
        if (!Pause(backoff)) return;
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      case StreamEnd::kFatal:
      case StreamEnd::kStopped:
        metrics_->caught_up.Set(0);
        return;
    }
  }
}

OutboxConsumer::StreamEnd OutboxConsumer::ReadStream(bool follow) {
  absl::StatusOr<int64_t> position = store_->Position();
  if (!position.ok()) {
    spdlog::warn("cannot read the view's position: {}",
                 position.status().ToString());
    return StreamEnd::kRetry;
  }
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  if (!options_.bearer_token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) return StreamEnd::kStopped;
    stream_ = &context;
  }
  v1::WatchEventsRequest request;
  request.set_from_position(*position);
  request.set_follow(follow);
  if (!follow) spdlog::info("catching up from position {}", *position);
  auto reader = stub_->WatchEvents(&context, request);
  Inbox inbox;
  std::thread reading([&] { ReadInto(*reader, inbox); });

  int64_t read = 0;
  std::optional<StreamEnd> failed;
  while (!failed) {
    std::vector<v1::OutboxEvent> events;
    {
      std::unique_lock lock(inbox.mu);
      inbox.changed.wait(lock,
                         [&] { return !inbox.events.empty() || inbox.done; });
      if (inbox.events.empty()) break;  // done, and everything applied
      while (!inbox.events.empty() && events.size() < kMaxBatch) {
        events.push_back(std::move(inbox.events.front()));
        inbox.events.pop_front();
      }
      inbox.changed.notify_all();
    }
    read += static_cast<int64_t>(events.size());
    failed = ApplyBatch(events);
  }
  if (failed) {
    {
      std::lock_guard lock(inbox.mu);
      inbox.abandoned = true;
      inbox.changed.notify_all();
    }
    context.TryCancel();
  }
  reading.join();
  grpc::Status status = inbox.status;
  {
    std::lock_guard lock(mu_);
    stream_ = nullptr;
    if (stopping_) return StreamEnd::kStopped;
  }
  if (failed) return *failed;
  if (status.ok()) {
    if (!follow) {
      spdlog::info("caught up: {} messages read; following new ones", read);
      metrics_->lag.Set(0);
      metrics_->caught_up.Set(1);
    }
    // A follow stream ends OK only when the orchestrator ends it: catch up
    // again from the recorded position.
    return follow ? StreamEnd::kRetry : StreamEnd::kCaughtUp;
  }
  if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
    on_fatal_("the view's position " + std::to_string(*position) +
              " is not in the orchestrator's outbox (OUT_OF_RANGE: " +
              status.error_message() +
              "); messages after it may have been pruned, so the view cannot "
              "catch up without missing updates. Restart with --rebuild to "
              "rebuild it from the start of the outbox.");
    return StreamEnd::kFatal;
  }
  spdlog::warn(
      "outbox stream ended: {} ({}); resuming from the recorded position",
      status.error_message(), static_cast<int>(status.error_code()));
  return StreamEnd::kRetry;
}

std::optional<OutboxConsumer::StreamEnd> OutboxConsumer::ApplyBatch(
    const std::vector<v1::OutboxEvent>& events) {
  std::vector<StreamEntry> entries;
  entries.reserve(events.size());
  for (const v1::OutboxEvent& event : events) {
    StreamEntry entry;
    entry.position = event.position();
    if (options_.saga_types.count(event.saga_type()) != 0) {
      ViewMessage message;
      message.message_id = event.message_id();
      message.saga_id = event.saga_id();
      message.saga_type = event.saga_type();
      message.type = event.type();
      message.payload_json = event.payload_json();
      message.at_ms = event.at_unix_ms();
      auto headed = ReadHeader(std::move(message), event.header_json());
      if (!headed.ok()) {
        on_fatal_("cannot read the message at position " +
                  std::to_string(event.position()) + ": " +
                  headed.status().ToString());
        return StreamEnd::kFatal;
      }
      entry.message = *std::move(headed);
    }
    entries.push_back(std::move(entry));
  }
  absl::StatusOr<BatchOutcome> outcome = store_->Apply(entries);
  if (!outcome.ok()) {
    if (outcome.status().code() == absl::StatusCode::kInvalidArgument) {
      on_fatal_("cannot apply the messages up to position " +
                std::to_string(events.back().position()) + ": " +
                outcome.status().ToString());
      return StreamEnd::kFatal;
    }
    spdlog::warn("{}; resuming from the recorded position",
                 outcome.status().ToString());
    return StreamEnd::kRetry;
  }
  metrics_->applied.Increment(outcome->applied);
  metrics_->duplicate.Increment(outcome->duplicate);
  metrics_->stale.Increment(outcome->stale);
  metrics_->other_type.Increment(outcome->skipped);
  if (outcome->stale > 0) {
    spdlog::warn("{} messages were older than their bookings", outcome->stale);
  }
  metrics_->lag.Set(
      std::max<double>(0, (NowMs() - events.back().recorded_unix_ms()) / 1e3));
  return std::nullopt;
}

}  // namespace saga::bookings
