// The saga filter that ListSagas and CountSagas share (the same fields, with
// the same numbers, in both requests): checked, then as a store query, so
// both RPCs select the same sagas. Pure; thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::api {

// The request's filter fields as a ListQuery (limit and after left at their
// defaults), or InvalidArgument naming the first bad field.
absl::StatusOr<store::ListQuery> SagaFilterQuery(
    const v1::ListSagasRequest& request);
absl::StatusOr<store::ListQuery> SagaFilterQuery(
    const v1::CountSagasRequest& request);

}  // namespace saga::api
