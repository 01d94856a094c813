// Reading many sagas' records at once on any session (plain SQL text, no
// statement prepared by PgStore), for the retention job: it reads the
// sagas it has locked in its own transaction.
#pragma once

#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"

namespace saga::store {

// The summaries and histories of `saga_ids` as `tx` sees them, in saga id
// order; ids with no saga are left out. Throws what libpqxx throws (the
// caller's pool classifies it); Internal for a stored row that does not
// decode.
absl::StatusOr<std::vector<SagaRecord>> ReadRecords(
    pqxx::transaction_base& tx, const std::vector<std::string>& saga_ids);

}  // namespace saga::store
