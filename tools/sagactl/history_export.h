// `sagactl export`: what the API says about one saga, turned into a
// self-contained history document (orchestrator/core/history_file.h). Pure.
#pragma once

#include "absl/status/statusor.h"
#include "orchestrator/core/history_file.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::sagactl {

// `definition` must be the version the saga ran with. Each event's step name
// is mapped to its index in that definition and its data decoded with
// core::DecodeEvent. Fails with FailedPrecondition naming the saga and the
// event when the server's answers do not fit together (another definition
// version, a step the definition lacks, an event that does not decode).
absl::StatusOr<core::History> HistoryFromApi(
    const v1::Saga& saga, const v1::GetSagaHistoryResponse& history,
    const v1::GetDefinitionResponse& definition);

}  // namespace saga::sagactl
