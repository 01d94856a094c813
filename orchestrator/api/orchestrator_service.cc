#include "orchestrator/api/orchestrator_service.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>

#include "observability/logging.h"
#include "observability/trace_context.h"
#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/start_saga_wire.h"
#include "orchestrator/api/status_mapping.h"

namespace saga::api {

namespace {

// How often AwaitSaga re-reads a saga that another instance drives.
constexpr std::chrono::milliseconds kNotDrivenHerePoll{500};

// A stream that ends at once with an error (bad request).
template <typename Message>
class RefusedStream final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit RefusedStream(grpc::Status status) {
    this->Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

// The caller's W3C trace context from the call's metadata; empty when there
// is none or it is malformed (ignored, as the specification asks: the saga
// then starts a new trace instead of failing the request).
core::TraceContext IncomingTrace(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto value = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end()
               ? std::string_view()
               : std::string_view(it->second.data(), it->second.size());
  };
  const std::string_view header = value(observability::kTraceParentKey);
  if (header.empty()) return {};
  auto parent = observability::ParseTraceParent(header);
  if (!parent) {
    spdlog::debug("ignoring a malformed traceparent: a new trace starts");
    return {};
  }
  return {parent->ToString(), observability::SanitizeTraceState(
                                  value(observability::kTraceStateKey))};
}

// The first failed check, or OK.
absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& check : checks) {
    if (!check.ok()) return check;
  }
  return absl::OkStatus();
}

// gRPC lower-cases metadata keys.
constexpr char kAuthorizationKey[] = "authorization";

// One warning per refused call: what was called, from where, and why (the
// reason names the token's name, never the token).
void LogRefusal(const grpc::CallbackServerContext& context,
                std::string_view method, const absl::Status& refusal) {
  observability::Log(spdlog::level::warn, "call refused",
                     {{"rpc", method},
                      {"peer", context.peer()},
                      {"code", absl::StatusCodeToString(refusal.code())},
                      {"reason", std::string(refusal.message())}});
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

}  // namespace

struct OrchestratorService::ReadPool {
  explicit ReadPool(int threads) : pool(threads) {}
  boost::asio::thread_pool pool;
};

OrchestratorService::OrchestratorService(
    engine::Engine* engine, store::SagaStore* store,
    engine::DefinitionRegistry* definitions, ServiceOptions options)
    : engine_(engine),
      store_(store),
      definitions_(definitions),
      options_(options),
      reads_(std::make_unique<ReadPool>(options.read_threads)) {}

OrchestratorService::~OrchestratorService() { reads_->pool.join(); }

absl::StatusOr<v1::Saga> OrchestratorService::LoadSaga(
    const std::string& saga_id) {
  auto record = store_->Load(saga_id);
  if (!record.ok()) return record.status();
  return ToSaga(saga_id, *record);
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
  return ToSaga(saga_id, *record);
}

absl::StatusOr<v1::Saga> OrchestratorService::ToSaga(
    const std::string& saga_id, const store::SagaRecord& record) {
  auto definition = definitions_->Version(record.summary.saga_type,
                                          record.summary.definition_version);
  if (!definition.ok()) return definition.status();
  core::SagaState state = core::Fold(**definition, saga_id, record.events);
  return SagaToProto(**definition, record.summary, state);
}

