// The engine's admission of participant calls: one CallGate per participant
// (its circuit breaker, in-flight bound and priority queue, see
// call_gate.h), driven by the engine thread's clock and timers. Operators
// see each circuit: a log line on every transition (with the reason and the
// counts it was based on), the saga_participant_circuit_state gauge,
// saga_participant_circuit_opened_total, and saga_participant_calls_queued
// for the calls parked in front of it. An operator's pause (SetPaused)
// parks every call in the gate as an open circuit does, and shows as
// saga_participant_paused.
//
// Thread-safety: every method REQUIRES the engine thread (the io_context's
// only thread), except EndOf.
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

struct CallResult;

struct ParticipantGatesOptions {
  // Calls in flight at once to each participant; 0: no bound.
  int max_in_flight = 256;
  // The circuit breaker of every participant not in `breakers`.
  CircuitBreakerOptions breaker;
  // Participant name -> its own circuit breaker settings.
  std::map<std::string, CircuitBreakerOptions> breakers;

  // The gate options of `participant`.
  CallGateOptions For(const std::string& participant) const;
};

class ParticipantGates {
 public:
  // `metrics` is not owned and must outlive this object.
  ParticipantGates(boost::asio::io_context& io, ParticipantGatesOptions options,
                   OrchestratorMetrics* metrics);
  ~ParticipantGates();
  ParticipantGates(const ParticipantGates&) = delete;
  ParticipantGates& operator=(const ParticipantGates&) = delete;

  // What a finished call tells the breaker: a failure when the participant
  // gave no answer (retryable failure, transport error, timeout; a business
  // failure is an answer), timed out when its deadline passed. Any thread.
  static CallEnd EndOf(const CallResult& call);

  // Sends `call` to `participant` now if its gate lets it, else parks it.
  // Returns false when parked.
  bool Submit(const std::string& participant, CallGate::Call call);

  // A call sent with `permit` ended now (see CallGate::Finished).
  void Finished(const std::string& participant, CircuitBreaker::Permit permit,
                CallEnd end);

  // Pauses or resumes the calls to `participant` (CallGate::SetPaused); a
  // resume sends the parked calls that may go at once.
  void SetPaused(const std::string& participant, bool paused);

  // `participant`'s gate as it stands, for operators.
  struct View {
    CircuitState circuit = CircuitState::kClosed;
    int in_flight = 0;
    size_t parked = 0;
    CallCounts last_minute;  // calls that ended in the last minute
    bool paused = false;
  };
  View ViewOf(const std::string& participant);

 private:
  struct Gate;
  Gate& Get(const std::string& participant);
  // Re-arms the trial timer and updates the queue gauge after a change.
  void Changed(const std::string& participant, Gate& gate);

  boost::asio::io_context& io_;
  ParticipantGatesOptions options_;
  OrchestratorMetrics* metrics_;
  std::map<std::string, std::unique_ptr<Gate>> gates_;
};

}  // namespace saga::engine
