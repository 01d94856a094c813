// Forward-only schema migrations: applies <dir>/NNNN_<what>.sql files not
// yet recorded in the schema_migrations table, in order, each in its own
// transaction together with its record. A recorded file whose checksum
// changed is an error (migrations are never edited once applied).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace saga::store {

// `dsn` is a libpq connection string; `dir` holds the .sql files.
// Safe to run concurrently from several processes (takes an advisory lock).
absl::Status ApplyMigrations(const std::string& dsn, const std::string& dir);

}  // namespace saga::store
