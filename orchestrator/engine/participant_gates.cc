#include "orchestrator/engine/participant_gates.h"

// Boost 1.74 Asio needs <utility> first under C++20 (see TOOLCHAIN.md).
#include <utility>
//
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>

#include "observability/logging.h"

namespace saga::engine {

namespace {

// The gates' clock: steady, so cool-downs survive wall-clock jumps.
int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct ParticipantGates::Gate {
  Gate(boost::asio::io_context& io, CallGateOptions options,
       CircuitBreaker::OnTransition on_transition)
      : calls(options, std::move(on_transition)), probe_timer(io) {}

  CallGate calls;
  boost::asio::steady_timer probe_timer;
  int64_t probe_timer_due_ms = -1;  // -1: not armed
};

ParticipantGates::ParticipantGates(boost::asio::io_context& io,
                                   CallGateOptions options,
                                   OrchestratorMetrics* metrics)
    : io_(io), options_(options), metrics_(metrics) {}

ParticipantGates::~ParticipantGates() = default;

ParticipantGates::Gate& ParticipantGates::Get(const std::string& participant) {
  auto& gate = gates_[participant];
  if (!gate) {
    // Gates live as long as this object, so the callback may keep `this`.
    gate = std::make_unique<Gate>(
        io_, options_,
        [this, participant](CircuitState from, CircuitState to, int64_t) {
          metrics_->SetCircuitState(participant, to);
          observability::Log(to == CircuitState::kOpen ? spdlog::level::warn
                                                       : spdlog::level::info,
                             "participant circuit",
                             {{"participant", participant},
                              {"from", CircuitStateName(from)},
                              {"to", CircuitStateName(to)}});
        });
  }
  return *gate;
}

bool ParticipantGates::Submit(const std::string& participant,
                              CallGate::Call call) {
  Gate& gate = Get(participant);
  const bool sent = gate.calls.Submit(std::move(call), SteadyNowMs());
  Changed(participant, gate);
  return sent;
}

void ParticipantGates::Finished(const std::string& participant,
                                CircuitBreaker::Permit permit,
                                bool breaker_failure) {
  Gate& gate = Get(participant);
  gate.calls.Finished(permit, breaker_failure, SteadyNowMs());
  Changed(participant, gate);
}

void ParticipantGates::Changed(const std::string& participant, Gate& gate) {
  metrics_->SetCallsQueued(participant, gate.calls.queued());
  const auto due = gate.calls.WakeAtMs();
  if (!due || *due == gate.probe_timer_due_ms) return;
  gate.probe_timer_due_ms = *due;
  // Re-arming cancels an earlier wait, whose handler then does nothing.
  gate.probe_timer.expires_at(
      std::chrono::steady_clock::time_point(std::chrono::milliseconds(*due)));
  gate.probe_timer.async_wait(
      [this, participant, &gate](const boost::system::error_code& error) {
        if (error) return;
        gate.probe_timer_due_ms = -1;
        gate.calls.Pump(SteadyNowMs());
        Changed(participant, gate);
      });
}

}  // namespace saga::engine
