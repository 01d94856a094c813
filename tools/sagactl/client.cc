#include "tools/sagactl/client.h"

#include <algorithm>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/render.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

// AwaitSagaRequest.timeout_ms is capped at 10 minutes by the server.
constexpr milliseconds kMaxAwaitChunk = std::chrono::minutes(10);
// Slack on top of an await's own timeout, so the server answers before the
// client-side deadline cuts it off.
constexpr milliseconds kAwaitDeadlineSlack = std::chrono::seconds(15);

}  // namespace

struct OrchestratorClient::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::SagaOrchestrator::Stub> stub;
  std::string authorization;  // "Bearer <token>"; empty: none

  // Sends the token, and sets `deadline` when there is one.
  void Prepare(grpc::ClientContext& context,
               std::optional<Clock::time_point> deadline) const {
    if (deadline.has_value()) context.set_deadline(*deadline);
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
  }

  // gRPC and absl share the numbering of status codes.
  absl::Status ToStatus(const grpc::Status& status,
                        const std::string& address) const {
    if (status.ok()) return absl::OkStatus();
    grpc::StatusCode code = status.error_code();
    // The server itself answers UNAVAILABLE when its database is down; only
    // a failure on a channel that never got READY means "not reachable".
    if ((code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED) &&
        channel->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
      std::string detail = status.error_message();
      if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
        detail = "no connection before the deadline (" + detail + ")";
      }
      return UnreachableError(address, detail);
    }
    return absl::Status(static_cast<absl::StatusCode>(code),
                        status.error_message());
  }
};

OrchestratorClient::OrchestratorClient(std::string address,
                                       milliseconds call_timeout)
    : address_(std::move(address)),
      call_timeout_(call_timeout),
      impl_(std::make_unique<Impl>()) {}

absl::StatusOr<std::unique_ptr<OrchestratorClient>> OrchestratorClient::Create(
    std::string address, const ClientCredentials& credentials,
    milliseconds call_timeout) {
  auto channel_credentials = security::MakeChannelCredentials(credentials.tls);
  if (!channel_credentials.ok()) {
    return UsageError(std::string(channel_credentials.status().message()));
  }
  std::unique_ptr<OrchestratorClient> client(
      new OrchestratorClient(std::move(address), call_timeout));
  client->impl_->channel =
      grpc::CreateChannel(client->address_, *channel_credentials);
  client->impl_->stub = v1::SagaOrchestrator::NewStub(client->impl_->channel);
  if (!credentials.token.empty()) {
    client->impl_->authorization = "Bearer " + credentials.token;
  }
  return client;
}

OrchestratorClient::~OrchestratorClient() = default;

