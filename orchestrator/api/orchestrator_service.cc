#include "orchestrator/api/orchestrator_service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "observability/logging.h"
#include "orchestrator/api/call_metadata.h"
#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/start_saga_wire.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/core/business_key.h"

namespace saga::api {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Who started a saga, read from its SagaStarted event without folding the
// history (so nothing else of a saga is used before its owner is checked).
std::string StartedBy(const store::SagaRecord& record) {
  for (const core::Event& event : record.events) {
    if (event.type == core::EventType::kSagaStarted) return event.started_by;
  }
  return "";
}

// StartSaga's refusal of an idempotency key held by a saga the caller may
// not see: the same whether the inputs differ or not, and without the saga.
absl::Status KeyUsedByAnotherCaller(const std::string& key) {
  return absl::AlreadyExistsError("idempotency key '" + key +
                                  "' is already used by another caller");
}

// Saga.reruns shows the newest this many; `sagactl list --rerun-of`
// lists them all.
constexpr int kMaxRerunsShown = 100;

v1::Saga ToProto(const engine::SagaView& view) {
  return SagaToProto(*view.definition, view.summary, view.state);
}

}  // namespace

OrchestratorService::OrchestratorService(
    engine::Engine* engine, store::SagaStore* store,
    engine::DefinitionRegistry* definitions, ServiceOptions options)
    : engine_(engine),
      store_(store),
      definitions_(definitions),
      options_(options),
      reads_(std::make_unique<ReadPool>(options.read_threads)),
      awaiter_(std::make_unique<engine::SagaAwaiter>(engine, store, definitions,
                                                     options.await)) {}

OrchestratorService::~OrchestratorService() = default;

absl::StatusOr<Caller> OrchestratorService::Authorize(
    const grpc::CallbackServerContext& context, std::string_view method) {
  auto caller =
      options_.authorizer.Authorize(method, AuthorizationValues(context));
  if (!caller.ok()) LogRefusal(context, method, caller.status());
  return caller;
}

std::optional<Caller> OrchestratorService::Admit(
    grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
    std::string_view method) {
  auto caller = Authorize(*context, method);
  if (caller.ok()) return *std::move(caller);
  reactor->Finish(ToGrpcStatus(caller.status()));
  return std::nullopt;
}

absl::Status OrchestratorService::CheckOwner(
    const grpc::CallbackServerContext& context, const Caller& caller,
    std::string_view method, const std::string& saga_id,
    const std::string& started_by) {
  absl::Status allowed = Authorizer::CheckOwner(caller, saga_id, started_by);
  if (!allowed.ok()) {
    // The caller is told "not found"; the log says why.
    LogRefusal(context, method,
               absl::Status(allowed.code(),
                            "token '" + caller.name + "' asked about saga " +
                                saga_id + ", started by another caller"));
  }
  return allowed;
}

