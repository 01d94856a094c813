#include "tools/sagactl/render.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/table.h"

namespace saga::sagactl {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr size_t kResultWidth = 80;
constexpr size_t kEventDataWidth = 70;
constexpr size_t kListErrorWidth = 60;

std::string StripPrefix(const std::string& name, std::string_view prefix) {
  if (name.compare(0, prefix.size(), prefix) == 0) {
    return name.substr(prefix.size());
  }
  return name;
}

std::string Dash(std::string_view text) {
  return text.empty() ? "-" : std::string(text);
}

// Dumping never throws: invalid UTF-8 is replaced instead.
std::string Dump(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

void EmbedJsonStrings(json& value) {
  if (value.is_array()) {
    for (json& element : value) EmbedJsonStrings(element);
    return;
  }
  if (!value.is_object()) return;
  for (auto& [key, field] : value.items()) {
    if (EndsWith(key, "_json") && field.is_string()) {
      const std::string& text = field.get_ref<const std::string&>();
      if (text.empty()) {
        field = nullptr;
        continue;
      }
      json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) field = std::move(parsed);
    } else {
      EmbedJsonStrings(field);
    }
  }
}

absl::StatusOr<json> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) {
    return absl::InternalError("cannot render " + message.GetTypeName() +
                               " as JSON: " + std::string(status.message()));
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InternalError("protobuf produced invalid JSON for " +
                               message.GetTypeName());
  }
  EmbedJsonStrings(value);
  return value;
}

std::string StepDuration(const v1::Step& step, int64_t now_unix_ms) {
  if (step.started_unix_ms() == 0) return "-";
  if (step.ended_unix_ms() != 0) {
    return FormatDuration(
        milliseconds(step.ended_unix_ms() - step.started_unix_ms()));
  }
  switch (step.status()) {
    case v1::STEP_STATUS_RUNNING:
    case v1::STEP_STATUS_WAITING_RETRY:
    case v1::STEP_STATUS_WAITING:
    case v1::STEP_STATUS_COMPENSATING:
      return FormatDuration(
                 milliseconds(now_unix_ms - step.started_unix_ms())) +
             " so far";
    default:
      return "-";
  }
}

// An asynchronous step accepted by its participant is RUNNING with no call
// in flight: it waits for CompleteStep until its due time.
bool AwaitsCompletion(const v1::Step& step) {
  return step.completion_due_unix_ms() != 0;
}

std::string StepStatusColumn(const v1::Step& step) {
  return AwaitsCompletion(step) ? "ACCEPTED" : StepStatusName(step.status());
}

// This round's attempts, and all rounds' when an operator retry started a
// new round: "1 (4 in all)".
std::string Attempts(int round, int total) {
  std::string text = std::to_string(round);
  if (total > round) text += " (" + std::to_string(total) + " in all)";
  return text;
}

// The call an operator must look at in an ended saga: the participant and
// action (or compensation) of the step whose compensation gave up, else of
// the step that failed; "" when none failed or the server did not say.
std::string FailedCall(const v1::Saga& saga) {
  for (const v1::Step& step : saga.steps()) {
    if (step.status() == v1::STEP_STATUS_COMPENSATION_FAILED &&
        !step.participant().empty()) {
      return step.participant() + " " + step.compensation() +
             " (compensating step " + step.name() + ")";
    }
  }
  for (const v1::Step& step : saga.steps()) {
    if (step.status() == v1::STEP_STATUS_FAILED &&
        !step.participant().empty()) {
      return step.participant() + " " + step.action() + " (step " +
             step.name() + ")";
    }
  }
  return "";
}

std::string StepResult(const v1::Step& step) {
  if (step.status() == v1::STEP_STATUS_WAITING) {
    std::string waiting =
        step.waits_for_signal().empty()
            ? "waiting"
            : "waiting for signal '" + step.waits_for_signal() + "'";
    if (step.waiting_until_unix_ms() != 0) {
      waiting += " until " + FormatTimestamp(step.waiting_until_unix_ms());
    }
    return waiting;
  }
  if (AwaitsCompletion(step)) {
    return "waiting for completion until " +
           FormatTimestamp(step.completion_due_unix_ms());
  }
  std::string result =
      step.error().empty() ? CompactJson(step.output_json()) : step.error();
  if (step.outcome_unknown()) {
    result = result.empty() ? "outcome unknown" : "outcome unknown; " + result;
  }
  return Truncate(OneLine(result), kResultWidth);
}

// "{}" and "null" carry nothing worth a column.
std::string ShortEventData(const std::string& data_json) {
  std::string compact = CompactJson(data_json);
  if (compact == "{}" || compact == "null") return "";
  return Truncate(OneLine(compact), kEventDataWidth);
}

