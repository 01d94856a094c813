// The engine's admission of participant calls: one CallGate per participant
// (its circuit breaker, in-flight bound and FIFO queue, see call_gate.h),
// driven by the engine thread's clock and timers. Operators see each
// circuit: a log line on every transition, the saga_participant_circuit_state
// gauge, and saga_participant_calls_queued for the calls parked in front of
// it.
//
// Thread-safety: every method REQUIRES the engine thread (the io_context's
// only thread).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "orchestrator/engine/call_gate.h"
#include "orchestrator/engine/metrics.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace saga::engine {

class ParticipantGates {
 public:
  // `metrics` is not owned and must outlive this object.
  ParticipantGates(boost::asio::io_context& io, CallGateOptions options,
                   OrchestratorMetrics* metrics);
  ~ParticipantGates();
  ParticipantGates(const ParticipantGates&) = delete;
  ParticipantGates& operator=(const ParticipantGates&) = delete;

  // Sends `call` to `participant` now if its gate lets it, else parks it.
  // Returns false when parked.
  bool Submit(const std::string& participant, CallGate::Call call);

  // A call sent with `permit` ended (see CallGate::Finished).
  void Finished(const std::string& participant, CircuitBreaker::Permit permit,
                bool breaker_failure);

 private:
  struct Gate;
  Gate& Get(const std::string& participant);
  // Re-arms the probe timer and updates the queue gauge after a change.
  void Changed(const std::string& participant, Gate& gate);

  boost::asio::io_context& io_;
  CallGateOptions options_;
  OrchestratorMetrics* metrics_;
  std::map<std::string, std::unique_ptr<Gate>> gates_;
};

}  // namespace saga::engine
