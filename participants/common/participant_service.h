// The gRPC face of a participant: saga.v1.Participant over an
// IdempotentRunner, plus fault injection, deadline checks, metrics and one
// log line per call carrying the caller's W3C trace id and span id (from
// the traceparent metadata). Kept apart from process wiring
// (participant_main.h) so tests can host it in-process.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "participants/common/action.h"
#include "participants/common/fault_injection.h"
#include "participants/common/idempotent_runner.h"
#include "participants/common/participant_metrics.h"
#include "saga/v1/participant.grpc.pb.h"

namespace saga::participants {

class ParticipantService final : public saga::v1::Participant::Service {
 public:
  // `runner`, `faults`, `actions` (the runner's registry: metrics label
  // only the actions it knows, so callers cannot grow the label set) and
  // `metrics` must outlive the service.
  ParticipantService(IdempotentRunner* runner, const FaultInjector* faults,
                     const ActionRegistry* actions,
                     ParticipantMetrics* metrics);

  // Order of checks: refuse-all fault (UNAVAILABLE), a deadline that already
  // passed (DEADLINE_EXCEEDED, nothing done), then the runner, which honours
  // the deadline (the earlier of the gRPC deadline and the request's
  // deadline_unix_ms) up to the commit: past it the call rolls back and
  // answers DEADLINE_EXCEEDED, nothing applied and the key still unused.
  // The runner also injects failures (RETRYABLE_FAILURE "injected failure")
  // and latency (inside the action's transaction) for keys not yet applied.
  // Database unreachable -> UNAVAILABLE.
  grpc::Status Execute(grpc::ServerContext* context,
                       const saga::v1::StepRequest* request,
                       saga::v1::StepResult* response) override;
  grpc::Status Compensate(grpc::ServerContext* context,
                          const saga::v1::StepRequest* request,
                          saga::v1::StepResult* response) override;

 private:
  enum class Kind { kExecute, kCompensate };

  grpc::Status Handle(Kind kind, grpc::ServerContext* context,
                      const saga::v1::StepRequest& request,
                      saga::v1::StepResult* response);

  IdempotentRunner* runner_;
  const FaultInjector* faults_;
  const ActionRegistry* actions_;
  ParticipantMetrics* metrics_;
};

}  // namespace saga::participants
