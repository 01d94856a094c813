// saga.v1.SagaOrchestrator over the engine (writes, waits) and the store
// (reads). Every handler does four things: authorize the call (see
// authorization.h; nothing else happens when that fails), check the request
// (request_checks.h), call the engine, the awaiter or the store, and convert
// the answer (proto_conversion.h, status_mapping.h). Decisions about sagas
// live below: in the engine, engine/saga_awaiter.h (whether an awaited saga
// got there, wherever it is driven) and core.
//
// Uses gRPC's callback API: no handler blocks a gRPC thread; store reads run
// on the service's own small thread pool (read_pool.h) and AwaitSaga parks
// until the engine or the awaiter reports.
//
// A submitter learns nothing of another caller's sagas: every path that
// could answer with a saga (GetSaga, AwaitSaga, StartSaga's replay of an
// idempotency key and its refusal of a taken one) checks the saga's recorded
// `started_by` right after reading it and before anything of it (id, type,
// status, input, store message) reaches the answer. That check is
// authorization, so it stays here.
//
// The handlers are defined by purpose: orchestrator_service.cc (start and
// await, and what they share), read_handlers.cc, operator_handlers.cc
// (cancel and repairs), participant_handlers.cc (the participants view,
// pause and resume), completion_handler.cc (CompleteStep, the
// participants' callback), watch_handlers.cc (the streams) and
// whoami_handler.cc.
//
// StartSaga is served as a raw method (start_saga_wire.h) so that a field
// that is not UTF-8 gets INVALID_ARGUMENT naming it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "orchestrator/api/authorization.h"
#include "orchestrator/api/event_streams.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/saga_awaiter.h"
#include "orchestrator/store/store.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace saga::api {

struct ServiceOptions {
  int read_threads = 4;
  // Upper bound on AwaitSaga's timeout.
  int64_t max_await_ms = 10 * 60 * 1000;
  int max_page_size = 1000;
  int default_page_size = 50;
  // Largest JSON object taken from a request other than StartSaga's input
  // (a signal's payload, a step output reported through CompleteStep), in
  // bytes: the orchestrator's --max-input-bytes.
  size_t max_json_bytes = 256 * 1024;
  // Serves WatchEvents (not owned; must outlive the service). Null: the
  // RPC answers UNIMPLEMENTED.
  EventStreams* events = nullptr;
  // Bearer tokens and roles; the default has none (authentication off).
  Authorizer authorizer;
  // How AwaitSaga follows a saga that another instance drives.
  engine::SagaAwaiterOptions await;
};

class ReadPool;

