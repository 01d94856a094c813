// The JSON parameters of PgStore's group statements: one array of saga rows,
// one of events and one of outbox messages (the columns are listed with the
// SQL in pg_store.cc). They are written as text straight from the batches:
// payloads that are JSON already (event data, outbox header and payload,
// the saga input) are embedded as they are, with no parse and re-dump, which
// was most of the orchestrator's JSON work per transition.
//
// REQUIRES: the embedded texts are valid JSON (CheckBatch checks the batch;
// event data comes from core::EncodeEventData). Plain strings are escaped,
// and bytes that are not UTF-8 become U+FFFD (as nlohmann's `replace` does),
// so any error text a participant sends is stored rather than failing the
// group.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "orchestrator/store/store.h"

namespace saga::store {

// Appends `text` to `out` as a JSON string literal (quotes included).
void AppendJsonString(std::string& out, std::string_view text);

class GroupRows {
 public:
  GroupRows();

  // The saga row of batch `idx` of a create group: every summary column,
  // with the writer and lease TTL it is leased to.
  void AddCreatedSaga(const AppendBatch& batch, size_t idx);
  // The saga row of batch `idx` of an append group: what Append rewrites,
  // with the expected seq and writer that fence it and the lease TTL it
  // extends.
  void AddAppendedSaga(const AppendBatch& batch, size_t idx);
  // The batch's events (each with its writer) and its outbox messages (in
  // order).
  void AddHistory(const AppendBatch& batch, size_t idx);

  // The three arrays; the builder must not be used afterwards.
  std::string TakeSagas();
  std::string TakeEvents();
  std::string TakeOutbox();

 private:
  std::string sagas_;
  std::string events_;
  std::string outbox_;
};

}  // namespace saga::store
