// RerunSaga: a new saga of an ended saga's type, from its input or an
// edited one, linked to it both ways (the new saga's rerun_of; the old
// saga's reruns, listed through the rerun_of index).
#include "orchestrator/api/call_metadata.h"
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/core/business_key.h"

namespace saga::api {

grpc::ServerUnaryReactor* OrchestratorService::RerunSaga(
    grpc::CallbackServerContext* context, const v1::RerunSagaRequest* request,
    v1::RerunSagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "RerunSaga");
  if (!caller) return reactor;
  const v1::Operator& by = request->operator_();
  if (auto valid = FirstError(
          {CheckSagaId("saga_id", request->saga_id()),
           CheckText("operator.reason", by.reason(), kMaxReasonLength,
                     /*required=*/true),
           CheckText("operator.name", by.name(), kMaxNameLength),
           CheckText("idempotency_key", request->idempotency_key(),
                     kMaxNameLength),
           CheckText("business_key", request->business_key(),
                     core::kMaxBusinessKeyBytes)});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  core::StartLabels labels;
  labels.business_key = request->business_key();
  labels.rerun_of = request->saga_id();
  labels.operator_name = OperatorName(*caller, by.name(), context->peer());
  labels.reason = by.reason();
  reads_->Post([this, context, reactor, request, response, caller = *caller,
                labels = std::move(labels)]() mutable {
    auto old = store_->LoadSummary(request->saga_id());
    if (!old.ok()) {
      reactor->Finish(ToGrpcStatus(old.status()));
      return;
    }
    if (!core::IsTerminal(old->status)) {
      reactor->Finish(ToGrpcStatus(absl::FailedPreconditionError(
          "saga " + old->saga_id + " is " + core::SagaStatusName(old->status) +
          "; only an ended saga (COMPLETED, COMPENSATED or FAILED) can be "
          "rerun")));
      return;
    }
    // Without a key of its own, the rerun keeps the old saga's, unless the
    // definition derives one from the (possibly edited) input.
    if (labels.business_key.empty()) {
      auto definition = definitions_->Current(old->saga_type);
      if (definition.ok() && (*definition)->business_key_source.empty()) {
        labels.business_key = old->business_key;
      }
    }
    const std::string input =
        request->input_json().empty() ? old->input_json : request->input_json();
    engine_->StartSaga(
        old->saga_type, input, request->idempotency_key(),
        IncomingTrace(*context), caller.name, 0, labels,
        [reactor, response](absl::StatusOr<store::CreateResult> started) {
          if (started.ok()) {
            response->set_saga_id(started->saga_id);
            response->set_created(started->created);
          }
          reactor->Finish(ToGrpcStatus(started.status()));
        });
  });
  return reactor;
}

}  // namespace saga::api
