// Bad input that the service refuses before anything reaches the store:
// every malformed request gets a precise gRPC status and message and writes
// nothing. The refusals that need PostgreSQL (the store's own answers, the
// server's receive limit) stay in tests/integration/bad_input_itest.cc.
#include <gtest/gtest.h>

#include <cctype>

#include "orchestrator/api/service_test_fixture.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;
using Stub = v1::SagaOrchestrator::Stub;

constexpr char kBooking[] = "appointment_booking";
const std::string kValidInput = kBookingInput;

struct Case {
  std::string what;
  RpcCall call;
  StatusCode code;
  // The exact message, or its beginning when it ends in '*'.
  std::string message;
};

RpcCall Start(const std::string& type, const std::string& input,
              const std::string& key = "") {
  v1::StartSagaRequest request;
  request.set_saga_type(type);
  request.set_input_json(input);
  request.set_idempotency_key(key);
  return Call(&Stub::StartSaga, request);
}

template <typename Request>
Request WithId(const std::string& saga_id) {
  Request request;
  request.set_saga_id(saga_id);
  return request;
}

RpcCall List(int page_size, const std::string& token = "", int status = 0,
             int64_t created_after = 0, const std::string& parent = "") {
  v1::ListSagasRequest request;
  request.set_parent_saga_id(parent);
  request.set_page_size(page_size);
  request.set_page_token(token);
  request.set_status(static_cast<v1::SagaStatus>(status));
  request.set_created_after_unix_ms(created_after);
  return Call(&Stub::ListSagas, request);
}

RpcCall Signal(const std::string& saga_id, const std::string& name,
               const std::string& payload, const std::string& key) {
  v1::SignalSagaRequest request;
  request.set_saga_id(saga_id);
  request.set_name(name);
  request.set_payload_json(payload);
  request.set_idempotency_key(key);
  return Call(&Stub::SignalSaga, request);
}

RpcCall StartAt(int64_t start_at_ms) {
  v1::StartSagaRequest request;
  request.set_saga_type(kBooking);
  request.set_input_json(kBookingInput);
  request.set_start_at_unix_ms(start_at_ms);
  return Call(&Stub::StartSaga, request);
}

std::string NotASagaId(const std::string& shown) {
  return "saga_id " + shown +
         " is not a saga id (expected a lowercase UUID such as "
         "123e4567-e89b-42d3-a456-426614174000)";
}

// What the store holds: every saga's id and history length, and the outbox.
std::string Contents(store::MemoryStore& store) {
  store::ListQuery query;
  query.limit = 1000;
  auto page = store.List(query);
  EXPECT_TRUE(page.ok()) << page.status();
  std::string contents;
  for (const auto& summary :
       page.ok() ? page->sagas : std::vector<store::SagaSummary>()) {
    auto record = store.Load(summary.saga_id);
    contents += summary.saga_id + ":" +
                std::to_string(record.ok() ? record->events.size() : 0) + " ";
  }
  return contents + "outbox:" + std::to_string(store.Outbox().size());
}

