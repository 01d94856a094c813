#include "orchestrator/engine/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "orchestrator/core/state.h"

namespace saga::engine {
namespace {

// Participant calls: from a few milliseconds to the longest step timeouts.
const prometheus::Histogram::BucketBoundaries kCallBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// Commits with fsync: from a fraction of a millisecond up.
const prometheus::Histogram::BucketBoundaries kCommitBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
// Group sizes up to the store's largest group (256 by default).
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

const char* OutcomeLabel(core::CallOutcome outcome) {
  switch (outcome) {
    case core::CallOutcome::kSucceeded:
      return "succeeded";
    case core::CallOutcome::kBusinessFailure:
      return "business_failure";
    case core::CallOutcome::kRetryableFailure:
      return "retryable_failure";
    case core::CallOutcome::kNotApplied:
      return "not_applied";
    case core::CallOutcome::kUnknown:
      return "unknown";
    case core::CallOutcome::kAccepted:
      return "accepted";
  }
  return "unknown";
}

const char* CallLabel(bool compensation) {
  return compensation ? "compensate" : "execute";
}

std::string StepName(const core::SagaDefinition& definition, int step) {
  return step >= 0 && step < static_cast<int>(definition.steps.size())
             ? definition.steps[step].name
             : "";
}

}  // namespace

OrchestratorMetrics::OrchestratorMetrics(
    std::shared_ptr<prometheus::Registry> registry,
    const std::vector<std::string>& participants)
    : registry_(std::move(registry)),
      sagas_started_(prometheus::BuildCounter()
                         .Name("saga_sagas_started_total")
                         .Help("Sagas started (committed), by type")
                         .Register(*registry_)),
      sagas_ended_(prometheus::BuildCounter()
                       .Name("saga_sagas_ended_total")
                       .Help("Sagas that reached a terminal status, by type "
                             "and status")
                       .Register(*registry_)),
      sagas_in_flight_(prometheus::BuildGauge()
                           .Name("saga_sagas_in_flight")
                           .Help("Unfinished sagas this instance drives, by "
                                 "type")
                           .Register(*registry_)),
      step_attempts_(prometheus::BuildCounter()
                         .Name("saga_step_attempts_total")
                         .Help("Participant calls decided (StepStarted and "
                               "CompensationStepStarted), by type, step and "
                               "call")
                         .Register(*registry_)),
      step_retries_(prometheus::BuildCounter()
                        .Name("saga_step_retries_total")
                        .Help("Attempts after the first, by type, step and "
                              "call")
                        .Register(*registry_)),
      step_duration_(prometheus::BuildHistogram()
                         .Name("saga_step_duration_seconds")
                         .Help("Participant call latency, by type, step, "
                               "call and outcome")
                         .Register(*registry_)),
      compensations_(prometheus::BuildCounter()
                         .Name("saga_compensations_total")
                         .Help("Sagas that began rolling back, by type")
                         .Register(*registry_)),
      call_errors_(prometheus::BuildCounter()
                       .Name("saga_participant_call_errors_total")
                       .Help("Participant calls that failed with a gRPC "
                             "status, by participant and code")
                       .Register(*registry_)),
      circuit_state_(prometheus::BuildGauge()
                         .Name("saga_participant_circuit_state")
                         .Help("Circuit breaker per participant: 0 closed, "
                               "1 open, 2 half-open")
                         .Register(*registry_)),
      circuit_opened_(prometheus::BuildCounter()
                          .Name("saga_participant_circuit_opened_total")
                          .Help("Times a participant's circuit opened, by "
                                "participant and reason (failure_rate or "
                                "slow_call_rate)")
                          .Register(*registry_)),
      calls_queued_(prometheus::BuildGauge()
                        .Name("saga_participant_calls_queued")
                        .Help("Participant calls parked in the engine: the "
                              "circuit is open or the in-flight bound is "
                              "reached")
                        .Register(*registry_)),
      starts_refused_(prometheus::BuildCounter()
                          .Name("saga_starts_refused_total")
                          .Help("StartSaga calls answered RESOURCE_EXHAUSTED "
                                "because the backlog bound was reached")
                          .Register(*registry_)
                          .Add({})),
      deadlines_passed_(prometheus::BuildCounter()
                            .Name("saga_deadlines_passed_total")
                            .Help("Sagas whose deadline passed while they ran, "
                                  "by type and whether they rolled back "
                                  "(false: past the pivot, nothing undone)")
                            .Register(*registry_)),
      signals_received_(prometheus::BuildCounter()
                            .Name("saga_signals_received_total")
                            .Help("Signals recorded (SignalSaga), by saga "
                                  "type and signal name")
                            .Register(*registry_)),
      commit_duration_(prometheus::BuildHistogram()
                           .Name("saga_store_commit_duration_seconds")
                           .Help("Duration of each store transaction that "
                                 "commits a group of writes")
                           .Register(*registry_)
                           .Add({}, kCommitBuckets)),
      commit_batches_(prometheus::BuildHistogram()
                          .Name("saga_store_commit_batch_size")
                          .Help("Saga writes (batches) per store commit")
                          .Register(*registry_)
                          .Add({}, kBatchBuckets)),
      participant_paused_(prometheus::BuildGauge()
                              .Name("saga_participant_paused")
                              .Help("1 while an operator has paused the "
                                    "participant (no call is sent to it), "
                                    "else 0")
                              .Register(*registry_)) {
  for (const std::string& participant : participants) {
    SetCircuitState(participant, CircuitState::kClosed);
    SetCallsQueued(participant, 0);
    SetParticipantPaused(participant, false);
  }
}

OrchestratorMetrics::~OrchestratorMetrics() = default;

void OrchestratorMetrics::RecordCommitted(
    const core::SagaDefinition& definition,
    const std::vector<core::Event>& events) {
  const std::string& type = definition.name;
  for (const core::Event& event : events) {
    switch (event.type) {
      case core::EventType::kSagaStarted:
        sagas_started_.Add({{"saga_type", type}}).Increment();
        break;
      case core::EventType::kSagaCompleted:
      case core::EventType::kSagaCompensated:
      case core::EventType::kSagaFailed: {
        const core::SagaStatus status =
            event.type == core::EventType::kSagaCompleted
                ? core::SagaStatus::kCompleted
            : event.type == core::EventType::kSagaCompensated
                ? core::SagaStatus::kCompensated
                : core::SagaStatus::kFailed;
        sagas_ended_
            .Add(
                {{"saga_type", type}, {"status", core::SagaStatusName(status)}})
            .Increment();
        break;
      }
      case core::EventType::kCompensationStarted:
        compensations_.Add({{"saga_type", type}}).Increment();
        break;
      case core::EventType::kDeadlinePassed: {
        // The same decision records the rollback, if there is one.
        bool rolled_back = false;
        for (const core::Event& later : events) {
          rolled_back |= later.type == core::EventType::kCompensationStarted;
        }
        deadlines_passed_
            .Add({{"saga_type", type},
                  {"rolled_back", rolled_back ? "true" : "false"}})
            .Increment();
        break;
      }
      case core::EventType::kSignalReceived:
        signals_received_
            .Add({{"saga_type", type}, {"signal", event.signal_name}})
            .Increment();
        break;
      case core::EventType::kStepStarted:
      case core::EventType::kCompensationStepStarted: {
        // Wait and delay steps make no call.
        if (!core::RulesFor(definition.steps[event.step].kind)
                 .calls_participant) {
          break;
        }
        const prometheus::Labels labels = {
            {"saga_type", type},
            {"step", StepName(definition, event.step)},
            {"call", CallLabel(event.type ==
                               core::EventType::kCompensationStepStarted)}};
        step_attempts_.Add(labels).Increment();
        if (event.attempt > 1) step_retries_.Add(labels).Increment();
        break;
      }
      default:
        break;
    }
  }
}

void OrchestratorMetrics::SagaDriven(const std::string& saga_type) {
  sagas_in_flight_.Add({{"saga_type", saga_type}}).Increment();
}

void OrchestratorMetrics::SagaDropped(const std::string& saga_type) {
  sagas_in_flight_.Add({{"saga_type", saga_type}}).Decrement();
}

void OrchestratorMetrics::CallFinished(
    const std::string& saga_type, const std::string& step,
    const std::string& participant, bool compensation,
    core::CallOutcome outcome, const std::string& grpc_code, double seconds) {
  step_duration_
      .Add({{"saga_type", saga_type},
            {"step", step},
            {"call", CallLabel(compensation)},
            {"outcome", OutcomeLabel(outcome)}},
           kCallBuckets)
      .Observe(seconds);
  if (!grpc_code.empty()) {
    call_errors_.Add({{"participant", participant}, {"code", grpc_code}})
        .Increment();
  }
}

void OrchestratorMetrics::SetCircuitState(const std::string& participant,
                                          CircuitState state) {
  circuit_state_.Add({{"participant", participant}})
      .Set(static_cast<double>(state));
}

void OrchestratorMetrics::CircuitOpened(const std::string& participant,
                                        const std::string& reason) {
  circuit_opened_.Add({{"participant", participant}, {"reason", reason}})
      .Increment();
}

void OrchestratorMetrics::SetCallsQueued(const std::string& participant,
                                         size_t calls) {
  calls_queued_.Add({{"participant", participant}})
      .Set(static_cast<double>(calls));
}

void OrchestratorMetrics::SetParticipantPaused(const std::string& participant,
                                               bool paused) {
  participant_paused_.Add({{"participant", participant}}).Set(paused ? 1 : 0);
}

void OrchestratorMetrics::StartRefused() { starts_refused_.Increment(); }

void OrchestratorMetrics::StoreCommitted(size_t batches, double seconds) {
  commit_duration_.Observe(seconds);
  commit_batches_.Observe(static_cast<double>(batches));
}

}  // namespace saga::engine
