// A thin, synchronous client for saga.v1.SagaOrchestrator, the only thing
// sagactl talks to. gRPC stays inside client.cc.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "saga/v1/orchestrator.pb.h"
#include "security/tls.h"

namespace saga::sagactl {

// How the client proves who it is and checks whom it talks to.
struct ClientCredentials {
  security::ClientTls tls;  // not enabled: plaintext
  std::string token;        // bearer token sent with every call; empty: none
};

// Errors come back as absl::Status with the gRPC code unchanged, except that
// a failure to reach the server at all (UNAVAILABLE or DEADLINE_EXCEEDED while
// the channel has no connection) becomes UnreachableError (exit_codes.h).
// The unary calls may run on several threads at once (bulk repairs do);
// Watch and Await are for one thread.
class OrchestratorClient {
 public:
  // A channel to `address` (HOST:PORT), TLS or plaintext per `credentials`;
  // connects lazily. Each call but Await and Watch gets `call_timeout` as
  // its deadline. InvalidArgument (UsageError) when a TLS file is missing
  // or does not load.
  static absl::StatusOr<std::unique_ptr<OrchestratorClient>> Create(
      std::string address, const ClientCredentials& credentials,
      std::chrono::milliseconds call_timeout = std::chrono::seconds(30));
  ~OrchestratorClient();

  OrchestratorClient(const OrchestratorClient&) = delete;
  OrchestratorClient& operator=(const OrchestratorClient&) = delete;

  const std::string& address() const { return address_; }

  absl::StatusOr<v1::StartSagaResponse> StartSaga(
      const v1::StartSagaRequest& request);
  absl::StatusOr<v1::Saga> GetSaga(std::string_view saga_id);
  absl::StatusOr<v1::ListSagasResponse> ListSagas(
      const v1::ListSagasRequest& request);
  absl::StatusOr<v1::GetSagaHistoryResponse> GetSagaHistory(
      std::string_view saga_id);
  absl::StatusOr<v1::Saga> CancelSaga(std::string_view saga_id,
                                      std::string_view reason);
  absl::StatusOr<v1::Saga> SignalSaga(const v1::SignalSagaRequest& request);

  // Operator repairs; each answers with the saga as it then is.
  absl::StatusOr<v1::Saga> RetrySaga(std::string_view saga_id,
                                     const v1::Operator& by);
  absl::StatusOr<v1::Saga> SkipStep(std::string_view saga_id,
                                    std::string_view step,
                                    const v1::Operator& by);
  absl::StatusOr<v1::Saga> MarkCompensated(std::string_view saga_id,
                                           const v1::Operator& by);

  // A new saga from an ended one's input (or an edited one), linked to it.
  absl::StatusOr<v1::RerunSagaResponse> RerunSaga(
      const v1::RerunSagaRequest& request);

  absl::StatusOr<v1::ListDefinitionsResponse> ListDefinitions();

  // The participants view, pause and resume (operators only).
  absl::StatusOr<v1::ListParticipantsResponse> ListParticipants();
  absl::StatusOr<v1::PauseParticipantResponse> PauseParticipant(
      std::string_view participant, const v1::Operator& by);
  absl::StatusOr<v1::ResumeParticipantResponse> ResumeParticipant(
      std::string_view participant, const v1::Operator& by);
  // `version` 0: the current version.
  absl::StatusOr<v1::GetDefinitionResponse> GetDefinition(
      std::string_view saga_type, int version);

  // Follows WatchSaga from `from_seq` (exclusive), calling `on_event` for
  // each event as it arrives, until the server ends the stream (the saga
  // ended) or the stream fails. No deadline: a saga may run for long.
  absl::Status WatchSaga(
      std::string_view saga_id, int64_t from_seq,
      const std::function<void(const v1::SagaEvent&)>& on_event);

  // Follows WatchEvents (the outbox stream), calling `on_event` for each
  // message as it arrives, until the server ends the stream (caught up,
  // without request.follow) or the stream fails. No deadline.
  absl::Status WatchEvents(
      const v1::WatchEventsRequest& request,
      const std::function<void(const v1::OutboxEvent&)>& on_event);

  // Waits until the saga ends (or `step`, when not empty, has succeeded) or
  // `timeout` passes; without a timeout it waits as long as it takes. The
  // server caps one AwaitSaga call, so a long wait is made of several calls.
  // `reached` is false when the timeout passed first.
  absl::StatusOr<v1::AwaitSagaResponse> AwaitSaga(
      std::string_view saga_id,
      std::optional<std::chrono::milliseconds> timeout, std::string_view step);

 private:
  struct Impl;
  OrchestratorClient(std::string address, std::chrono::milliseconds timeout);

  std::string address_;
  std::chrono::milliseconds call_timeout_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace saga::sagactl
