#include "orchestrator/store/postgres/group_rows.h"

#include <charconv>
#include <cstdint>
#include <vector>

#include "orchestrator/core/events.h"
#include "orchestrator/store/batch_checks.h"

namespace saga::store {
namespace {

constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8Length(std::string_view text, size_t i) {
  const unsigned char c = text[i];
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) low = 0xA0;
    if (c == 0xED) high = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  const unsigned char second = text[i + 1];
  if (second < low || second > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (!IsContinuation(text[i + k])) return 0;
  }
  return length;
}

// One JSON object appended to an array under construction ("[" or
// "[{...}"); keys are this file's ASCII literals and need no escaping.
class Object {
 public:
  explicit Object(std::string& array) : out_(array) {
    if (out_.size() > 1) out_ += ',';
    out_ += '{';
  }
  ~Object() { out_ += '}'; }
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  Object& Str(const char* key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
    return *this;
  }
  Object& Int(const char* key, int64_t value) {
    Key(key);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
    out_.append(digits, end);
    return *this;
  }
  // `json` must be valid JSON text.
  Object& Raw(const char* key, std::string_view json) {
    Key(key);
    out_ += json;
    return *this;
  }
  Object& Null(const char* key) {
    Key(key);
    out_ += "null";
    return *this;
  }

 private:
  void Key(const char* key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }

  std::string& out_;
  bool first_ = true;
};

// A string rather than embedded JSON: nothing has to vouch for its text.
void AddSnapshot(Object& row, const AppendBatch& batch) {
  if (batch.snapshot.empty()) {
    row.Null("snapshot");
  } else {
    row.Str("snapshot", batch.snapshot);
  }
}

std::string Close(std::string& array) {
  array += ']';
  return std::move(array);
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    if (c >= 0x80) {
      const size_t length = Utf8Length(text, i);
      if (length == 0) {
        out += kReplacementCharacter;
        ++i;
      } else {
        out.append(text.data() + i, length);
        i += length;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case 0:
        // PostgreSQL's jsonb refuses \u0000.
        out += kReplacementCharacter;
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

GroupRows::GroupRows() : sagas_("["), events_("["), outbox_("[") {}

void GroupRows::AddCreatedSaga(const AppendBatch& batch, size_t idx) {
  const SagaSummary& summary = batch.summary;
  Object row(sagas_);
  row.Int("idx", static_cast<int64_t>(idx))
      .Str("saga_id", BatchSagaId(batch))
      .Str("saga_type", summary.saga_type)
      .Int("definition_version", summary.definition_version)
      .Str("status", core::SagaStatusName(summary.status))
      .Str("current_step", summary.current_step)
      .Str("error", summary.error)
      .Raw("input", summary.input_json)
      .Int("last_seq", summary.last_seq)
      .Int("created_ms", summary.created_ms)
      .Int("updated_ms", summary.updated_ms)
      .Int("current_attempt", summary.current_attempt)
      .Str("writer", batch.writer)
      .Int("lease_ttl_ms", batch.lease_ttl.count());
  AddSnapshot(row, batch);
  if (summary.idempotency_key.empty()) {
    row.Null("idempotency_key");
  } else {
    row.Str("idempotency_key", summary.idempotency_key);
  }
  if (summary.parent_saga_id.empty()) {
    row.Null("parent_id").Null("parent_step");
  } else {
    row.Str("parent_id", summary.parent_saga_id)
        .Str("parent_step", summary.parent_step);
  }
  if (summary.business_key.empty()) {
    row.Null("business_key");
  } else {
    row.Str("business_key", summary.business_key);
  }
  if (summary.rerun_of.empty()) {
    row.Null("rerun_of");
  } else {
    row.Str("rerun_of", summary.rerun_of);
  }
}

void GroupRows::AddAppendedSaga(const AppendBatch& batch, size_t idx) {
  const SagaSummary& summary = batch.summary;
  Object row(sagas_);
  row.Int("idx", static_cast<int64_t>(idx))
      .Str("saga_id", BatchSagaId(batch))
      .Int("expected", batch.expected_last_seq)
      .Str("status", core::SagaStatusName(summary.status))
      .Str("current_step", summary.current_step)
      .Str("error", summary.error)
      .Int("last_seq", summary.last_seq)
      .Int("updated_ms", summary.updated_ms)
      .Int("current_attempt", summary.current_attempt)
      .Str("writer", batch.writer)
      .Int("lease_ttl_ms", batch.lease_ttl.count());
  AddSnapshot(row, batch);
}

void GroupRows::AddHistory(const AppendBatch& batch, size_t idx) {
  const std::string& saga_id = BatchSagaId(batch);
  std::vector<std::string> data;  // of batch.events, in order
  data.reserve(batch.events.size());
  for (const core::Event& event : batch.events) {
    data.push_back(core::EncodeEventData(event));
    Object(events_)
        .Str("saga_id", saga_id)
        .Int("seq", event.seq)
        .Str("type", core::EventTypeName(event.type))
        .Int("step", event.step)
        .Int("attempt", event.attempt)
        .Raw("data", data.back())
        .Int("at_ms", event.at_ms)
        .Str("writer", batch.writer);
  }
  int64_t ord = 0;
  for (const core::OutboxMessage& message : batch.outbox) {
    Object row(outbox_);
    row.Str("owner", saga_id)
        .Int("idx", static_cast<int64_t>(idx))
        .Int("ord", ord++)
        .Str("message_id", message.message_id)
        .Str("saga_id", message.saga_id.empty() ? saga_id : message.saga_id)
        .Str("type", message.type)
        .Raw("header", message.header_json)
        .Int("at_ms", message.at_ms);
    // A payload that is its event's data is not sent twice: the statement
    // takes it from the event row (and PostgreSQL parses it once).
    const int64_t at = message.seq - batch.expected_last_seq - 1;
    if (at >= 0 && at < static_cast<int64_t>(data.size()) &&
        data[at] == message.payload_json) {
      row.Int("seq", message.seq);
    } else {
      row.Raw("payload", message.payload_json);
    }
  }
}

std::string GroupRows::TakeSagas() { return Close(sagas_); }
std::string GroupRows::TakeEvents() { return Close(events_); }
std::string GroupRows::TakeOutbox() { return Close(outbox_); }

}  // namespace saga::store