class OrchestratorService final
    : public v1::SagaOrchestrator::WithRawCallbackMethod_StartSaga<
          v1::SagaOrchestrator::CallbackService> {
 public:
  OrchestratorService(engine::Engine* engine, store::SagaStore* store,
                      engine::DefinitionRegistry* definitions,
                      ServiceOptions options);
  ~OrchestratorService() override;

  grpc::ServerUnaryReactor* StartSaga(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSaga(grpc::CallbackServerContext* context,
                                    const v1::GetSagaRequest* request,
                                    v1::GetSagaResponse* response) override;
  grpc::ServerUnaryReactor* ListSagas(grpc::CallbackServerContext* context,
                                      const v1::ListSagasRequest* request,
                                      v1::ListSagasResponse* response) override;
  grpc::ServerUnaryReactor* GetSagaHistory(
      grpc::CallbackServerContext* context,
      const v1::GetSagaHistoryRequest* request,
      v1::GetSagaHistoryResponse* response) override;
  grpc::ServerUnaryReactor* AwaitSaga(grpc::CallbackServerContext* context,
                                      const v1::AwaitSagaRequest* request,
                                      v1::AwaitSagaResponse* response) override;
  grpc::ServerUnaryReactor* CancelSaga(
      grpc::CallbackServerContext* context,
      const v1::CancelSagaRequest* request,
      v1::CancelSagaResponse* response) override;
  grpc::ServerUnaryReactor* SignalSaga(
      grpc::CallbackServerContext* context,
      const v1::SignalSagaRequest* request,
      v1::SignalSagaResponse* response) override;
  grpc::ServerUnaryReactor* RetrySaga(grpc::CallbackServerContext* context,
                                      const v1::RetrySagaRequest* request,
                                      v1::RetrySagaResponse* response) override;
  grpc::ServerUnaryReactor* SkipStep(grpc::CallbackServerContext* context,
                                     const v1::SkipStepRequest* request,
                                     v1::SkipStepResponse* response) override;
  grpc::ServerUnaryReactor* MarkCompensated(
      grpc::CallbackServerContext* context,
      const v1::MarkCompensatedRequest* request,
      v1::MarkCompensatedResponse* response) override;
  grpc::ServerUnaryReactor* CompleteStep(
      grpc::CallbackServerContext* context,
      const v1::CompleteStepRequest* request,
      v1::CompleteStepResponse* response) override;
  grpc::ServerWriteReactor<v1::SagaEvent>* WatchSaga(
      grpc::CallbackServerContext* context,
      const v1::WatchSagaRequest* request) override;
  grpc::ServerWriteReactor<v1::OutboxEvent>* WatchEvents(
      grpc::CallbackServerContext* context,
      const v1::WatchEventsRequest* request) override;
  grpc::ServerUnaryReactor* ListDefinitions(
      grpc::CallbackServerContext* context,
      const v1::ListDefinitionsRequest* request,
      v1::ListDefinitionsResponse* response) override;
  grpc::ServerUnaryReactor* GetDefinition(
      grpc::CallbackServerContext* context,
      const v1::GetDefinitionRequest* request,
      v1::GetDefinitionResponse* response) override;
  grpc::ServerUnaryReactor* RerunSaga(grpc::CallbackServerContext* context,
                                      const v1::RerunSagaRequest* request,
                                      v1::RerunSagaResponse* response) override;
  // participant_handlers.cc.
  grpc::ServerUnaryReactor* ListParticipants(
      grpc::CallbackServerContext* context,
      const v1::ListParticipantsRequest* request,
      v1::ListParticipantsResponse* response) override;
  grpc::ServerUnaryReactor* PauseParticipant(
      grpc::CallbackServerContext* context,
      const v1::PauseParticipantRequest* request,
      v1::PauseParticipantResponse* response) override;
  grpc::ServerUnaryReactor* ResumeParticipant(
      grpc::CallbackServerContext* context,
      const v1::ResumeParticipantRequest* request,
      v1::ResumeParticipantResponse* response) override;
  // count_handler.cc.
  grpc::ServerUnaryReactor* CountSagas(
      grpc::CallbackServerContext* context,
      const v1::CountSagasRequest* request,
      v1::CountSagasResponse* response) override;
  // whoami_handler.cc.
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* response) override;

 private:
  class WatchReactor;

  // Authenticates and authorizes a call to `method`, logging a refusal
  // (without the token).
  absl::StatusOr<Caller> Authorize(const grpc::CallbackServerContext& context,
                                   std::string_view method);
  // Authorize for unary calls: on refusal finishes `reactor` with the error
  // and returns nullopt.
  std::optional<Caller> Admit(grpc::CallbackServerContext* context,
                              grpc::ServerUnaryReactor* reactor,
                              std::string_view method);
  // Authorizer::CheckOwner, logging a refusal with its real reason.
  absl::Status CheckOwner(const grpc::CallbackServerContext& context,
                          const Caller& caller, std::string_view method,
                          const std::string& saga_id,
                          const std::string& started_by);

  // StartSaga's answer to a submitter whose idempotency key is held by saga
  // `holder_id`: `own` (the replayed saga, or the store's refusal naming
  // the holder) if the submitter started that saga, else a refusal that
  // says only that the key is taken. Runs on the read pool.
  void AnswerKeyHolder(const grpc::CallbackServerContext& context,
                       grpc::ServerUnaryReactor* reactor,
                       grpc::ByteBuffer* reply, const Caller& caller,
                       const std::string& key, const std::string& holder_id,
                       const absl::StatusOr<v1::StartSagaResponse>& own,
                       int64_t await_timeout_ms);

  // StartSaga's reply once the saga is recorded (or replayed) and the
  // caller may learn of it: at once, or with `await_timeout_ms` after
  // waiting for it to end.
  void FinishStart(grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* reply,
                   v1::StartSagaResponse response, int64_t await_timeout_ms);

  // Runs an operator repair and answers with the saga as it then is.
  void Repair(grpc::CallbackServerContext* context,
              grpc::ServerUnaryReactor* reactor, const Caller& caller,
              const std::string& saga_id, core::Signal::Kind kind,
              const std::string& step, const v1::Operator& by,
              v1::Saga* saga_out);

  // Pauses or resumes a participant for PauseParticipant /
  // ResumeParticipant, answering with it as it then is.
  void ChangePause(grpc::CallbackServerContext* context,
                   grpc::ServerUnaryReactor* reactor, const Caller& caller,
                   const std::string& participant, const v1::Operator& by,
                   bool pause,
                   std::function<void(const engine::PauseResult&)> answer);

  // Loads a saga as recorded, as the API message. With `caller`, a saga the
  // caller may not see is NotFound exactly as a saga that does not exist
  // (CheckOwner), decided before anything else of the record is used. Run
  // on the read pool.
  absl::StatusOr<v1::Saga> LoadSaga(const std::string& saga_id);
  absl::StatusOr<v1::Saga> LoadSaga(const grpc::CallbackServerContext& context,
                                    const Caller& caller,
                                    std::string_view method,
                                    const std::string& saga_id);
  // LoadSaga's last part: the saga's reruns (Saga.reruns), oldest first.
  absl::Status AddReruns(v1::Saga& saga);

  engine::Engine* engine_;
  store::SagaStore* store_;
  engine::DefinitionRegistry* definitions_;
  ServiceOptions options_;
  std::unique_ptr<ReadPool> reads_;
  std::unique_ptr<engine::SagaAwaiter> awaiter_;
};

}  // namespace saga::api
