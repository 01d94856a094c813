// The orchestrator's Prometheus metrics (README "Metrics" lists each one).
// The engine, the store's group commit and the API record through this
// object; it only fills a registry, so it works without an HTTP endpoint
// (the engine tests read the registry directly) and main serves the same
// registry with --metrics-listen.
//
// Label values: saga_type and step are names from the definitions, status
// is the API's saga status (COMPLETED, ...), call is execute or compensate,
// outcome is succeeded, business_failure, retryable_failure or unknown, and
// code is a gRPC status code name (UNAVAILABLE, ...).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"
#include "orchestrator/engine/circuit_breaker.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace saga::engine {

class OrchestratorMetrics {
 public:
  // Registers the metric families in `registry`. `participants` start with
  // their circuit closed.
  OrchestratorMetrics(std::shared_ptr<prometheus::Registry> registry,
                      const std::vector<std::string>& participants);
  ~OrchestratorMetrics();
  OrchestratorMetrics(const OrchestratorMetrics&) = delete;
  OrchestratorMetrics& operator=(const OrchestratorMetrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const {
    return registry_;
  }

  // Counts what committed events say: sagas started and ended, attempts and
  // retries, compensations begun, deadlines passed, signals received.
  void RecordCommitted(const core::SagaDefinition& definition,
                       const std::vector<core::Event>& events);

  // Sagas this instance drives right now, by type.
  void SagaDriven(const std::string& saga_type);
  void SagaDropped(const std::string& saga_type);

  // One participant call's answer (or failure) and how long it took.
  // `grpc_code` is the gRPC status name when the call failed at the
  // transport or server level, empty when the participant answered.
  void CallFinished(const std::string& saga_type, const std::string& step,
                    const std::string& participant, bool compensation,
                    core::CallOutcome outcome, const std::string& grpc_code,
                    double seconds);

  // The state of `participant`'s circuit breaker.
  void SetCircuitState(const std::string& participant, CircuitState state);
  // `participant`'s circuit opened; `reason` is failure_rate or
  // slow_call_rate.
  void CircuitOpened(const std::string& participant, const std::string& reason);
  // Calls to `participant` waiting in the engine (circuit open or in-flight
  // bound reached).
  void SetCallsQueued(const std::string& participant, size_t calls);
  // Whether an operator paused `participant` (saga_participant_paused, 1
  // while paused).
  void SetParticipantPaused(const std::string& participant, bool paused);
  // A StartSaga refused because the backlog bound was reached.
  void StartRefused();

  // One group commit of the store: how many batches it carried and how long
  // the transaction took.
  void StoreCommitted(size_t batches, double seconds);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& sagas_started_;
  prometheus::Family<prometheus::Counter>& sagas_ended_;
  prometheus::Family<prometheus::Gauge>& sagas_in_flight_;
  prometheus::Family<prometheus::Counter>& step_attempts_;
  prometheus::Family<prometheus::Counter>& step_retries_;
  prometheus::Family<prometheus::Histogram>& step_duration_;
  prometheus::Family<prometheus::Counter>& compensations_;
  prometheus::Family<prometheus::Counter>& call_errors_;
  prometheus::Family<prometheus::Gauge>& circuit_state_;
  prometheus::Family<prometheus::Counter>& circuit_opened_;
  prometheus::Family<prometheus::Gauge>& calls_queued_;
  prometheus::Counter& starts_refused_;
  prometheus::Family<prometheus::Counter>& deadlines_passed_;
  prometheus::Family<prometheus::Counter>& signals_received_;
  prometheus::Histogram& commit_duration_;
  prometheus::Histogram& commit_batches_;
  prometheus::Family<prometheus::Gauge>& participant_paused_;
};

}  // namespace saga::engine