std::string KeyValueBlock(
    const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& [key, value] : rows) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : rows) {
    out += key + ":";
    out.append(width - key.size() + 2, ' ');
    out += OneLine(value);
    out += '\n';
  }
  return out;
}

}  // namespace

std::string SagaStatusName(v1::SagaStatus status) {
  const std::string& name = v1::SagaStatus_Name(status);
  if (name.empty()) return std::to_string(static_cast<int>(status));
  return StripPrefix(name, "SAGA_STATUS_");
}

std::string StepStatusName(v1::StepStatus status) {
  const std::string& name = v1::StepStatus_Name(status);
  if (name.empty()) return std::to_string(static_cast<int>(status));
  return StripPrefix(name, "STEP_STATUS_");
}

absl::StatusOr<v1::SagaStatus> ParseSagaStatus(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (upper.rfind("SAGA_STATUS_", 0) != 0) upper = "SAGA_STATUS_" + upper;
  v1::SagaStatus status;
  if (v1::SagaStatus_Parse(upper, &status) &&
      status != v1::SAGA_STATUS_UNSPECIFIED) {
    return status;
  }
  return absl::InvalidArgumentError(
      "unknown saga status \"" + std::string(text) +
      "\" (expected RUNNING, COMPENSATING, COMPLETED, COMPENSATED or FAILED)");
}

bool IsTerminal(v1::SagaStatus status) {
  return status == v1::SAGA_STATUS_COMPLETED || EndedBadly(status);
}

bool EndedBadly(v1::SagaStatus status) {
  return status == v1::SAGA_STATUS_COMPENSATED ||
         status == v1::SAGA_STATUS_FAILED;
}

std::string CompactJson(std::string_view json_text) {
  json value = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::string(json_text);
  return Dump(value, -1);
}

absl::StatusOr<std::string> RenderJson(
    const google::protobuf::Message& message) {
  absl::StatusOr<json> value = ToJson(message);
  if (!value.ok()) return value.status();
  return Dump(*value, 2) + "\n";
}

absl::StatusOr<std::string> RenderSagaDetailJson(
    const v1::Saga& saga, const v1::GetSagaHistoryResponse& history) {
  absl::StatusOr<json> saga_json = ToJson(saga);
  if (!saga_json.ok()) return saga_json.status();
  absl::StatusOr<json> history_json = ToJson(history);
  if (!history_json.ok()) return history_json.status();
  json out = json::object();
  out["saga"] = std::move(*saga_json);
  out["events"] = (*history_json)["events"];
  return Dump(out, 2) + "\n";
}

std::string RenderSagaTable(const v1::Saga& saga, int64_t now_unix_ms) {
  std::string type = saga.saga_type();
  if (saga.definition_version() != 0) {
    type += " (version " + std::to_string(saga.definition_version()) + ")";
  }
  std::string created = FormatTimestamp(saga.created_unix_ms());
  if (saga.created_unix_ms() != 0) {
    created += " (" +
               FormatAge(milliseconds(now_unix_ms - saga.created_unix_ms())) +
               " ago)";
  }
  std::string updated = FormatTimestamp(saga.updated_unix_ms());
  std::vector<std::pair<std::string, std::string>> rows = {
      {"ID", Dash(saga.saga_id())},
      {"Type", Dash(type)},
      {"Status", SagaStatusName(saga.status())},
      {"Current step", Dash(saga.current_step())},
      {"Error", Dash(saga.error())},
      {"Idempotency key", Dash(saga.idempotency_key())},
      {"Trace", Dash(saga.traceparent())},
      {"Started by", Dash(saga.started_by())},
      {"Created", created},
      {"Updated", updated},
  };
  if (!saga.parent_saga_id().empty()) {
    rows.push_back({"Parent", saga.parent_saga_id() + " (step " +
                                  saga.parent_step() + ")"});
  }
  if (!saga.business_key().empty()) {
    rows.push_back({"Business key", saga.business_key()});
  }
  if (!saga.rerun_of().empty()) rows.push_back({"Rerun of", saga.rerun_of()});
  if (!saga.reruns().empty()) {
    std::string reruns;
    for (const std::string& rerun : saga.reruns()) {
      reruns += (reruns.empty() ? "" : ", ") + rerun;
    }
    rows.push_back({"Reruns", reruns});
  }
  if (std::string failed = FailedCall(saga); !failed.empty()) {
    rows.push_back({"Failed call", failed});
  }
  if (saga.start_at_unix_ms() != 0) {
    rows.push_back(
        {"Scheduled start", FormatTimestamp(saga.start_at_unix_ms())});
  }
  if (saga.deadline_unix_ms() != 0) {
    rows.push_back(
        {"Deadline", FormatTimestamp(saga.deadline_unix_ms()) +
                         (saga.deadline_passed() ? " (passed)" : "")});
  }
  rows.push_back({"Input", Dash(CompactJson(saga.input_json()))});
  std::string out = KeyValueBlock(rows);
  out += "\nSteps:\n";
  if (saga.steps().empty()) {
    out += "  (none)\n";
    return out;
  }
  Table table({"NAME", "STATUS", "ATTEMPTS", "COMP_ATTEMPTS", "DURATION",
               "OUTPUT/ERROR"});
  int group = 0;
  for (const v1::Step& step : saga.steps()) {
    // A parallel group: a row of its own, then its steps indented, each
    // with its branch's number.
    if (step.parallel_group() != 0 && step.parallel_group() != group) {
      table.AddRow({"parallel:", "", "", "", "", ""});
    }
    group = step.parallel_group();
    const std::string name =
        group == 0 ? step.name()
                   : "  [" + std::to_string(step.parallel_branch()) + "] " +
                         step.name();
    table.AddRow({name, StepStatusColumn(step),
                  Attempts(step.attempts(), step.total_attempts()),
                  Attempts(step.compensation_attempts(),
                           step.total_compensation_attempts()),
                  StepDuration(step, now_unix_ms), StepResult(step)});
  }
  out += table.Render();
  if (!saga.signals().empty()) {
    out += "\nSignals:\n";
    Table signals({"NAME", "KEY", "RECEIVED", "CONSUMED BY", "PAYLOAD"});
    for (const v1::ReceivedSignal& signal : saga.signals()) {
      signals.AddRow({signal.name(), signal.idempotency_key(),
                      FormatTimestamp(signal.received_unix_ms()),
                      signal.consumed_by_step().empty()
                          ? "(kept)"
                          : signal.consumed_by_step(),
                      Truncate(OneLine(CompactJson(signal.payload_json())),
                               kResultWidth)});
    }
    out += signals.Render();
  }
  std::vector<std::pair<std::string, std::string>> children;
  for (const v1::Step& step : saga.steps()) {
    if (!step.child_saga_id().empty()) {
      children.push_back({step.name(), step.child_saga_id()});
    }
  }
  if (!children.empty()) {
    out += "\nChild sagas:\n";
    Table table({"STEP", "CHILD SAGA"});
    for (const auto& [step, child] : children) table.AddRow({step, child});
    out += table.Render();
  }
  return out;
}

