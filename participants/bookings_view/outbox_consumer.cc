#include "participants/bookings_view/outbox_consumer.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>

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
  if (!follow) {
    spdlog::info("catching up from position {}", *position);
  }
  auto reader = stub_->WatchEvents(&context, request);
  v1::OutboxEvent event;
  int64_t read = 0;
  StreamEnd end = StreamEnd::kRetry;
  bool failed = false;
  while (!failed && reader->Read(&event)) {
    ++read;
    if (options_.saga_types.count(event.saga_type()) == 0) {
      absl::Status skipped = store_->Skip(event.position());
      if (!skipped.ok()) {
        spdlog::warn("{}", skipped.ToString());
        failed = true;
        break;
      }
      metrics_->other_type.Increment();
      continue;
    }
    ViewMessage message;
    message.message_id = event.message_id();
    message.saga_id = event.saga_id();
    message.saga_type = event.saga_type();
    message.type = event.type();
    message.payload_json = event.payload_json();
    message.at_ms = event.at_unix_ms();
    auto headed = ReadHeader(std::move(message), event.header_json());
    absl::StatusOr<ApplyOutcome> outcome =
        headed.ok() ? store_->Apply(*headed, event.position())
                    : absl::StatusOr<ApplyOutcome>(headed.status());
    if (!outcome.ok()) {
      if (outcome.status().code() == absl::StatusCode::kInvalidArgument) {
        end = StreamEnd::kFatal;
        on_fatal_("cannot apply the message at position " +
                  std::to_string(event.position()) + ": " +
                  outcome.status().ToString());
      } else {
        spdlog::warn("{}; resuming from the recorded position",
                     outcome.status().ToString());
      }
      failed = true;
      break;
    }
    switch (*outcome) {
      case ApplyOutcome::kApplied:
        metrics_->applied.Increment();
        metrics_->lag.Set(
            std::max<double>(0, (NowMs() - event.recorded_unix_ms()) / 1e3));
        break;
      case ApplyOutcome::kDuplicate:
        metrics_->duplicate.Increment();
        break;
      case ApplyOutcome::kStale:
        spdlog::warn("message {} is older than booking {} already reflects",
                     event.message_id(), event.saga_id());
        metrics_->stale.Increment();
        break;
    }
  }
  if (failed) context.TryCancel();
  grpc::Status status = reader->Finish();
  {
    std::lock_guard lock(mu_);
    stream_ = nullptr;
    if (stopping_) return StreamEnd::kStopped;
  }
  if (failed) return end;
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
      "outbox stream ended: {} ({}); resuming from the recorded "
      "position",
      status.error_message(), static_cast<int>(status.error_code()));
  return StreamEnd::kRetry;
}

}  // namespace saga::bookings
