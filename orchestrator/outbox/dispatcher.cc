#include "orchestrator/outbox/dispatcher.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace saga::outbox {

using std::chrono::milliseconds;

milliseconds DispatchBackoff(const DispatcherOptions& options, int failures) {
  milliseconds delay = options.initial_backoff;
  for (int i = 1; i < failures && delay < options.max_backoff; ++i) delay *= 2;
  return std::min(delay, options.max_backoff);
}

struct Dispatcher::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : dispatched(prometheus::BuildCounter()
                       .Name("saga_outbox_dispatched_total")
                       .Help("Outbox messages delivered to the sink and "
                             "marked DISPATCHED")
                       .Register(registry)
                       .Add({})),
        failures(prometheus::BuildCounter()
                     .Name("saga_outbox_delivery_failures_total")
                     .Help("Outbox deliveries the sink did not accept (each "
                           "is retried)")
                     .Register(registry)
                     .Add({})),
        leading(prometheus::BuildGauge()
                    .Name("saga_outbox_dispatcher_leading")
                    .Help("1 while this orchestrator is the database's "
                          "outbox dispatcher, 0 while it stands by")
                    .Register(registry)
                    .Add({})) {}

  prometheus::Counter& dispatched;
  prometheus::Counter& failures;
  prometheus::Gauge& leading;
};

class Dispatcher::Wakeup final : public CommitSignal::Listener {
 public:
  explicit Wakeup(std::shared_ptr<Signals> signals)
      : signals_(std::move(signals)) {}

  void OnCommit() override {
    {
      sync::MutexLock lock(&signals_->mu);
      signals_->committed = true;
    }
    signals_->changed.SignalAll();
  }

 private:
  const std::shared_ptr<Signals> signals_;
};

Dispatcher::Dispatcher(store::OutboxQueue* queue, Sink* sink,
                       CommitSignal* commits, DispatcherOptions options)
    : queue_(queue),
      sink_(sink),
      commits_(commits),
      options_(std::move(options)),
      metrics_(options_.metrics ? std::make_unique<Metrics>(*options_.metrics)
                                : nullptr) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Dispatcher::Stop() {
  {
    sync::MutexLock lock(&signals_->mu);
    signals_->stopping = true;
  }
  signals_->changed.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::Run() {
  int failures = 0;
  while (true) {
    {
      sync::MutexLock lock(&signals_->mu);
      if (signals_->stopping) return;
    }
    // Taken before reading, so a commit during the round is not missed.
    const uint64_t seen = commits_->Generation();
    bool idle = false;
    if (!Round(idle)) {
      ++failures;
      Wait(DispatchBackoff(options_, failures), /*on_commit=*/false, seen);
      continue;
    }
    failures = 0;
    // Commits matter only to the leader; a standby just tries again later.
    if (idle) Wait(options_.poll_interval, /*on_commit=*/leading_, seen);
  }
}

bool Dispatcher::Round(bool& idle) {
  idle = false;
  absl::StatusOr<bool> lead = queue_->Lead();
  const bool leading = lead.ok() && *lead;
  if (leading != leading_) {
    if (leading) {
      spdlog::info("outbox dispatcher: delivering to {}", sink_->Describe());
    } else {
      spdlog::info("outbox dispatcher: standing by ({})",
                   lead.ok() ? "another orchestrator dispatches"
                             : "lost the database session");
    }
    leading_ = leading;
    if (metrics_) metrics_->leading.Set(leading ? 1 : 0);
  }
  if (!lead.ok()) {
    spdlog::warn("outbox dispatcher: {}", lead.status().ToString());
    return false;
  }
  if (!leading) {
    idle = true;
    return true;
  }
  absl::StatusOr<std::vector<store::OutboxEntry>> pending =
      queue_->Pending(options_.batch_size);
  if (!pending.ok()) {
    spdlog::warn("outbox dispatcher: {}", pending.status().ToString());
    return false;
  }
  if (pending->empty()) {
    idle = true;
    return true;
  }
  const absl::Status delivered = sink_->Deliver(*pending);
  if (!delivered.ok()) {
    if (metrics_) metrics_->failures.Increment();
    spdlog::warn(
        "outbox dispatcher: delivering {} message(s) from position {} "
        "failed, will retry: {}",
        pending->size(), pending->front().position, delivered.ToString());
    return false;
  }
  std::vector<int64_t> positions;
  positions.reserve(pending->size());
  for (const auto& entry : *pending) positions.push_back(entry.position);
  const absl::Status marked = queue_->MarkDispatched(positions);
  if (!marked.ok()) {
    spdlog::warn(
        "outbox dispatcher: {} message(s) delivered but not marked "
        "DISPATCHED; they will be delivered again: {}",
        positions.size(), marked.ToString());
    return false;
  }
  if (metrics_)
    metrics_->dispatched.Increment(static_cast<double>(positions.size()));
  spdlog::debug("outbox dispatcher: delivered {} message(s), positions {}..{}",
                positions.size(), positions.front(), positions.back());
  return true;
}

void Dispatcher::Wait(milliseconds delay, bool on_commit, uint64_t seen) {
  Signals& signals = *signals_;
  {
    sync::MutexLock lock(&signals.mu);
    signals.committed = false;
  }
  std::shared_ptr<Wakeup> wakeup;
  if (on_commit) {
    wakeup = std::make_shared<Wakeup>(signals_);
    // May call OnCommit at once, which takes the lock.
    commits_->NotifyOnce(seen, wakeup);
  }
  const auto deadline = std::chrono::steady_clock::now() + delay;
  sync::MutexLock lock(&signals.mu);
  while (!signals.stopping && !(on_commit && signals.committed)) {
    if (!signals.changed.WaitUntil(&signals.mu, deadline)) return;
  }
}

}  // namespace saga::outbox