std::string RenderHistoryTable(const v1::GetSagaHistoryResponse& history) {
  if (history.events().empty()) return "  (no events)\n";
  int64_t first_ms = history.events(0).recorded_unix_ms();
  Table table({"TIME", "ELAPSED", "SEQ", "TYPE", "STEP", "ATTEMPT", "DATA"});
  for (const v1::SagaEvent& event : history.events()) {
    std::string elapsed = event.recorded_unix_ms() == 0 || first_ms == 0
                              ? "-"
                              : "+" + FormatDuration(milliseconds(
                                          event.recorded_unix_ms() - first_ms));
    table.AddRow({FormatTimeOfDay(event.recorded_unix_ms()), elapsed,
                  std::to_string(event.seq()), event.type(), event.step(),
                  event.attempt() == 0 ? "" : std::to_string(event.attempt()),
                  ShortEventData(event.data_json())});
  }
  return table.Render();
}

std::string RenderSagaDetailTable(const v1::Saga& saga,
                                  const v1::GetSagaHistoryResponse& history,
                                  int64_t now_unix_ms) {
  return RenderSagaTable(saga, now_unix_ms) + "\nTimeline (UTC):\n" +
         RenderHistoryTable(history);
}

namespace {

// `list`'s table with each error cut to `error_width` (0: whole, >0: at
// least 3) or, with `columns` > 0, to what the other columns leave of it.
std::string ListTable(const v1::ListSagasResponse& response,
                      int64_t now_unix_ms, size_t error_width, size_t columns) {
  if (response.sagas().empty()) return "No sagas found.\n";
  constexpr size_t kMinErrorWidth = 20;
  bool keys = false;
  for (const v1::Saga& saga : response.sagas()) {
    keys = keys || !saga.business_key().empty();
  }
  std::vector<std::string> headers = {"ID",   "TYPE",     "STATUS",
                                      "STEP", "ATTEMPTS", "AGE"};
  if (keys) headers.push_back("BUSINESS KEY");
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> widths;
  for (const std::string& header : headers) {
    widths.push_back(DisplayWidth(header));
  }
  for (const v1::Saga& saga : response.sagas()) {
    std::string age =
        saga.created_unix_ms() == 0
            ? ""
            : FormatAge(milliseconds(now_unix_ms - saga.created_unix_ms()));
    std::vector<std::string> row = {
        saga.saga_id(),
        saga.saga_type(),
        SagaStatusName(saga.status()),
        saga.current_step(),
        saga.current_attempt() == 0 ? ""
                                    : std::to_string(saga.current_attempt()),
        age};
    if (keys) row.push_back(saga.business_key());
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(OneLine(row[i])));
    }
    row.push_back(OneLine(saga.error()));
    rows.push_back(std::move(row));
  }
  if (columns > 0) {
    size_t used = 0;
    for (size_t width : widths) used += width + 2;  // two spaces after each
    error_width =
        columns > used + kMinErrorWidth ? columns - used : kMinErrorWidth;
  }
  headers.push_back("ERROR");
  Table table(headers);
  for (std::vector<std::string>& row : rows) {
    if (error_width > 0) row.back() = Truncate(row.back(), error_width);
    table.AddRow(std::move(row));
  }
  return table.Render();
}

}  // namespace

