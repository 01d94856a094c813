// The participants view, pause and resume: ListParticipants,
// PauseParticipant, ResumeParticipant. The engine keeps the pauses and the
// gates (engine.h, "Pauses"); these handlers authorize, check and convert.
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/status_mapping.h"

namespace saga::api {
namespace {

v1::CircuitState ToProto(engine::CircuitState state) {
  switch (state) {
    case engine::CircuitState::kClosed:
      return v1::CIRCUIT_STATE_CLOSED;
    case engine::CircuitState::kOpen:
      return v1::CIRCUIT_STATE_OPEN;
    case engine::CircuitState::kHalfOpen:
      return v1::CIRCUIT_STATE_HALF_OPEN;
  }
  return v1::CIRCUIT_STATE_UNSPECIFIED;
}

v1::ParticipantInfo ToProto(const engine::ParticipantView& view) {
  v1::ParticipantInfo info;
  info.set_name(view.name);
  info.set_address(view.address);
  info.set_circuit(ToProto(view.gate.circuit));
  info.set_calls_in_flight(view.gate.in_flight);
  info.set_calls_parked(static_cast<int64_t>(view.gate.parked));
  info.set_calls_last_minute(view.gate.last_minute.calls);
  info.set_failures_last_minute(view.gate.last_minute.failures);
  info.set_error_rate_last_minute(
      view.gate.last_minute.calls == 0
          ? 0.0
          : static_cast<double>(view.gate.last_minute.failures) /
                static_cast<double>(view.gate.last_minute.calls));
  if (view.pause) {
    v1::ParticipantPause* pause = info.mutable_pause();
    pause->set_paused_by(view.pause->paused_by);
    pause->set_reason(view.pause->reason);
    pause->set_since_unix_ms(view.pause->since_ms);
  }
  return info;
}

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::ListParticipants(
    grpc::CallbackServerContext* context,
    const v1::ListParticipantsRequest* /*request*/,
    v1::ListParticipantsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "ListParticipants")) return reactor;
  engine_->ListParticipants(
      [reactor, response](std::vector<engine::ParticipantView> views) {
        for (const engine::ParticipantView& view : views) {
          *response->add_participants() = ToProto(view);
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

void OrchestratorService::ChangePause(
    grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
    const Caller& caller, const std::string& participant,
    const v1::Operator& by, bool pause,
    std::function<void(const engine::PauseResult&)> answer) {
  if (auto valid = FirstError(
          {CheckText("participant", participant, kMaxNameLength,
                     /*required=*/true),
           CheckText("operator.reason", by.reason(), kMaxReasonLength,
                     /*required=*/pause),
           CheckText("operator.name", by.name(), kMaxNameLength)});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return;
  }
  engine_->PauseParticipant(
      participant, pause, OperatorName(caller, by.name(), context->peer()),
      by.reason(),
      [reactor,
       answer = std::move(answer)](absl::StatusOr<engine::PauseResult> result) {
        if (result.ok()) answer(*result);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
}

grpc::ServerUnaryReactor* OrchestratorService::PauseParticipant(
    grpc::CallbackServerContext* context,
    const v1::PauseParticipantRequest* request,
    v1::PauseParticipantResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "PauseParticipant");
  if (!caller) return reactor;
  ChangePause(context, reactor, *caller, request->participant(),
              request->operator_(), /*pause=*/true,
              [response](const engine::PauseResult& result) {
                *response->mutable_participant() = ToProto(result.participant);
                response->set_changed(result.changed);
              });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::ResumeParticipant(
    grpc::CallbackServerContext* context,
    const v1::ResumeParticipantRequest* request,
    v1::ResumeParticipantResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "ResumeParticipant");
  if (!caller) return reactor;
  ChangePause(context, reactor, *caller, request->participant(),
              request->operator_(), /*pause=*/false,
              [response](const engine::PauseResult& result) {
                *response->mutable_participant() = ToProto(result.participant);
                response->set_changed(result.changed);
              });
  return reactor;
}

}  // namespace saga::api
