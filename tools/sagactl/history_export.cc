#include "tools/sagactl/history_export.h"

#include <string>
#include <utility>

#include "orchestrator/core/definition_loader.h"
#include "tools/sagactl/render.h"

namespace saga::sagactl {

absl::StatusOr<core::History> HistoryFromApi(
    const v1::Saga& saga, const v1::GetSagaHistoryResponse& history,
    const v1::GetDefinitionResponse& definition) {
  const std::string where = "saga " + saga.saga_id();
  const v1::DefinitionInfo& info = definition.info();
  if (info.saga_type() != saga.saga_type() ||
      info.version() != saga.definition_version()) {
    return absl::FailedPreconditionError(
        where + " ran with " + saga.saga_type() + " version " +
        std::to_string(saga.definition_version()) + " but the server sent " +
        info.saga_type() + " version " + std::to_string(info.version()));
  }
  core::History out;
  out.saga.saga_id = saga.saga_id();
  out.saga.saga_type = saga.saga_type();
  out.saga.definition_version = saga.definition_version();
  out.saga.status = SagaStatusName(saga.status());
  out.saga.input_json = saga.input_json();
  out.definition_source = definition.source_yaml();
  absl::StatusOr<core::SagaDefinition> parsed = core::ParseDefinition(
      definition.source_yaml(),
      info.saga_type() + " version " + std::to_string(info.version()));
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(
        where + ": the server's definition does not load: " +
        std::string(parsed.status().message()));
  }
  out.definition = *std::move(parsed);

  out.events.reserve(history.events_size());
  for (int i = 0; i < history.events_size(); ++i) {
    const v1::SagaEvent& event = history.events(i);
    const std::string label = where + ": event " + std::to_string(i) +
                              " (seq " + std::to_string(event.seq()) + ")";
    int step = -1;
    if (!event.step().empty()) {
      step = out.definition.StepIndex(event.step());
      if (step < 0) {
        return absl::FailedPreconditionError(
            label + ": step '" + event.step() + "' is not a step of " +
            out.definition.name + " version " +
            std::to_string(out.definition.version));
      }
    }
    absl::StatusOr<core::Event> decoded =
        core::DecodeEvent(event.type(), event.seq(), event.recorded_unix_ms(),
                          step, event.attempt(), event.data_json());
    if (!decoded.ok()) {
      return absl::FailedPreconditionError(
          label + ": " + std::string(decoded.status().message()));
    }
    out.events.push_back(*std::move(decoded));
  }
  return out;
}

}  // namespace saga::sagactl