std::string RenderSagaListTable(const v1::ListSagasResponse& response,
                                int64_t now_unix_ms) {
  return ListTable(response, now_unix_ms, kListErrorWidth, 0);
}

std::string RenderSagaListTable(const v1::ListSagasResponse& response,
                                int64_t now_unix_ms, size_t columns) {
  return ListTable(response, now_unix_ms, 0, columns);
}

std::string StepsOutline(const v1::DefinitionInfo& info) {
  // A server without step details (older) lists the names only.
  if (info.step_details_size() != info.steps_size()) {
    std::string out;
    for (const std::string& step : info.steps()) {
      if (!out.empty()) out += " > ";
      out += step;
    }
    return out;
  }
  const auto& steps = info.step_details();
  std::string out;
  for (int i = 0; i < steps.size(); ++i) {
    const v1::DefinitionStep& step = steps[i];
    const int group = step.parallel_group();
    const bool opens =
        group != 0 && (i == 0 || steps[i - 1].parallel_group() != group);
    if (i > 0) {
      const bool next_branch =
          group != 0 && !opens &&
          steps[i - 1].parallel_branch() != step.parallel_branch();
      out += next_branch ? " | " : " > ";
    }
    if (opens) out += "(";
    out += step.name();
    if (group != 0 &&
        (i + 1 == steps.size() || steps[i + 1].parallel_group() != group)) {
      out += ")";
    }
  }
  return out;
}

std::string RenderDefinitionsTable(
    const v1::ListDefinitionsResponse& response) {
  if (response.definitions().empty()) return "No saga definitions.\n";
  Table table({"TYPE", "VERSION", "CURRENT", "STEPS", "DESCRIPTION"});
  for (const v1::DefinitionInfo& info : response.definitions()) {
    table.AddRow({info.saga_type(), std::to_string(info.version()),
                  info.current() ? "yes" : "no", StepsOutline(info),
                  Truncate(OneLine(info.description()), kListErrorWidth)});
  }
  return table.Render();
}

std::string RenderWatchLine(const v1::SagaEvent& event) {
  // Wide enough for the longest type, CompensationRetryScheduled.
  constexpr size_t kTypeWidth = 26;
  // Seq padded so that types line up for the first thousand events.
  constexpr size_t kSeqWidth = 4;
  std::string seq = "#" + std::to_string(event.seq());
  if (seq.size() < kSeqWidth) seq.append(kSeqWidth - seq.size(), ' ');
  std::string line = FormatTimeOfDay(event.recorded_unix_ms()) + "  " + seq +
                     "  " + event.type();
  if (event.type().size() < kTypeWidth) {
    line.append(kTypeWidth - event.type().size(), ' ');
  }
  if (!event.step().empty()) line += "  " + event.step();
  if (event.attempt() != 0) {
    line += " attempt " + std::to_string(event.attempt());
  }
  std::string data = ShortEventData(event.data_json());
  if (!data.empty()) line += "  " + data;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return OneLine(line) + "\n";
}

std::string RenderOutboxEventLine(const v1::OutboxEvent& event) {
  // Wide enough for the longest type, saga.compensation.started.
  constexpr size_t kTypeWidth = 25;
  const json header =
      json::parse(event.header_json(), nullptr, /*allow_exceptions=*/false);
  std::string step;
  if (header.is_object() && header.contains("step") &&
      header["step"].is_string()) {
    step = header["step"].get<std::string>();
  }
  std::string line = FormatTimeOfDay(event.recorded_unix_ms()) + "  #" +
                     std::to_string(event.position()) + "  " + event.type();
  if (event.type().size() < kTypeWidth) {
    line.append(kTypeWidth - event.type().size(), ' ');
  }
  line += "  " + event.saga_id();
  if (!step.empty()) line += "  " + step;
  std::string data = ShortEventData(event.payload_json());
  if (!data.empty()) line += "  " + data;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return OneLine(line) + "\n";
}

absl::StatusOr<std::string> RenderJsonLine(
    const google::protobuf::Message& message) {
  absl::StatusOr<json> value = ToJson(message);
  if (!value.ok()) return value.status();
  return Dump(*value, -1) + "\n";
}

}  // namespace saga::sagactl
