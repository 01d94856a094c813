// Fuzz target: what a StartSaga caller controls. The bytes are tried as a
// saga input against a definition using every field type, as the saga id
// and page token fields of API requests, as a string field's UTF-8, and
// through the strict JSON parser. Any bytes must give either a canonical
// result or a bounded InvalidArgument message, and never throw.

#include <cstddef>
#include <cstdint>
#include <string>

#include "orchestrator/api/request_checks.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/input.h"
#include "orchestrator/core/state.h"
#include "orchestrator/core/strict_json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using saga::core::SagaDefinition;

constexpr size_t kMaxInputBytes = 1 << 20;
// Error messages go back to the client: they must stay short whatever the
// input.
constexpr size_t kMaxMessageBytes = 1024;

const SagaDefinition& Definition() {
  static const SagaDefinition definition = [] {
    auto def = saga::core::ParseDefinition(
        "name: typed\nversion: 1\ninput:\n  required:\n    s: string\n"
        "    n: number\n    i: integer\n    b: boolean\n    o: object\n"
        "    a: array\nsteps:\n"
        "  - name: first\n    kind: read_only\n    participant: p\n"
        "    action: a\n    input: {s: input.s, deep: input.o.x.y, all: "
        "input}\n",
        "typed.yaml");
    FUZZ_CHECK(def.ok(), def.status().ToString());
    return *def;
  }();
  return definition;
}

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
             status.ToString());
  FUZZ_CHECK(
      !status.message().empty() && status.message().size() <= kMaxMessageBytes,
      std::to_string(status.message().size()));
}

void FuzzSagaInput(const std::string& text) {
  absl::StatusOr<std::string> canonical =
      saga::core::ValidateSagaInput(Definition(), text, kMaxInputBytes);
  if (!canonical.ok()) {
    CheckRefusal(canonical.status());
    return;
  }
  // Canonical means a fixed point: validating it again changes nothing.
  absl::StatusOr<std::string> again =
      saga::core::ValidateSagaInput(Definition(), *canonical, kMaxInputBytes);
  FUZZ_CHECK(again.ok() && *again == *canonical, *canonical);
  saga::core::SagaState state = saga::core::NewSagaState(Definition(), "fuzz");
  state.input_json = *canonical;
  absl::StatusOr<std::string> mapped =
      saga::core::BuildStepInput(Definition(), state, 0);
  FUZZ_CHECK(mapped.ok(), mapped.status().ToString());
}

void FuzzRequestFields(const std::string& text) {
  if (absl::Status id = saga::api::CheckSagaId("saga_id", text); !id.ok()) {
    CheckRefusal(id);
  }
  absl::StatusOr<saga::api::PageCursor> cursor =
      saga::api::DecodePageToken(text);
  if (!cursor.ok()) {
    CheckRefusal(cursor.status());
    return;
  }
  FUZZ_CHECK(saga::api::CheckSagaId("saga_id", cursor->saga_id).ok(), text);
  FUZZ_CHECK(saga::api::EncodePageToken(*cursor) == text, text);
}

// Strict parsing agrees with the lenient parser on everything it accepts,
// and refuses only what that parser refuses, a key given twice or a raw
// NUL byte.
void FuzzStrictJson(const std::string& text) {
  // Comparing trees recurses per level: keep the nesting small.
  if (text.size() > 4096) return;
  absl::StatusOr<nlohmann::json> strict =
      saga::core::ParseStrictJson(text, "input");
  const nlohmann::json lenient =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (strict.ok()) {
    FUZZ_CHECK(!lenient.is_discarded() && *strict == lenient, text);
    return;
  }
  CheckRefusal(strict.status());
  const bool twice =
      strict.status().message().find("' twice") != std::string::npos;
  // nlohmann stops at a NUL byte; the strict parser refuses it.
  const bool nul = text.find('\0') != std::string::npos;
  FUZZ_CHECK(twice || nul || lenient.is_discarded(),
             strict.status().ToString());
}

void FuzzUtf8(const std::string& text) {
  if (absl::Status utf8 = saga::api::CheckUtf8("input_json", text);
      !utf8.ok()) {
    CheckRefusal(utf8);
    // The JSON parser refuses ill-formed UTF-8 too.
    FUZZ_CHECK(!saga::core::ParseStrictJson(text, "input").ok(), text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  FuzzSagaInput(text);
  FuzzRequestFields(text);
  FuzzStrictJson(text);
  FuzzUtf8(text);
  return 0;
}