absl::StatusOr<v1::StartSagaResponse> OrchestratorClient::StartSaga(
    const v1::StartSagaRequest& request) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::StartSagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->StartSaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::Saga> OrchestratorClient::GetSaga(std::string_view saga_id) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::GetSagaRequest request;
  request.set_saga_id(std::string(saga_id));
  v1::GetSagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->GetSaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::ListSagasResponse> OrchestratorClient::ListSagas(
    const v1::ListSagasRequest& request) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::ListSagasResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->ListSagas(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetSagaHistoryResponse> OrchestratorClient::GetSagaHistory(
    std::string_view saga_id) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::GetSagaHistoryRequest request;
  request.set_saga_id(std::string(saga_id));
  v1::GetSagaHistoryResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->GetSagaHistory(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::Saga> OrchestratorClient::CancelSaga(
    std::string_view saga_id, std::string_view reason) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::CancelSagaRequest request;
  request.set_saga_id(std::string(saga_id));
  request.set_reason(std::string(reason));
  v1::CancelSagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->CancelSaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::Saga> OrchestratorClient::SignalSaga(
    const v1::SignalSagaRequest& request) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::SignalSagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->SignalSaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::Saga> OrchestratorClient::RetrySaga(std::string_view saga_id,
                                                       const v1::Operator& by) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::RetrySagaRequest request;
  request.set_saga_id(std::string(saga_id));
  *request.mutable_operator_() = by;
  v1::RetrySagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->RetrySaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::RerunSagaResponse> OrchestratorClient::RerunSaga(
    const v1::RerunSagaRequest& request) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::RerunSagaResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->RerunSaga(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::Saga> OrchestratorClient::SkipStep(std::string_view saga_id,
                                                      std::string_view step,
                                                      const v1::Operator& by) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::SkipStepRequest request;
  request.set_saga_id(std::string(saga_id));
  request.set_step(std::string(step));
  *request.mutable_operator_() = by;
  v1::SkipStepResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->SkipStep(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::Saga> OrchestratorClient::MarkCompensated(
    std::string_view saga_id, const v1::Operator& by) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::MarkCompensatedRequest request;
  request.set_saga_id(std::string(saga_id));
  *request.mutable_operator_() = by;
  v1::MarkCompensatedResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->MarkCompensated(&context, request, &response), address_);
  if (!status.ok()) return status;
  return std::move(*response.mutable_saga());
}

absl::StatusOr<v1::ListDefinitionsResponse>
OrchestratorClient::ListDefinitions() {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::ListDefinitionsResponse response;
  absl::Status status =
      impl_->ToStatus(impl_->stub->ListDefinitions(
                          &context, v1::ListDefinitionsRequest(), &response),
                      address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ListParticipantsResponse>
OrchestratorClient::ListParticipants() {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::ListParticipantsResponse response;
  absl::Status status =
      impl_->ToStatus(impl_->stub->ListParticipants(
                          &context, v1::ListParticipantsRequest(), &response),
                      address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::PauseParticipantResponse>
OrchestratorClient::PauseParticipant(std::string_view participant,
                                     const v1::Operator& by) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::PauseParticipantRequest request;
  request.set_participant(std::string(participant));
  *request.mutable_operator_() = by;
  v1::PauseParticipantResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->PauseParticipant(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ResumeParticipantResponse>
OrchestratorClient::ResumeParticipant(std::string_view participant,
                                      const v1::Operator& by) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::ResumeParticipantRequest request;
  request.set_participant(std::string(participant));
  *request.mutable_operator_() = by;
  v1::ResumeParticipantResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->ResumeParticipant(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetDefinitionResponse> OrchestratorClient::GetDefinition(
    std::string_view saga_type, int version) {
  grpc::ClientContext context;
  impl_->Prepare(context, Clock::now() + call_timeout_);
  v1::GetDefinitionRequest request;
  request.set_saga_type(std::string(saga_type));
  request.set_version(version);
  v1::GetDefinitionResponse response;
  absl::Status status = impl_->ToStatus(
      impl_->stub->GetDefinition(&context, request, &response), address_);
  if (!status.ok()) return status;
  return response;
}

absl::Status OrchestratorClient::WatchSaga(
    std::string_view saga_id, int64_t from_seq,
    const std::function<void(const v1::SagaEvent&)>& on_event) {
  grpc::ClientContext context;
  impl_->Prepare(context, std::nullopt);
  v1::WatchSagaRequest request;
  request.set_saga_id(std::string(saga_id));
  request.set_from_seq(from_seq);
  std::unique_ptr<grpc::ClientReader<v1::SagaEvent>> reader =
      impl_->stub->WatchSaga(&context, request);
  v1::SagaEvent event;
  while (reader->Read(&event)) on_event(event);
  return impl_->ToStatus(reader->Finish(), address_);
}

absl::Status OrchestratorClient::WatchEvents(
    const v1::WatchEventsRequest& request,
    const std::function<void(const v1::OutboxEvent&)>& on_event) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::OutboxEvent>> reader =
      impl_->stub->WatchEvents(&context, request);
  v1::OutboxEvent event;
  while (reader->Read(&event)) on_event(event);
  return impl_->ToStatus(reader->Finish(), address_);
}

absl::StatusOr<v1::AwaitSagaResponse> OrchestratorClient::AwaitSaga(
    std::string_view saga_id, std::optional<milliseconds> timeout,
    std::string_view step) {
  std::optional<Clock::time_point> give_up;
  if (timeout.has_value()) give_up = Clock::now() + *timeout;
  while (true) {
    milliseconds chunk = kMaxAwaitChunk;
    if (give_up.has_value()) {
      chunk = std::clamp(
          std::chrono::duration_cast<milliseconds>(*give_up - Clock::now()),
          milliseconds(0), kMaxAwaitChunk);
    }
    grpc::ClientContext context;
    impl_->Prepare(context, Clock::now() + chunk + kAwaitDeadlineSlack);
    v1::AwaitSagaRequest request;
    request.set_saga_id(std::string(saga_id));
    request.set_timeout_ms(chunk.count());
    request.set_step(std::string(step));
    v1::AwaitSagaResponse response;
    absl::Status status = impl_->ToStatus(
        impl_->stub->AwaitSaga(&context, request, &response), address_);
    if (!status.ok()) return status;
    bool out_of_time = give_up.has_value() && Clock::now() >= *give_up;
    if (response.reached() || IsTerminal(response.saga().status()) ||
        out_of_time || chunk.count() == 0) {
      return response;
    }
  }
}

}  // namespace saga::sagactl
