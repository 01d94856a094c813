// Checks of saga.v1.SagaOrchestrator request fields that need no I/O, so a
// malformed request is refused before it reaches the engine or the store.
// Each failure is InvalidArgument with a message naming the field, what was
// expected and (shortened, with unprintable bytes escaped) what was given.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::api {

// The first failed check of a request, or OK.
absl::Status FirstError(std::initializer_list<absl::Status> checks);

// Longest saga type, step name, idempotency key or operator name.
inline constexpr size_t kMaxNameLength = 128;
// Longest cancellation or operator reason.
inline constexpr size_t kMaxReasonLength = 1024;

// `value` as shown in an error message: quoted, at most 64 bytes (then
// "..."), bytes outside printable ASCII as \xNN.
std::string Shown(std::string_view value);

// Saga ids are lowercase canonical UUIDs ("8-4-4-4-12" hex digits), the
// only form the orchestrator hands out. `field` names the request field.
absl::Status CheckSagaId(std::string_view field, std::string_view saga_id);

// Text stored or echoed by the orchestrator: at most `max_bytes` and without
// NUL bytes, which PostgreSQL text cannot hold. Empty is allowed unless
// `required`.
absl::Status CheckText(std::string_view field, std::string_view value,
                       size_t max_bytes, bool required = false);

// Text of a proto3 `string` field, which must be UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF): "<field> is not
// valid UTF-8 (at byte N: <value>)". gRPC's protobuf runtime would refuse
// the whole request with a bare code instead; StartSaga reads its fields
// as bytes and checks them here (see orchestrator_service.h).
absl::Status CheckUtf8(std::string_view field, std::string_view value);

// A count or time that must be >= 0: "<field> <value> must not be negative"
// followed by ` (note)` when `note` is given.
absl::Status CheckNotNegative(std::string_view field, int64_t value,
                              std::string_view note = "");

// Furthest ahead StartSaga may schedule a saga: a year.
inline constexpr int64_t kMaxScheduleAheadMs = int64_t{366} * 24 * 3600 * 1000;

// StartSaga's start_at_unix_ms: 0 (at once), a time already past (at once)
// or one at most kMaxScheduleAheadMs after `now_ms`. A value before 2001
// is refused: it is seconds, not milliseconds.
absl::Status CheckStartAt(int64_t start_at_ms, int64_t now_ms);

// ListSagas paging. A page token is "<created_ms>.<saga_id>" of the last
// saga of the previous page; clients pass it back unchanged.
struct PageCursor {
  int64_t created_ms = 0;
  std::string saga_id;
};
std::string EncodePageToken(const PageCursor& last);
absl::StatusOr<PageCursor> DecodePageToken(std::string_view token);

// The number of sagas to return for `page_size`: `default_size` for 0,
// page_size itself up to `max_size`; negative or larger sizes are refused
// (not clamped: a client asking for more than it can get should know).
absl::StatusOr<int> PageLimit(int64_t page_size, int default_size,
                              int max_size);

}  // namespace saga::api
