// Forward-only schema migrations: applies <dir>/NNNN_<what>.sql files not
// yet recorded in a table of applied migrations, in order, each in its own
// transaction together with its record. A recorded file whose checksum
// changed is an error (migrations are never edited once applied), unless
// the file lists the recorded checksum on a line of its own:
//   -- valid-checksum: <md5 of the earlier content>
// which lets a file drop what moved to another set of migrations without
// failing on the databases that applied its earlier content.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace saga::pg {

// The table of the database's own migrations.
inline constexpr char kSchemaMigrations[] = "schema_migrations";

// `dsn` is a libpq connection string; `dir` holds the .sql files; `table`
// records them (created if missing), so that several sets of migrations,
// each numbered from 0001, can be applied to one database. Safe to run
// concurrently from several processes (takes an advisory lock).
// Unavailable/Unknown: the database could not be reached or the outcome of
// a file's commit is unknown (run again); other errors are the files'.
absl::Status ApplyMigrations(const std::string& dsn, const std::string& dir,
                             const std::string& table = kSchemaMigrations);

}  // namespace saga::pg