absl::Status OrchestratorService::AddReruns(v1::Saga& saga) {
  store::ListQuery query;
  query.rerun_of = saga.saga_id();
  query.limit = kMaxRerunsShown;
  auto page = store_->List(query);
  if (!page.ok()) return page.status();
  // The store lists newest first.
  for (auto it = page->sagas.rbegin(); it != page->sagas.rend(); ++it) {
    saga.add_reruns(it->saga_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Saga> OrchestratorService::LoadSaga(
    const std::string& saga_id) {
  auto record = store_->Load(saga_id);
  if (!record.ok()) return record.status();
  auto view = engine::RecordedView(*definitions_, saga_id, *record);
  if (!view.ok()) return view.status();
  v1::Saga saga = ToProto(*view);
  if (absl::Status reruns = AddReruns(saga); !reruns.ok()) return reruns;
  return saga;
}

absl::StatusOr<v1::Saga> OrchestratorService::LoadSaga(
    const grpc::CallbackServerContext& context, const Caller& caller,
    std::string_view method, const std::string& saga_id) {
  auto record = store_->Load(saga_id);
  if (!record.ok()) {
    // One wording for "absent" and "not yours", whatever the store says.
    if (record.status().code() == absl::StatusCode::kNotFound &&
        caller.role != security::Role::kOperator) {
      return SagaNotFound(saga_id);
    }
    return record.status();
  }
  if (absl::Status mine =
          CheckOwner(context, caller, method, saga_id, StartedBy(*record));
      !mine.ok()) {
    return mine;
  }
  auto view = engine::RecordedView(*definitions_, saga_id, *record);
  if (!view.ok()) return view.status();
  v1::Saga saga = ToProto(*view);
  if (absl::Status reruns = AddReruns(saga); !reruns.ok()) return reruns;
  return saga;
}

void OrchestratorService::AnswerKeyHolder(
    const grpc::CallbackServerContext& context,
    grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* reply,
    const Caller& caller, const std::string& key, const std::string& holder_id,
    const absl::StatusOr<v1::StartSagaResponse>& own,
    int64_t await_timeout_ms) {
  auto record = store_->Load(holder_id);
  if (!record.ok()) {
    // Whatever went wrong, the store's words about that saga stay here.
    observability::Log(spdlog::level::warn,
                       "cannot read the holder of an idempotency key",
                       {{"saga_id", holder_id},
                        {"error", std::string(record.status().message())}});
    reactor->Finish(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "cannot check idempotency key '" + key + "' now; try again"));
    return;
  }
  if (!CheckOwner(context, caller, "StartSaga", holder_id, StartedBy(*record))
           .ok()) {
    reactor->Finish(ToGrpcStatus(KeyUsedByAnotherCaller(key)));
    return;
  }
  if (!own.ok()) {
    reactor->Finish(ToGrpcStatus(own.status()));
    return;
  }
  FinishStart(reactor, reply, *own, await_timeout_ms);
}

void OrchestratorService::FinishStart(grpc::ServerUnaryReactor* reactor,
                                      grpc::ByteBuffer* reply,
                                      v1::StartSagaResponse response,
                                      int64_t await_timeout_ms) {
  if (await_timeout_ms <= 0) {
    *reply = EncodeStartSagaResponse(response);
    reactor->Finish(grpc::Status::OK);
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(
                            std::min(await_timeout_ms, options_.max_await_ms));
  const std::string saga_id = response.saga_id();
  awaiter_->Await(saga_id, "", deadline,
                  [reactor, reply, response = std::move(response)](
                      absl::StatusOr<engine::AwaitedSaga> awaited) mutable {
                    // The saga is recorded whatever the wait came to: answering
                    // an error would invite a retry that starts it again.
                    if (awaited.ok()) {
                      *response.mutable_awaited()->mutable_saga() =
                          ToProto(awaited->saga);
                      response.mutable_awaited()->set_reached(awaited->reached);
                    }
                    *reply = EncodeStartSagaResponse(response);
                    reactor->Finish(grpc::Status::OK);
                  });
}

grpc::ServerUnaryReactor* OrchestratorService::StartSaga(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* wire,
    grpc::ByteBuffer* reply) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "StartSaga");
  if (!caller) return reactor;
  absl::StatusOr<v1::StartSagaRequest> request = DecodeStartSagaRequest(*wire);
  // The input itself is checked against its definition by the engine.
  absl::Status valid = request.status();
  if (valid.ok()) {
    valid = FirstError(
        {CheckText("saga_type", request->saga_type(), kMaxNameLength,
                   /*required=*/true),
         CheckText("idempotency_key", request->idempotency_key(),
                   kMaxNameLength),
         CheckText("business_key", request->business_key(),
                   core::kMaxBusinessKeyBytes),
         CheckStartAt(request->start_at_unix_ms(), NowMs()),
         CheckNotNegative("await_timeout_ms", request->await_timeout_ms())});
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  core::StartLabels labels;
  labels.business_key = request->business_key();
  engine_->StartSaga(
      request->saga_type(), request->input_json(), request->idempotency_key(),
      IncomingTrace(*context), caller->name, request->start_at_unix_ms(),
      labels,
      [this, context, reactor, reply, caller = *caller,
       key = request->idempotency_key(),
       await_timeout_ms = request->await_timeout_ms()](
          absl::StatusOr<store::CreateResult> result) {
        absl::StatusOr<v1::StartSagaResponse> own;
        std::optional<std::string> holder;
        if (result.ok()) {
          v1::StartSagaResponse response;
          response.set_saga_id(result->saga_id);
          response.set_created(result->created);
          own = std::move(response);
          if (!result->created) holder = result->saga_id;
        } else {
          own = result.status();
          holder = store::KeyHolder(result.status());
        }
        // Operators see every saga.
        if (!holder || caller.role == security::Role::kOperator) {
          if (own.ok()) {
            FinishStart(reactor, reply, *std::move(own), await_timeout_ms);
          } else {
            reactor->Finish(ToGrpcStatus(own.status()));
          }
          return;
        }
        // The key was used before: by this submitter, or by another caller
        // whose saga (its id included) this one must not learn of.
        reads_->Post([this, context, reactor, reply, caller, key,
                      holder = *holder, own, await_timeout_ms] {
          AnswerKeyHolder(*context, reactor, reply, caller, key, holder, own,
                          await_timeout_ms);
        });
      });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::AwaitSaga(
    grpc::CallbackServerContext* context, const v1::AwaitSagaRequest* request,
    v1::AwaitSagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "AwaitSaga");
  if (!caller) return reactor;
  if (auto valid =
          FirstError({CheckSagaId("saga_id", request->saga_id()),
                      CheckText("step", request->step(), kMaxNameLength),
                      CheckNotNegative("timeout_ms", request->timeout_ms())});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::min(
                            request->timeout_ms(), options_.max_await_ms));
  auto await = [this, reactor, request, response, deadline] {
    awaiter_->Await(
        request->saga_id(), request->step(), deadline,
        [reactor, response](absl::StatusOr<engine::AwaitedSaga> awaited) {
          if (awaited.ok()) {
            *response->mutable_saga() = ToProto(awaited->saga);
            response->set_reached(awaited->reached);
          }
          reactor->Finish(ToGrpcStatus(awaited.status()));
        });
  };
  if (caller->role == security::Role::kOperator) {
    await();
    return reactor;
  }
  // A submitter may await only its own sagas: look before waiting.
  reads_->Post([this, context, reactor, await, caller = *caller,
                saga_id = request->saga_id()] {
    auto saga = LoadSaga(*context, caller, "AwaitSaga", saga_id);
    if (!saga.ok()) {
      reactor->Finish(ToGrpcStatus(saga.status()));
      return;
    }
    await();
  });
  return reactor;
}

}  // namespace saga::api
