// The writes to a running saga: CancelSaga, SignalSaga and the repairs
// (RetrySaga, SkipStep, MarkCompensated). Each answers with the saga as it
// stands after the engine committed the change.
#include <spdlog/spdlog.h>

#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/core/input.h"

namespace saga::api {

grpc::ServerUnaryReactor* OrchestratorService::CancelSaga(
    grpc::CallbackServerContext* context, const v1::CancelSagaRequest* request,
    v1::CancelSagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "CancelSaga")) return reactor;
  if (auto valid = FirstError(
          {CheckSagaId("saga_id", request->saga_id()),
           CheckText("reason", request->reason(), kMaxReasonLength)});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  const std::string reason = request->reason().empty()
                                 ? "cancelled through the API"
                                 : request->reason();
  // The engine logs the recorded CancelRequested with the saga's fields.
  spdlog::debug("cancel requested for saga {}: {}", request->saga_id(), reason);
  engine_->CancelSaga(
      request->saga_id(), reason,
      [this, reactor, request, response](absl::Status cancelled) {
        reads_->Post([this, reactor, request, response, cancelled] {
          auto saga = LoadSaga(request->saga_id());
          if (!saga.ok()) {
            reactor->Finish(ToGrpcStatus(saga.status()));
            return;
          }
          if (cancelled.code() == absl::StatusCode::kNotFound) {
            // Recorded but not running here: it has ended.
            reactor->Finish(
                grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             "saga already ended as " +
                                 v1::SagaStatus_Name(saga->status())
                                     .substr(sizeof("SAGA_STATUS_") - 1)));
            return;
          }
          if (!cancelled.ok()) {
            reactor->Finish(ToGrpcStatus(cancelled));
            return;
          }
          *response->mutable_saga() = std::move(*saga);
          reactor->Finish(grpc::Status::OK);
        });
      });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::SignalSaga(
    grpc::CallbackServerContext* context, const v1::SignalSagaRequest* request,
    v1::SignalSagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "SignalSaga");
  if (!caller) return reactor;
  const std::string payload_text =
      request->payload_json().empty() ? "{}" : request->payload_json();
  absl::StatusOr<std::string> payload = core::ValidateJsonObject(
      "payload_json", payload_text, options_.max_json_bytes);
  if (auto valid =
          FirstError({CheckSagaId("saga_id", request->saga_id()),
                      CheckText("name", request->name(), kMaxNameLength,
                                /*required=*/true),
                      CheckText("idempotency_key", request->idempotency_key(),
                                kMaxNameLength, /*required=*/true),
                      payload.status()});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  core::Signal signal;
  signal.kind = core::Signal::Kind::kSagaSignal;
  signal.signal_name = request->name();
  signal.signal_key = request->idempotency_key();
  signal.output_json = *std::move(payload);
  reads_->Post([this, context, reactor, response, caller = *caller,
                saga_id = request->saga_id(), signal = std::move(signal)] {
    // Whether the caller may signal it is decided before anything is
    // written: a submitter's own sagas only.
    if (auto visible = LoadSaga(*context, caller, "SignalSaga", saga_id);
        !visible.ok()) {
      reactor->Finish(ToGrpcStatus(visible.status()));
      return;
    }
    engine_->Operate(
        saga_id, signal, "",
        [this, reactor, response, saga_id](absl::Status delivered) {
          if (!delivered.ok()) {
            reactor->Finish(ToGrpcStatus(delivered));
            return;
          }
          reads_->Post([this, reactor, response, saga_id] {
            auto saga = LoadSaga(saga_id);
            if (saga.ok()) *response->mutable_saga() = std::move(*saga);
            reactor->Finish(ToGrpcStatus(saga.status()));
          });
        });
  });
  return reactor;
}

void OrchestratorService::Repair(
    grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
    const Caller& caller, const std::string& saga_id, core::Signal::Kind kind,
    const std::string& step, const v1::Operator& by, v1::Saga* saga_out) {
  if (auto valid = FirstError(
          {CheckSagaId("saga_id", saga_id),
           CheckText("operator.reason", by.reason(), kMaxReasonLength,
                     /*required=*/true),
           CheckText("operator.name", by.name(), kMaxNameLength)});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return;
  }
  core::Signal signal;
  signal.kind = kind;
  signal.error = by.reason();
  signal.operator_name = OperatorName(caller, by.name(), context->peer());
  engine_->Operate(saga_id, std::move(signal), step,
                   [this, reactor, saga_id, saga_out](absl::Status repaired) {
                     if (!repaired.ok()) {
                       reactor->Finish(ToGrpcStatus(repaired));
                       return;
                     }
                     reads_->Post([this, reactor, saga_id, saga_out] {
                       auto saga = LoadSaga(saga_id);
                       if (saga.ok()) *saga_out = std::move(*saga);
                       reactor->Finish(ToGrpcStatus(saga.status()));
                     });
                   });
}

grpc::ServerUnaryReactor* OrchestratorService::RetrySaga(
    grpc::CallbackServerContext* context, const v1::RetrySagaRequest* request,
    v1::RetrySagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "RetrySaga");
  if (!caller) return reactor;
  Repair(context, reactor, *caller, request->saga_id(),
         core::Signal::Kind::kOperatorRetry, "", request->operator_(),
         response->mutable_saga());
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::SkipStep(
    grpc::CallbackServerContext* context, const v1::SkipStepRequest* request,
    v1::SkipStepResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "SkipStep");
  if (!caller) return reactor;
  if (auto valid = CheckText("step", request->step(), kMaxNameLength,
                             /*required=*/true);
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  Repair(context, reactor, *caller, request->saga_id(),
         core::Signal::Kind::kOperatorSkipStep, request->step(),
         request->operator_(), response->mutable_saga());
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::MarkCompensated(
    grpc::CallbackServerContext* context,
    const v1::MarkCompensatedRequest* request,
    v1::MarkCompensatedResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "MarkCompensated");
  if (!caller) return reactor;
  Repair(context, reactor, *caller, request->saga_id(),
         core::Signal::Kind::kOperatorMarkCompensated, "", request->operator_(),
         response->mutable_saga());
  return reactor;
}

}  // namespace saga::api
