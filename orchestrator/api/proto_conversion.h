// Conversions from the core's and the store's types to the public API's
// messages. Pure.
#pragma once

#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"
#include "orchestrator/core/state.h"
#include "orchestrator/store/store.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::api {

v1::SagaStatus ToProto(core::SagaStatus status);
v1::StepStatus ToProto(core::StepStatus status);
// None for SAGA_STATUS_UNSPECIFIED.
std::optional<core::SagaStatus> FromProto(v1::SagaStatus status);

// A saga row without steps (for lists).
v1::Saga SummaryToProto(const store::SagaSummary& summary);

// A full saga: the summary plus the state folded from its history.
v1::Saga SagaToProto(const core::SagaDefinition& definition,
                     const store::SagaSummary& summary,
                     const core::SagaState& state);

v1::SagaEvent EventToProto(const core::SagaDefinition& definition,
                           const core::Event& event);

}  // namespace saga::api
