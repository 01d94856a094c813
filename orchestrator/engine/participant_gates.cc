#include "orchestrator/engine/participant_gates.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <chrono>

#include "observability/logging.h"
#include "orchestrator/engine/participant_client.h"

namespace saga::engine {

namespace {

// The gates' clock: steady, so cool-downs and call durations survive
// wall-clock jumps.
int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CallGateOptions ParticipantGatesOptions::For(
    const std::string& participant) const {
  auto own = breakers.find(participant);
  return {own == breakers.end() ? breaker : own->second, max_in_flight};
}

struct ParticipantGates::Gate {
  Gate(boost::asio::io_context& io, CallGateOptions options,
       CircuitBreaker::OnTransition on_transition)
      : calls(options, std::move(on_transition)), trial_timer(io) {}

  CallGate calls;
  boost::asio::steady_timer trial_timer;
  int64_t trial_timer_due_ms = -1;  // -1: not armed
};

ParticipantGates::ParticipantGates(boost::asio::io_context& io,
                                   ParticipantGatesOptions options,
                                   OrchestratorMetrics* metrics)
    : io_(io), options_(std::move(options)), metrics_(metrics) {}

ParticipantGates::~ParticipantGates() = default;

CallEnd ParticipantGates::EndOf(const CallResult& call) {
  return {call.outcome == core::CallOutcome::kUnknown ||
              call.outcome == core::CallOutcome::kRetryableFailure ||
              call.outcome == core::CallOutcome::kNotApplied,
          call.grpc_code == "DEADLINE_EXCEEDED"};
}

ParticipantGates::Gate& ParticipantGates::Get(const std::string& participant) {
  auto& gate = gates_[participant];
  if (!gate) {
    // Gates live as long as this object, so the callback may keep `this`.
    gate = std::make_unique<Gate>(
        io_, options_.For(participant),
        [this, participant](const CircuitBreaker::Transition& change) {
          if (change.to == CircuitState::kOpen) {
            metrics_->CircuitOpened(participant, change.reason);
          }
          metrics_->SetCircuitState(participant, change.to);
          observability::Log(change.to == CircuitState::kOpen
                                 ? spdlog::level::warn
                                 : spdlog::level::info,
                             "participant circuit",
                             {{"participant", participant},
                              {"from", CircuitStateName(change.from)},
                              {"to", CircuitStateName(change.to)},
                              {"reason", change.reason},
                              {"calls", change.counts.calls},
                              {"failures", change.counts.failures},
                              {"slow_calls", change.counts.slow}});
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
                                CircuitBreaker::Permit permit, CallEnd end) {
  Gate& gate = Get(participant);
  gate.calls.Finished(permit, end, SteadyNowMs());
  Changed(participant, gate);
}

void ParticipantGates::SetPaused(const std::string& participant, bool paused) {
  Gate& gate = Get(participant);
  gate.calls.SetPaused(paused, SteadyNowMs());
  metrics_->SetParticipantPaused(participant, paused);
  Changed(participant, gate);
}

ParticipantGates::View ParticipantGates::ViewOf(
    const std::string& participant) {
  Gate& gate = Get(participant);
  return {gate.calls.state(), gate.calls.in_flight(), gate.calls.queued(),
          gate.calls.LastMinute(SteadyNowMs()), gate.calls.paused()};
}

void ParticipantGates::Changed(const std::string& participant, Gate& gate) {
  metrics_->SetCallsQueued(participant, gate.calls.queued());
  const auto due = gate.calls.WakeAtMs();
  if (!due || *due == gate.trial_timer_due_ms) return;
  gate.trial_timer_due_ms = *due;
  // Re-arming cancels an earlier wait, whose handler then does nothing.
  gate.trial_timer.expires_at(
      std::chrono::steady_clock::time_point(std::chrono::milliseconds(*due)));
  gate.trial_timer.async_wait(
      [this, participant, &gate](const boost::system::error_code& error) {
        if (error) return;
        gate.trial_timer_due_ms = -1;
        gate.calls.Pump(SteadyNowMs());
        Changed(participant, gate);
      });
}

}  // namespace saga::engine