TEST(BadRequestTest, EveryBadRequestGetsAPreciseErrorAndWritesNothing) {
  ServiceHarness harness;
  // One finished saga, so the store is not empty and ids are real.
  v1::StartSagaResponse started;
  ASSERT_TRUE(harness.Stub()
                  .StartSaga(
                      Context().get(),
                      [] {
                        v1::StartSagaRequest request;
                        request.set_saga_type(kBooking);
                        request.set_input_json(kBookingInput);
                        return request;
                      }(),
                      &started)
                  .ok());
  const std::string id = started.saga_id();
  v1::AwaitSagaRequest await_end = WithId<v1::AwaitSagaRequest>(id);
  await_end.set_timeout_ms(60000);
  v1::AwaitSagaResponse ended;
  ASSERT_TRUE(
      harness.Stub().AwaitSaga(Context().get(), await_end, &ended).ok());
  ASSERT_EQ(ended.saga().status(), v1::SAGA_STATUS_COMPLETED);
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));

  const std::string before = Contents(harness.store());
  const std::string padding = std::string(300 * 1024, 'x');
  const std::string oversized = R"({"patient_id":"p-1001","pad":")" + padding +
                                R"(","preferred_date":"2026-12-03",)"
                                R"("specialty":"cardiology"})";
  const std::string deep = R"({"patient_id":"p-1001","preferred_date":"d",)"
                           R"("specialty":"s","x":)" +
                           std::string(1000, '[') + std::string(1000, ']') +
                           "}";
  v1::RetrySagaRequest retry_without_reason = WithId<v1::RetrySagaRequest>(id);
  v1::SkipStepRequest skip_without_step = WithId<v1::SkipStepRequest>(id);
  skip_without_step.mutable_operator_()->set_reason("by hand");
  v1::MarkCompensatedRequest mark_nul_name =
      WithId<v1::MarkCompensatedRequest>(id);
  mark_nul_name.mutable_operator_()->set_reason("by hand");
  mark_nul_name.mutable_operator_()->set_name(std::string("a\0b", 3));
  v1::CancelSagaRequest cancel_long_reason = WithId<v1::CancelSagaRequest>(id);
  cancel_long_reason.set_reason(std::string(1025, 'r'));
  v1::AwaitSagaRequest await_negative = WithId<v1::AwaitSagaRequest>(id);
  await_negative.set_timeout_ms(-1);
  v1::GetDefinitionRequest definition_negative;
  definition_negative.set_saga_type(kBooking);
  definition_negative.set_version(-1);
  v1::GetDefinitionRequest definition_unknown;
  definition_unknown.set_saga_type("no_such_saga");

  const std::vector<Case> cases = {
      // StartSaga: the input and the other fields.
      {"invalid JSON", Start(kBooking, R"({"patient_id": "p-1001",)"),
       StatusCode::INVALID_ARGUMENT, "input is not valid JSON: *"},
      {"empty input", Start(kBooking, ""), StatusCode::INVALID_ARGUMENT,
       "input is not valid JSON: *"},
      {"non-object input", Start(kBooking, R"(["p-1001"])"),
       StatusCode::INVALID_ARGUMENT, "input must be a JSON object"},
      {"unknown saga type", Start("no_such_saga", kValidInput),
       StatusCode::NOT_FOUND,
       "unknown saga type 'no_such_saga' (known: appointment_booking)"},
      {"missing saga type", Start("", kValidInput),
       StatusCode::INVALID_ARGUMENT, "saga_type is required"},
      {"oversized saga type", Start(std::string(200, 's'), kValidInput),
       StatusCode::INVALID_ARGUMENT,
       "saga_type is 200 bytes; the limit is 128"},
      {"missing field",
       Start(kBooking, R"({"patient_id":"p-1001","preferred_date":"d"})"),
       StatusCode::INVALID_ARGUMENT,
       "input field 'specialty' is required (string)"},
      {"mistyped field",
       Start(kBooking,
             R"({"patient_id":42,"preferred_date":"d","specialty":"s"})"),
       StatusCode::INVALID_ARGUMENT,
       "input field 'patient_id' must be of type string, got number"},
      {"oversized input", Start(kBooking, oversized),
       StatusCode::INVALID_ARGUMENT,
       "input is " + std::to_string(oversized.size()) +
           " bytes; the limit is 262144"},
      {"deep nesting", Start(kBooking, deep), StatusCode::INVALID_ARGUMENT,
       "input nests objects/arrays deeper than 64 levels (at byte 127)"},
      // Regression: this one used to kill the orchestrator.
      {"number overflow",
       Start(kBooking, R"({"patient_id":"p","preferred_date":"d",)"
                       R"("specialty":"s","n":1e400})"),
       StatusCode::INVALID_ARGUMENT,
       "input is not valid JSON: [json.exception.out_of_range.406] number "
       "overflow parsing '1e400'"},
      {"NUL in the input",
       Start(kBooking, R"({"patient_id":"p\u0000","preferred_date":"d",)"
                       R"("specialty":"s"})"),
       StatusCode::INVALID_ARGUMENT,
       "input field 'patient_id' contains a NUL character (\\u0000), which "
       "cannot be stored"},
      {"NUL in the idempotency key",
       Start(kBooking, kValidInput, std::string("k\0y", 3)),
       StatusCode::INVALID_ARGUMENT,
       "idempotency_key contains a NUL byte at offset 1: 'k\\x00y'"},
      {"oversized idempotency key",
       Start(kBooking, kValidInput, std::string(129, 'k')),
       StatusCode::INVALID_ARGUMENT,
       "idempotency_key is 129 bytes; the limit is 128"},
      // Regression: protobuf refused these before the handler, answering
      // UNIMPLEMENTED with no message.
      {"invalid UTF-8 in the input",
       Start(kBooking,
             "{\"patient_id\":\"p-\xff"
             "1001\",\"preferred_date\":\"2026-12-03\","
             "\"specialty\":\"cardiology\"}"),
       StatusCode::INVALID_ARGUMENT,
       "input_json is not valid UTF-8 (at byte 17: '\\xff1001\"*"},
      {"invalid UTF-8 in the idempotency key",
       Start(kBooking, kValidInput, "k\xc0\xafy"), StatusCode::INVALID_ARGUMENT,
       "idempotency_key is not valid UTF-8 (at byte 1: '\\xc0\\xafy')"},
      // Regression: the last value won.
      {"a key twice in the input",
       Start(kBooking, R"({"patient_id":"p-1003","patient_id":"p-1001",)"
                       R"("preferred_date":"2026-12-03",)"
                       R"("specialty":"cardiology"})"),
       StatusCode::INVALID_ARGUMENT, "input has the key 'patient_id' twice"},
      {"a key twice deep in the input",
       Start(kBooking, R"({"patient_id":"p-1001","preferred_date":"d",)"
                       R"("specialty":"s","notes":[{"a":1},{"a":1,"a":2}]})"),
       StatusCode::INVALID_ARGUMENT, "input has the key 'a' twice in notes[1]"},
      {"scheduled start in seconds", StartAt(1798102800),
       StatusCode::INVALID_ARGUMENT,
       "start_at_unix_ms 1798102800 is before 2001: Unix milliseconds are "
       "expected, not seconds"},
      {"scheduled start beyond a year", StartAt(int64_t{1} << 50),
       StatusCode::INVALID_ARGUMENT,
       "start_at_unix_ms 1125899906842624 is more than a year ahead"},
      {"negative scheduled start", StartAt(-1), StatusCode::INVALID_ARGUMENT,
       "start_at_unix_ms -1 must not be negative"},
      // SignalSaga.
      {"SignalSaga malformed id", Signal("x", "approval", "{}", "k"),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'x'")},
      {"SignalSaga without name", Signal(id, "", "{}", "k"),
       StatusCode::INVALID_ARGUMENT, "name is required"},
      {"SignalSaga without key", Signal(id, "approval", "{}", ""),
       StatusCode::INVALID_ARGUMENT, "idempotency_key is required"},
      {"SignalSaga NUL in the name",
       Signal(id, std::string("a\0b", 3), "{}", "k"),
       StatusCode::INVALID_ARGUMENT,
       "name contains a NUL byte at offset 1: 'a\\x00b'"},
      {"SignalSaga invalid JSON payload", Signal(id, "approval", "{", "k"),
       StatusCode::INVALID_ARGUMENT, "payload_json is not valid JSON: *"},
      {"SignalSaga non-object payload", Signal(id, "approval", "[1]", "k"),
       StatusCode::INVALID_ARGUMENT, "payload_json must be a JSON object"},
      {"SignalSaga NUL in the payload",
       Signal(id, "approval", R"({"by":"a\u0000"})", "k"),
       StatusCode::INVALID_ARGUMENT,
       "payload_json field 'by' contains a NUL character (\\u0000), which "
       "cannot be stored"},
      {"SignalSaga oversized payload",
       Signal(id, "approval", R"({"pad":")" + padding + R"("})", "k"),
       StatusCode::INVALID_ARGUMENT,
       "payload_json is " + std::to_string(padding.size() + 10) +
           " bytes; the limit is 262144"},
      {"SignalSaga a key twice in the payload",
       Signal(id, "approval", R"({"a":1,"a":2})", "k"),
       StatusCode::INVALID_ARGUMENT, "payload_json has the key 'a' twice"},
      {"SignalSaga to an ended saga", Signal(id, "approval", "{}", "k"),
       StatusCode::FAILED_PRECONDITION, "saga already ended as COMPLETED"},
      // Saga ids.
      {"GetSaga without id",
       Call(&Stub::GetSaga, WithId<v1::GetSagaRequest>("")),
       StatusCode::INVALID_ARGUMENT, "saga_id is required"},
      {"GetSaga malformed id",
       Call(&Stub::GetSaga, WithId<v1::GetSagaRequest>("not-a-saga-id")),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'not-a-saga-id'")},
      {"GetSaga uppercase id",
       Call(&Stub::GetSaga, WithId<v1::GetSagaRequest>(upper)),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'" + upper + "'")},
      {"GetSaga SQL in the id",
       Call(&Stub::GetSaga,
            WithId<v1::GetSagaRequest>("' OR 1=1; DROP TABLE sagas --")),
       StatusCode::INVALID_ARGUMENT,
       NotASagaId("'\\x27 OR 1=1; DROP TABLE sagas --'")},
      {"GetSagaHistory malformed id",
       Call(&Stub::GetSagaHistory,
            WithId<v1::GetSagaHistoryRequest>(std::string(5000, 'a'))),
       StatusCode::INVALID_ARGUMENT,
       NotASagaId("'" + std::string(64, 'a') + "'...")},
      {"AwaitSaga malformed id",
       Call(&Stub::AwaitSaga, WithId<v1::AwaitSagaRequest>("x")),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'x'")},
      {"AwaitSaga negative timeout", Call(&Stub::AwaitSaga, await_negative),
       StatusCode::INVALID_ARGUMENT, "timeout_ms -1 must not be negative"},
      {"CancelSaga malformed id",
       Call(&Stub::CancelSaga, WithId<v1::CancelSagaRequest>("x")),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'x'")},
      {"CancelSaga oversized reason",
       Call(&Stub::CancelSaga, cancel_long_reason),
       StatusCode::INVALID_ARGUMENT, "reason is 1025 bytes; the limit is 1024"},
      {"RetrySaga without reason", Call(&Stub::RetrySaga, retry_without_reason),
       StatusCode::INVALID_ARGUMENT, "operator.reason is required"},
      {"SkipStep without step", Call(&Stub::SkipStep, skip_without_step),
       StatusCode::INVALID_ARGUMENT, "step is required"},
      {"MarkCompensated NUL in the operator name",
       Call(&Stub::MarkCompensated, mark_nul_name),
       StatusCode::INVALID_ARGUMENT,
       "operator.name contains a NUL byte at offset 1: 'a\\x00b'"},
      {"WatchSaga malformed id", WatchSagaCall("x"),
       StatusCode::INVALID_ARGUMENT, NotASagaId("'x'")},
      // Paging.
      {"negative page size", List(-1), StatusCode::INVALID_ARGUMENT,
       "page_size -1 is out of range: it must be between 0 (the default, 50) "
       "and 1000"},
      {"huge page size", List(2147483647), StatusCode::INVALID_ARGUMENT,
       "page_size 2147483647 is out of range: it must be between 0 (the "
       "default, 50) and 1000"},
      {"malformed page token", List(10, "garbage"),
       StatusCode::INVALID_ARGUMENT,
       "page_token 'garbage' is malformed: pass the next_page_token of the "
       "previous ListSagas response unchanged"},
      {"unknown status filter", List(10, "", 99), StatusCode::INVALID_ARGUMENT,
       "status 99 is not a saga status (see saga.v1.SagaStatus)"},
      {"negative creation time", List(10, "", 0, -5),
       StatusCode::INVALID_ARGUMENT,
       "created_after_unix_ms -5 must not be negative"},
      {"parent that is not a saga id", List(10, "", 0, 0, "S1\x01"),
       StatusCode::INVALID_ARGUMENT,
       "parent_saga_id 'S1\\x01' is not a saga id (expected a lowercase "
       "UUID such as *"},
      // Definitions.
      {"negative definition version",
       Call(&Stub::GetDefinition, definition_negative),
       StatusCode::INVALID_ARGUMENT,
       "version -1 must not be negative (0: the current one)"},
      {"unknown definition", Call(&Stub::GetDefinition, definition_unknown),
       StatusCode::NOT_FOUND, "unknown saga type 'no_such_saga' (known: *"},
  };

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const grpc::Status status = c.call(harness.Stub(), *Context());
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    if (!c.message.empty() && c.message.back() == '*') {
      const std::string prefix = c.message.substr(0, c.message.size() - 1);
      EXPECT_EQ(status.error_message().substr(0, prefix.size()), prefix);
      EXPECT_FALSE(status.error_message().empty());
    } else {
      EXPECT_EQ(status.error_message(), c.message);
    }
  }

  EXPECT_EQ(Contents(harness.store()), before)
      << "a refused request changed the store";
}

}  // namespace
}  // namespace saga::api::testing
