// What sagactl prints: tables for people, JSON for scripts. Every function is
// pure (the current time comes in as an argument) so tests can pin output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::sagactl {

// Status names without the enum prefix: "COMPLETED", "WAITING_RETRY". An
// unknown value (a newer server) renders as its number.
std::string SagaStatusName(v1::SagaStatus status);
std::string StepStatusName(v1::StepStatus status);

// Accepts "completed", "COMPLETED" or "SAGA_STATUS_COMPLETED" (any case).
// UNSPECIFIED and unknown names fail with InvalidArgument listing the
// accepted ones.
absl::StatusOr<v1::SagaStatus> ParseSagaStatus(std::string_view text);

// COMPLETED, COMPENSATED or FAILED.
bool IsTerminal(v1::SagaStatus status);
// COMPENSATED or FAILED: the saga did not do what was asked.
bool EndedBadly(v1::SagaStatus status);

// `json_text` on one line if it parses as JSON, else unchanged.
std::string CompactJson(std::string_view json_text);

// The proto3 JSON mapping of `message` (field names as in the .proto, fields
// with default values included), pretty-printed, ending in '\n'. Every string
// field whose name ends in "_json" (input_json, output_json, data_json) is
// replaced by the JSON value it holds (null when empty; left a string if it
// does not parse), so that `jq .saga.input_json.patient_id` works.
absl::StatusOr<std::string> RenderJson(
    const google::protobuf::Message& message);

// `show -o json`: {"saga": <Saga>, "events": [<SagaEvent>...]} rendered as
// RenderJson does.
absl::StatusOr<std::string> RenderSagaDetailJson(
    const v1::Saga& saga, const v1::GetSagaHistoryResponse& history);

// The saga as a block of "Key: value" lines followed by its steps table:
// name, status, attempts, compensation attempts, duration, output or error.
std::string RenderSagaTable(const v1::Saga& saga, int64_t now_unix_ms);

// The timeline: time of day (UTC), time since the first event, seq, type,
// step, attempt and the event data on one shortened line.
std::string RenderHistoryTable(const v1::GetSagaHistoryResponse& history);

// `show`: RenderSagaTable, a blank line, "Timeline:" and RenderHistoryTable.
std::string RenderSagaDetailTable(const v1::Saga& saga,
                                  const v1::GetSagaHistoryResponse& history,
                                  int64_t now_unix_ms);

// `list`: id, type, status, current step, attempts at it, age and error, one
// saga per line.
std::string RenderSagaListTable(const v1::ListSagasResponse& response,
                                int64_t now_unix_ms);
// The same fitted to `columns` (a terminal's width): the error column takes
// what the other columns leave (at least 20 characters); 0: errors whole
// (--wide, or not a terminal). A BUSINESS KEY column comes before the
// error when a listed saga has one.
std::string RenderSagaListTable(const v1::ListSagasResponse& response,
                                int64_t now_unix_ms, size_t columns);

// `definitions`: type, version, whether it is the current one, and its
// steps in order.
// The steps of a definition on one line: "a > (b | c > d) > e", a parallel
// group's branches between parentheses, separated by "|".
std::string StepsOutline(const v1::DefinitionInfo& info);

std::string RenderDefinitionsTable(const v1::ListDefinitionsResponse& response);

// `watch`: one event on one line, as it arrives (no table: widths cannot
// be known in advance): time of day (UTC), seq, type, step, attempt, data.
std::string RenderWatchLine(const v1::SagaEvent& event);

// `events`: one outbox message on one line, as it arrives: the time its
// transaction began (UTC), position, type, saga id, step (from the header)
// and the payload, shortened.
std::string RenderOutboxEventLine(const v1::OutboxEvent& event);

// `watch -o json`: RenderJson on a single line (JSON Lines), ending in '\n'.
absl::StatusOr<std::string> RenderJsonLine(
    const google::protobuf::Message& message);

}  // namespace saga::sagactl
