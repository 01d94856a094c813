#include "orchestrator/api/saga_filter.h"

#include <string>

#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/core/business_key.h"

namespace saga::api {
namespace {

// Longest error_contains: longer text than any error is kept is pointless.
constexpr size_t kMaxErrorFilterLength = 1024;

// Both request types spell the filter fields alike.
template <typename Request>
absl::StatusOr<store::ListQuery> FilterQuery(const Request& request) {
  absl::Status valid = FirstError(
      {CheckText("saga_type", request.saga_type(), kMaxNameLength),
       CheckNotNegative("created_after_unix_ms",
                        request.created_after_unix_ms()),
       CheckNotNegative("created_before_unix_ms",
                        request.created_before_unix_ms()),
       request.parent_saga_id().empty()
           ? absl::OkStatus()
           : CheckSagaId("parent_saga_id", request.parent_saga_id()),
       CheckText("business_key", request.business_key(),
                 core::kMaxBusinessKeyBytes),
       request.rerun_of().empty() ? absl::OkStatus()
                                  : CheckSagaId("rerun_of", request.rerun_of()),
       CheckText("step", request.step(), kMaxNameLength),
       CheckText("error_contains", request.error_contains(),
                 kMaxErrorFilterLength)});
  if (!valid.ok()) return valid;
  store::ListQuery query;
  query.status = FromProto(request.status());
  if (request.status() != v1::SAGA_STATUS_UNSPECIFIED && !query.status) {
    return absl::InvalidArgumentError(
        "status " + std::to_string(request.status()) +
        " is not a saga status (see saga.v1.SagaStatus)");
  }
  query.saga_type = request.saga_type();
  query.created_after_ms = request.created_after_unix_ms();
  query.created_before_ms = request.created_before_unix_ms();
  query.parent_saga_id = request.parent_saga_id();
  query.business_key = request.business_key();
  query.rerun_of = request.rerun_of();
  query.step = request.step();
  query.error_contains = request.error_contains();
  return query;
}

}  // namespace

absl::StatusOr<store::ListQuery> SagaFilterQuery(
    const v1::ListSagasRequest& request) {
  return FilterQuery(request);
}

absl::StatusOr<store::ListQuery> SagaFilterQuery(
    const v1::CountSagasRequest& request) {
  return FilterQuery(request);
}

}  // namespace saga::api