absl::StatusOr<Caller> OrchestratorService::Authorize(
    const grpc::CallbackServerContext& context, std::string_view method) {
  std::vector<std::string_view> authorization;
  const auto [first, last] =
      context.client_metadata().equal_range(kAuthorizationKey);
  for (auto it = first; it != last; ++it) {
    authorization.emplace_back(it->second.data(), it->second.size());
  }
  auto caller = options_.authorizer.Authorize(method, authorization);
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

void OrchestratorService::AnswerKeyHolder(
    const grpc::CallbackServerContext& context,
    grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* reply,
    const Caller& caller, const std::string& key, const std::string& holder_id,
    const absl::StatusOr<v1::StartSagaResponse>& own) {
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
  *reply = EncodeStartSagaResponse(*own);
  reactor->Finish(grpc::Status::OK);
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
    valid =
        FirstError({CheckText("saga_type", request->saga_type(), kMaxNameLength,
                              /*required=*/true),
                    CheckText("idempotency_key", request->idempotency_key(),
                              kMaxNameLength)});
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  engine_->StartSaga(
      request->saga_type(), request->input_json(), request->idempotency_key(),
      IncomingTrace(*context), caller->name,
      [this, context, reactor, reply, caller = *caller,
       key = request->idempotency_key()](
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
          if (own.ok()) *reply = EncodeStartSagaResponse(*own);
          reactor->Finish(ToGrpcStatus(own.status()));
          return;
        }
        // The key was used before: by this submitter, or by another caller
        // whose saga (its id included) this one must not learn of.
        boost::asio::post(reads_->pool, [this, context, reactor, reply, caller,
                                         key, holder = *holder, own] {
          AnswerKeyHolder(*context, reactor, reply, caller, key, holder, own);
        });
      });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::GetSaga(
    grpc::CallbackServerContext* context, const v1::GetSagaRequest* request,
    v1::GetSagaResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "GetSaga");
  if (!caller) return reactor;
  if (auto valid = CheckSagaId("saga_id", request->saga_id()); !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  boost::asio::post(reads_->pool, [this, context, reactor, request, response,
                                   caller = *caller] {
    auto saga = LoadSaga(*context, caller, "GetSaga", request->saga_id());
    if (saga.ok()) *response->mutable_saga() = std::move(*saga);
    reactor->Finish(ToGrpcStatus(saga.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::ListSagas(
    grpc::CallbackServerContext* context, const v1::ListSagasRequest* request,
    v1::ListSagasResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "ListSagas")) return reactor;
  store::ListQuery query;
  auto limit = PageLimit(request->page_size(), options_.default_page_size,
                         options_.max_page_size);
  absl::Status valid =
      FirstError({CheckText("saga_type", request->saga_type(), kMaxNameLength),
                  CheckNotNegative("created_after_unix_ms",
                                   request->created_after_unix_ms()),
                  limit.status()});
  query.status = FromProto(request->status());
  if (valid.ok() && request->status() != v1::SAGA_STATUS_UNSPECIFIED &&
      !query.status) {
    valid = absl::InvalidArgumentError(
        "status " + std::to_string(request->status()) +
        " is not a saga status (see saga.v1.SagaStatus)");
  }
  if (valid.ok() && !request->page_token().empty()) {
    auto after = DecodePageToken(request->page_token());
    valid = after.status();
    if (after.ok()) query.after = {after->created_ms, after->saga_id};
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  query.saga_type = request->saga_type();
  query.created_after_ms = request->created_after_unix_ms();
  query.limit = *limit;
  boost::asio::post(reads_->pool, [this, reactor, query, response] {
    auto page = store_->List(query);
    if (!page.ok()) {
      reactor->Finish(ToGrpcStatus(page.status()));
      return;
    }
    for (const auto& summary : page->sagas) {
      *response->add_sagas() = SummaryToProto(summary);
    }
    if (page->more && !page->sagas.empty()) {
      const store::SagaSummary& last = page->sagas.back();
      response->set_next_page_token(
          EncodePageToken({last.created_ms, last.saga_id}));
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::GetSagaHistory(
    grpc::CallbackServerContext* context,
    const v1::GetSagaHistoryRequest* request,
    v1::GetSagaHistoryResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "GetSagaHistory")) return reactor;
  if (auto valid = CheckSagaId("saga_id", request->saga_id()); !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  boost::asio::post(reads_->pool, [this, reactor, request, response] {
    auto record = store_->Load(request->saga_id());
    if (!record.ok()) {
      reactor->Finish(ToGrpcStatus(record.status()));
      return;
    }
    auto definition = definitions_->Version(record->summary.saga_type,
                                            record->summary.definition_version);
    if (!definition.ok()) {
      reactor->Finish(ToGrpcStatus(definition.status()));
      return;
    }
    response->set_saga_id(request->saga_id());
    for (const auto& event : record->events) {
      *response->add_events() = EventToProto(**definition, event);
    }
    reactor->Finish(grpc::Status::OK);
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
  if (caller->role == security::Role::kOperator) {
    Await(reactor, request, response, deadline);
    return reactor;
  }
  // A submitter may await only its own sagas: look before waiting.
  boost::asio::post(reads_->pool, [this, context, reactor, request, response,
                                   deadline, caller = *caller] {
    auto saga = LoadSaga(*context, caller, "AwaitSaga", request->saga_id());
    if (!saga.ok()) {
      reactor->Finish(ToGrpcStatus(saga.status()));
      return;
    }
    Await(reactor, request, response, deadline);
  });
  return reactor;
}

void OrchestratorService::Await(
    grpc::ServerUnaryReactor* reactor, const v1::AwaitSagaRequest* request,
    v1::AwaitSagaResponse* response,
    std::chrono::steady_clock::time_point deadline) {
  const auto remaining =
      std::max(std::chrono::milliseconds(0),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   deadline - std::chrono::steady_clock::now()));
  engine_->AwaitSaga(
      request->saga_id(), request->step(), remaining,
      [this, reactor, request, response,
       deadline](absl::StatusOr<engine::AwaitResult> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpcStatus(result.status()));
          return;
        }
        if (result->saga.has_value()) {
          // Driven here: the engine's committed state is the answer, so the
          // hot path reads nothing back from the database.
          const engine::SagaView& view = *result->saga;
          *response->mutable_saga() =
              SagaToProto(*view.definition, view.summary, view.state);
          response->set_reached(result->outcome ==
                                engine::AwaitOutcome::kReached);
          reactor->Finish(grpc::Status::OK);
          return;
        }
        boost::asio::post(reads_->pool, [this, reactor, request, response,
                                         deadline, outcome = result->outcome] {
          auto saga = LoadSaga(request->saga_id());
          if (!saga.ok()) {
            reactor->Finish(ToGrpcStatus(saga.status()));
            return;
          }
          bool reached = outcome == engine::AwaitOutcome::kReached;
          if (outcome == engine::AwaitOutcome::kNotActive) {
            // Not driven here: judge by what is recorded.
            const auto status = saga->status();
            reached = status == v1::SAGA_STATUS_COMPLETED ||
                      status == v1::SAGA_STATUS_COMPENSATED ||
                      status == v1::SAGA_STATUS_FAILED;
            bool step_known = request->step().empty();
            for (const auto& step : saga->steps()) {
              if (step.name() != request->step()) continue;
              step_known = true;
              reached |= step.status() == v1::STEP_STATUS_SUCCEEDED;
            }
            if (!step_known) {
              reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                           "saga type '" + saga->saga_type() +
                                               "' has no step '" +
                                               request->step() + "'"));
              return;
            }
            // Another instance drives it: look again shortly, until the
            // caller's timeout.
            const auto next =
                std::chrono::steady_clock::now() + kNotDrivenHerePoll;
            if (!reached && next < deadline && !engine_->Stopping()) {
              auto timer = std::make_shared<boost::asio::steady_timer>(
                  reads_->pool.get_executor(), kNotDrivenHerePoll);
              timer->async_wait([this, reactor, request, response, deadline,
                                 timer](const boost::system::error_code&) {
                Await(reactor, request, response, deadline);
              });
              return;
            }
          }
          *response->mutable_saga() = std::move(*saga);
          response->set_reached(reached);
          reactor->Finish(grpc::Status::OK);
        });
      });
}

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
        boost::asio::post(
            reads_->pool, [this, reactor, request, response, cancelled] {
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
  // With authentication, the token's name is recorded, followed by the name
  // the caller gives (several people may share an operator token). Without,
  // the name is what the caller says; the peer address backs it up in logs.
  if (!caller.name.empty()) {
    signal.operator_name = by.name().empty() || by.name() == caller.name
                               ? caller.name
                               : caller.name + " (" + by.name() + ")";
  } else {
    signal.operator_name = by.name().empty()
                               ? "unnamed operator at " + context->peer()
                               : by.name();
  }
  engine_->Operate(saga_id, std::move(signal), step,
                   [this, reactor, saga_id, saga_out](absl::Status repaired) {
                     if (!repaired.ok()) {
                       reactor->Finish(ToGrpcStatus(repaired));
                       return;
                     }
                     boost::asio::post(
                         reads_->pool, [this, reactor, saga_id, saga_out] {
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

// Streams a saga's history, then its new events as the engine records them,
// until the saga ends or the client goes away. One operation at a time:
// load -> write each event -> wait for progress -> load ...
class OrchestratorService::WatchReactor final
    : public grpc::ServerWriteReactor<v1::SagaEvent> {
 public:
  WatchReactor(OrchestratorService* service, std::string saga_id,
               int64_t from_seq)
      : service_(service), saga_id_(std::move(saga_id)), cursor_(from_seq) {
    Load();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    cursor_ = pending_.front().seq();
    pending_.pop_front();
    WriteNext();
  }

  void OnCancel() override { cancelled_ = true; }
  void OnDone() override { delete this; }

 private:
  // How long one wait for progress lasts before the stream checks that the
  // client is still there.
  static constexpr auto kPollEvery = std::chrono::seconds(5);

  void Load() {
    boost::asio::post(service_->reads_->pool, [this] {
      if (cancelled_) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
        return;
      }
      auto record = service_->store_->Load(saga_id_);
      if (!record.ok()) {
        Finish(ToGrpcStatus(record.status()));
        return;
      }
      auto definition = service_->definitions_->Version(
          record->summary.saga_type, record->summary.definition_version);
      if (!definition.ok()) {
        Finish(ToGrpcStatus(definition.status()));
        return;
      }
      for (const auto& event : record->events) {
        if (event.seq > cursor_) {
          pending_.push_back(EventToProto(**definition, event));
        }
      }
      ended_ = core::IsTerminal(record->summary.status);
      WriteNext();
    });
  }

  void WriteNext() {
    if (!pending_.empty()) {
      StartWrite(&pending_.front());
      return;
    }
    if (ended_) {
      Finish(grpc::Status::OK);
      return;
    }
    if (service_->engine_->Stopping()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the orchestrator is shutting down"));
      return;
    }
    service_->engine_->AwaitProgress(
        saga_id_, cursor_, kPollEvery,
        [this](absl::StatusOr<engine::AwaitOutcome> outcome) {
          if (outcome.ok() && *outcome == engine::AwaitOutcome::kNotActive) {
            // Recorded as running but not driven here: look again shortly.
            auto timer = std::make_shared<boost::asio::steady_timer>(
                service_->reads_->pool.get_executor(), kPollEvery);
            timer->async_wait(
                [this, timer](const boost::system::error_code&) { Load(); });
            return;
          }
          Load();
        });
  }

  OrchestratorService* service_;
  const std::string saga_id_;
  int64_t cursor_;
  std::deque<v1::SagaEvent> pending_;
  bool ended_ = false;
  std::atomic<bool> cancelled_{false};
};

grpc::ServerWriteReactor<v1::SagaEvent>* OrchestratorService::WatchSaga(
    grpc::CallbackServerContext* context, const v1::WatchSagaRequest* request) {
  if (auto caller = Authorize(*context, "WatchSaga"); !caller.ok()) {
    return new RefusedStream<v1::SagaEvent>(ToGrpcStatus(caller.status()));
  }
  if (auto valid = CheckSagaId("saga_id", request->saga_id()); !valid.ok()) {
    return new RefusedStream<v1::SagaEvent>(ToGrpcStatus(valid));
  }
  return new WatchReactor(this, request->saga_id(),
                          std::max<int64_t>(0, request->from_seq()));
}

grpc::ServerWriteReactor<v1::OutboxEvent>* OrchestratorService::WatchEvents(
    grpc::CallbackServerContext* context,
    const v1::WatchEventsRequest* request) {
  if (auto caller = Authorize(*context, "WatchEvents"); !caller.ok()) {
    return new RefusedStream<v1::OutboxEvent>(ToGrpcStatus(caller.status()));
  }
  if (options_.events == nullptr) {
    return new RefusedStream<v1::OutboxEvent>(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                     "this orchestrator does not serve the outbox stream"));
  }
  if (auto valid = FirstError(
          {CheckNotNegative("from_position", request->from_position(),
                            "0: from the start"),
           CheckText("saga_type", request->saga_type(), kMaxNameLength),
           CheckText("type", request->type(), kMaxNameLength)});
      !valid.ok()) {
    return new RefusedStream<v1::OutboxEvent>(ToGrpcStatus(valid));
  }
  return options_.events->Open(*request);
}

namespace {

v1::DefinitionInfo InfoOf(const core::SagaDefinition& definition,
                          bool current) {
  v1::DefinitionInfo info;
  info.set_saga_type(definition.name);
  info.set_version(definition.version);
  info.set_current(current);
  info.set_description(definition.description);
  for (const auto& step : definition.steps) info.add_steps(step.name);
  return info;
}

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::ListDefinitions(
    grpc::CallbackServerContext* context,
    const v1::ListDefinitionsRequest* /*request*/,
    v1::ListDefinitionsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "ListDefinitions")) return reactor;
  for (const auto& definition : definitions_->Known()) {
    auto current = definitions_->Current(definition->name);
    const bool is_current = current.ok() && *current == definition;
    *response->add_definitions() = InfoOf(*definition, is_current);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OrchestratorService::GetDefinition(
    grpc::CallbackServerContext* context,
    const v1::GetDefinitionRequest* request,
    v1::GetDefinitionResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "GetDefinition")) return reactor;
  if (auto valid = FirstError(
          {CheckText("saga_type", request->saga_type(), kMaxNameLength,
                     /*required=*/true),
           CheckNotNegative("version", request->version(),
                            "0: the current one")});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  boost::asio::post(reads_->pool, [this, reactor, request, response] {
    int version = request->version();
    auto current = definitions_->Current(request->saga_type());
    if (version == 0) {
      if (!current.ok()) {
        reactor->Finish(ToGrpcStatus(current.status()));
        return;
      }
      version = (*current)->version;
    }
    auto definition = definitions_->Version(request->saga_type(), version);
    auto source = store_->GetDefinition(request->saga_type(), version);
    if (!definition.ok() || !source.ok()) {
      reactor->Finish(ToGrpcStatus(definition.ok() ? source.status()
                                                   : definition.status()));
      return;
    }
    *response->mutable_info() =
        InfoOf(**definition, current.ok() && (*current)->version == version);
    response->set_source_yaml(*source);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace saga::api
