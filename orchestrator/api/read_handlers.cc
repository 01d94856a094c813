// The reading RPCs: GetSaga, ListSagas, GetSagaHistory and the
// definitions. Store reads run on the read pool.
#include <algorithm>

#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/saga_filter.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/core/step_kind.h"

namespace saga::api {

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
  reads_->Post([this, context, reactor, request, response, caller = *caller] {
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
  absl::StatusOr<store::ListQuery> query = SagaFilterQuery(*request);
  auto limit = PageLimit(request->page_size(), options_.default_page_size,
                         options_.max_page_size);
  absl::Status valid = FirstError({query.status(), limit.status()});
  if (valid.ok() && !request->page_token().empty()) {
    auto after = DecodePageToken(request->page_token());
    valid = after.status();
    if (after.ok()) query->after = {after->created_ms, after->saga_id};
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  query->limit = *limit;
  reads_->Post([this, reactor, query = *std::move(query), response] {
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
  if (auto valid =
          FirstError({CheckSagaId("saga_id", request->saga_id()),
                      CheckNotNegative("after_seq", request->after_seq(),
                                       "0: from the first event"),
                      CheckNotNegative("page_size", request->page_size(),
                                       "0: every event")});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  // 0 stays 0 (the whole history, as before paging existed).
  const int limit = std::min(request->page_size(), options_.max_page_size);
  reads_->Post([this, reactor, request, response, limit] {
    auto page =
        store_->LoadHistory(request->saga_id(), request->after_seq(), limit);
    if (!page.ok()) {
      reactor->Finish(ToGrpcStatus(page.status()));
      return;
    }
    auto definition = definitions_->Version(page->summary.saga_type,
                                            page->summary.definition_version);
    if (!definition.ok()) {
      reactor->Finish(ToGrpcStatus(definition.status()));
      return;
    }
    response->set_saga_id(request->saga_id());
    for (const auto& event : page->events) {
      *response->add_events() = EventToProto(**definition, event);
    }
    response->set_next_after_seq(
        page->events.empty() ? request->after_seq() : page->events.back().seq);
    response->set_has_more(page->more);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

namespace {

v1::DefinitionInfo InfoOf(const core::SagaDefinition& definition,
                          bool current) {
  v1::DefinitionInfo info;
  info.set_saga_type(definition.name);
  info.set_version(definition.version);
  info.set_current(current);
  info.set_description(definition.description);
  for (const auto& step : definition.steps) {
    info.add_steps(step.name);
    v1::DefinitionStep* detail = info.add_step_details();
    detail->set_name(step.name);
    detail->set_kind(core::StepKindName(step.kind));
    detail->set_participant(step.participant);
    detail->set_action(step.action);
    detail->set_compensation(step.compensation);
    detail->set_parallel_group(step.group + 1);
    detail->set_parallel_branch(step.group < 0 ? 0 : step.branch + 1);
    detail->set_async_completion(step.async_completion);
    detail->set_signal(step.signal);
    detail->set_saga_type(step.saga_type);
  }
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
  reads_->Post([this, reactor, request, response] {
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
