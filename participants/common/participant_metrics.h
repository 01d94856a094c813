// A participant's Prometheus metrics (README "Metrics" lists each one):
// requests by rpc (execute, compensate), action and outcome, their
// latency, and the answers replayed from the idempotency record. Fills a
// registry; participant_main serves it with --metrics-listen.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace saga::participants {

class ParticipantMetrics {
 public:
  explicit ParticipantMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~ParticipantMetrics();
  ParticipantMetrics(const ParticipantMetrics&) = delete;
  ParticipantMetrics& operator=(const ParticipantMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // One request answered. `outcome`: succeeded, business_failure,
  // retryable_failure, or the lower-case gRPC code it failed with (e.g.
  // unavailable). `replayed`: the answer came from the idempotency record.
  void RequestFinished(const std::string& rpc, const std::string& action,
                       const std::string& outcome, bool replayed,
                       double seconds);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& replays_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

}  // namespace saga::participants
