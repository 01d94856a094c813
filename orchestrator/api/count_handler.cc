// CountSagas: how many sagas match ListSagas' filter, per status. The count
// runs on the read pool like the other reads.
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/saga_filter.h"
#include "orchestrator/api/status_mapping.h"

namespace saga::api {

grpc::ServerUnaryReactor* OrchestratorService::CountSagas(
    grpc::CallbackServerContext* context, const v1::CountSagasRequest* request,
    v1::CountSagasResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "CountSagas")) return reactor;
  absl::StatusOr<store::ListQuery> query = SagaFilterQuery(*request);
  if (!query.ok()) {
    reactor->Finish(ToGrpcStatus(query.status()));
    return reactor;
  }
  reads_->Post([this, reactor, query = *std::move(query), response] {
    auto counts = store_->Count(query);
    if (!counts.ok()) {
      reactor->Finish(ToGrpcStatus(counts.status()));
      return;
    }
    int64_t total = 0;
    for (const store::StatusCount& count : *counts) {
      v1::SagaStatusCount* entry = response->add_counts();
      entry->set_status(ToProto(count.status));
      entry->set_count(count.count);
      total += count.count;
    }
    response->set_total(total);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace saga::api
