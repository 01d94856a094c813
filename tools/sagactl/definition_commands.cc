// The definition noun: list the server's definitions, validate a file
// offline, and check a file against the unfinished sagas of its type.
#include <memory>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "orchestrator/core/replay.h"
#include "tools/sagactl/commands.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/replay_report.h"

namespace saga::sagactl {
namespace {

std::shared_ptr<std::string> FileArgument(CLI::App& command) {
  auto path = std::make_shared<std::string>();
  command.add_option("file", *path, "Definition YAML")->required();
  return path;
}

absl::Status Validate(Context& ctx, const std::string& path) {
  absl::StatusOr<core::SagaDefinition> definition = LoadDefinitionArg(path);
  nlohmann::ordered_json out = {{"file", path}, {"ok", definition.ok()}};
  if (!definition.ok()) {
    if (ctx.json()) {
      out["error"] = std::string(definition.status().message());
      ctx.out() << out.dump(2) << "\n";
    }
    return definition.status();
  }
  std::string steps;
  nlohmann::ordered_json step_list = nlohmann::ordered_json::array();
  for (const core::StepDefinition& step : definition->steps) {
    if (!steps.empty()) steps += " > ";
    steps += step.name + " (" + core::StepKindName(step.kind) + ")";
    step_list.push_back(
        {{"name", step.name}, {"kind", core::StepKindName(step.kind)}});
  }
  if (ctx.json()) {
    out["saga_type"] = definition->name;
    out["version"] = definition->version;
    out["steps"] = std::move(step_list);
    ctx.out() << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  ctx.out() << path << ": OK: " << definition->name << " version "
            << definition->version << ", " << definition->steps.size()
            << " steps: " << steps << "\n";
  return absl::OkStatus();
}

absl::Status Check(Context& ctx, const std::string& path) {
  absl::StatusOr<core::SagaDefinition> candidate = LoadDefinitionArg(path);
  if (!candidate.ok()) return candidate.status();
  // FAILED sagas are unfinished too: an operator may retry them.
  std::vector<v1::Saga> sagas;
  for (v1::SagaStatus status :
       {v1::SAGA_STATUS_RUNNING, v1::SAGA_STATUS_COMPENSATING,
        v1::SAGA_STATUS_FAILED}) {
    v1::ListSagasRequest request;
    request.set_saga_type(candidate->name);
    request.set_status(status);
    absl::StatusOr<v1::ListSagasResponse> listed =
        CollectSagas(ctx, request, 0, /*all=*/true);
    if (!listed.ok()) return listed.status();
    for (v1::Saga& saga : *listed->mutable_sagas()) {
      sagas.push_back(std::move(saga));
    }
  }

  std::vector<ReplayOutcome> outcomes;
  int stranded = 0;
  int errors = 0;
  for (const v1::Saga& saga : sagas) {
    ReplayOutcome outcome;
    outcome.name = saga.saga_id();
    outcome.saga_id = saga.saga_id();
    outcome.status = SagaStatusName(saga.status());
    outcome.definition = *candidate;
    absl::StatusOr<core::History> history = FetchHistory(ctx, saga);
    if (!history.ok()) {
      if (ExitCodeFor(history.status()) == kExitUnreachable) {
        return history.status();
      }
      outcome.error = history.status();
      ++errors;
    } else {
      outcome.events = history->events.size();
      outcome.report = core::ReplayHistory(*history, &*candidate);
      if (!outcome.report.ok()) ++stranded;
    }
    outcomes.push_back(std::move(outcome));
  }
  ctx.out() << (ctx.json() ? RenderCheckJson(*candidate, outcomes)
                           : RenderCheckText(*candidate, outcomes));
  const std::string of =
      " of " + std::to_string(outcomes.size()) + " unfinished sagas";
  if (stranded > 0) {
    return DivergedError(std::to_string(stranded) + of +
                         " would be stranded by " + candidate->name +
                         " version " + std::to_string(candidate->version));
  }
  if (errors > 0) {
    return absl::AbortedError("could not check " + std::to_string(errors) + of);
  }
  return absl::OkStatus();
}

}  // namespace

Runner DefineDefinitionList(CLI::App&) {
  return [](Context& ctx) -> absl::Status {
    absl::StatusOr<v1::ListDefinitionsResponse> listed =
        ctx.client().ListDefinitions();
    if (!listed.ok()) return listed.status();
    if (ctx.json()) return ctx.Print(RenderJson(*listed));
    ctx.out() << RenderDefinitionsTable(*listed);
    return absl::OkStatus();
  };
}

Runner DefineDefinitionValidate(CLI::App& command) {
  auto path = FileArgument(command);
  return [path](Context& ctx) { return Validate(ctx, *path); };
}

Runner DefineDefinitionCheck(CLI::App& command) {
  auto path = FileArgument(command);
  return [path](Context& ctx) { return Check(ctx, *path); };
}

}  // namespace saga::sagactl
