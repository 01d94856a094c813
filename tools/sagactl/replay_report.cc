#include "tools/sagactl/replay_report.h"

#include <utility>

#include "nlohmann/json.hpp"
#include "orchestrator/core/state.h"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/table.h"

namespace saga::sagactl {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr size_t kReasonWidth = 100;

std::string Dump(const OrderedJson& value, int indent) {
  return value.dump(indent, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string StepName(const core::SagaDefinition& definition, int step) {
  if (step >= 0 && static_cast<size_t>(step) < definition.steps.size()) {
    return definition.steps[step].name;
  }
  return "#" + std::to_string(step);
}

const char* CommandKindName(core::Command::Kind kind) {
  switch (kind) {
    case core::Command::Kind::kInvokeStep:
      return "invoke_step";
    case core::Command::Kind::kInvokeCompensation:
      return "invoke_compensation";
    case core::Command::Kind::kWaitUntil:
      return "wait_until";
    case core::Command::Kind::kFinished:
      return "finished";
    case core::Command::Kind::kAwaitChild:
      return "await_child";
  }
  return "unknown";
}

// "nothing" stays a string; an event is embedded as JSON.
OrderedJson EventOrNull(const std::string& event_json) {
  if (event_json == "nothing") return nullptr;
  OrderedJson parsed =
      OrderedJson::parse(event_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return event_json;
  return parsed;
}

OrderedJson OutcomeJson(const ReplayOutcome& outcome, const char* name_key) {
  OrderedJson out = OrderedJson::object();
  out[name_key] = outcome.name;
  out["saga_id"] = outcome.saga_id;
  if (!outcome.error.ok()) {
    out["ok"] = false;
    out["error"] = std::string(outcome.error.message());
    return out;
  }
  const core::ReplayReport& report = outcome.report;
  out["ok"] = report.ok();
  out["events"] = outcome.events;
  out["matched"] = report.matched;
  out["replayed_against"] = {{"saga_type", outcome.definition.name},
                             {"version", outcome.definition.version}};
  if (report.recorded_definition_version != 0) {
    out["recorded_definition_version"] = report.recorded_definition_version;
  }
  out["final_status"] = core::SagaStatusName(report.state.status);
  OrderedJson commands = OrderedJson::array();
  for (const core::Command& command : report.pending_commands) {
    OrderedJson c = OrderedJson::object();
    c["kind"] = CommandKindName(command.kind);
    if (command.step >= 0) {
      c["step"] = StepName(outcome.definition, command.step);
      c["attempt"] = command.attempt;
    }
    if (command.deadline_ms != 0) c["deadline_ms"] = command.deadline_ms;
    if (command.due_ms != 0) c["due_ms"] = command.due_ms;
    commands.push_back(std::move(c));
  }
  out["pending_commands"] = std::move(commands);
  if (report.divergence.has_value()) {
    const core::Divergence& d = *report.divergence;
    out["divergence"] = {{"index", d.index},
                         {"seq", d.seq},
                         {"recorded", EventOrNull(d.recorded_json)},
                         {"decided", EventOrNull(d.decided_json)},
                         {"reason", d.reason}};
  } else {
    out["divergence"] = nullptr;
  }
  return out;
}

std::string DivergenceHeadline(const core::Divergence& d) {
  return "at event " + std::to_string(d.index) + " (seq " +
         std::to_string(d.seq) + "): " + d.reason;
}

std::string DivergenceDetail(const core::Divergence& d,
                             const std::string& indent) {
  return indent + "recorded: " + d.recorded_json + "\n" + indent +
         "decided:  " + d.decided_json + "\n";
}

std::string Against(const ReplayOutcome& outcome) {
  if (outcome.report.recorded_definition_version == 0) return "";
  return "; replayed against version " +
         std::to_string(outcome.definition.version) + ", recorded with " +
         std::to_string(outcome.report.recorded_definition_version);
}

}  // namespace

std::string DescribeCommands(const std::vector<core::Command>& commands,
                             const core::SagaDefinition& definition) {
  if (commands.empty()) return "nothing";
  std::string out;
  for (const core::Command& command : commands) {
    if (!out.empty()) out += "; ";
    switch (command.kind) {
      case core::Command::Kind::kInvokeStep:
        out += "call " + StepName(definition, command.step) + " attempt " +
               std::to_string(command.attempt);
        break;
      case core::Command::Kind::kInvokeCompensation:
        out += "compensate " + StepName(definition, command.step) +
               " attempt " + std::to_string(command.attempt);
        break;
      case core::Command::Kind::kWaitUntil:
        out += "wait until " + FormatTimeOfDay(command.due_ms);
        break;
      case core::Command::Kind::kFinished:
        out += "finished";
        break;
      case core::Command::Kind::kAwaitChild:
        out += "await the child of " + StepName(definition, command.step);
        break;
    }
  }
  return out;
}

std::string RenderReplayText(const std::vector<ReplayOutcome>& outcomes) {
  std::string out;
  for (const ReplayOutcome& outcome : outcomes) {
    out += outcome.name + ": ";
    if (!outcome.error.ok()) {
      out += "ERROR: " + OneLine(std::string(outcome.error.message())) + "\n";
      continue;
    }
    const core::ReplayReport& report = outcome.report;
    if (report.ok()) {
      out += "OK (" + std::to_string(outcome.events) + " events; ends " +
             core::SagaStatusName(report.state.status) + "; next: " +
             DescribeCommands(report.pending_commands, outcome.definition) +
             Against(outcome) + ")\n";
      continue;
    }
    out += "DIVERGES " + OneLine(DivergenceHeadline(*report.divergence)) +
           "\n" + DivergenceDetail(*report.divergence, "  ");
  }
  return out;
}

std::string RenderReplayJson(const std::vector<ReplayOutcome>& outcomes) {
  OrderedJson histories = OrderedJson::array();
  for (const ReplayOutcome& outcome : outcomes) {
    histories.push_back(OutcomeJson(outcome, "file"));
  }
  OrderedJson out = OrderedJson::object();
  out["histories"] = std::move(histories);
  return Dump(out, 2) + "\n";
}

std::string RenderCheckText(const core::SagaDefinition& candidate,
                            const std::vector<ReplayOutcome>& outcomes) {
  std::string out = "Replaying " + std::to_string(outcomes.size()) +
                    " unfinished " + candidate.name + " saga" +
                    (outcomes.size() == 1 ? "" : "s") + " against version " +
                    std::to_string(candidate.version) + ":\n";
  if (outcomes.empty()) return out + "  (none)\n";
  Table table({"SAGA", "STATUS", "VERSION", "VERDICT"});
  std::string details;
  for (const ReplayOutcome& outcome : outcomes) {
    std::string verdict;
    std::string version;
    if (!outcome.error.ok()) {
      verdict = "ERROR: " + std::string(outcome.error.message());
    } else {
      const core::ReplayReport& report = outcome.report;
      version = std::to_string(report.recorded_definition_version != 0
                                   ? report.recorded_definition_version
                                   : outcome.definition.version);
      if (report.ok()) {
        verdict = "OK";
      } else {
        verdict = "STRANDED " + DivergenceHeadline(*report.divergence);
        details += outcome.name + ": " +
                   OneLine(DivergenceHeadline(*report.divergence)) + "\n" +
                   DivergenceDetail(*report.divergence, "  ");
      }
    }
    table.AddRow({outcome.name, outcome.status, version,
                  Truncate(OneLine(verdict), kReasonWidth)});
  }
  out += table.Render();
  if (!details.empty()) out += "\nStranded:\n" + details;
  return out;
}

std::string RenderCheckJson(const core::SagaDefinition& candidate,
                            const std::vector<ReplayOutcome>& outcomes) {
  OrderedJson sagas = OrderedJson::array();
  for (const ReplayOutcome& outcome : outcomes) {
    OrderedJson saga = OutcomeJson(outcome, "saga");
    saga.erase("saga");
    saga["status"] = outcome.status;
    saga["stranded"] = outcome.error.ok() && !outcome.report.ok();
    sagas.push_back(std::move(saga));
  }
  OrderedJson out = OrderedJson::object();
  out["definition"] = {{"saga_type", candidate.name},
                       {"version", candidate.version}};
  out["sagas"] = std::move(sagas);
  return Dump(out, 2) + "\n";
}

}  // namespace saga::sagactl
