// Forward-only schema migrations: applies <dir>/NNNN_<what>.sql files not
// yet recorded in a table of applied migrations, in order, each in its own
// transaction together with its record. A recorded file whose checksum
// changed is an error (migrations are never edited once applied), unless
// the file lists the recorded checksum on a line of its own:
//   -- valid-checksum: <md5 of the earlier content>
// which lets a file drop what moved to another set of migrations without
// failing on the databases that applied its earlier content.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

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

// One set of migration files and the table that records them.
struct MigrationSet {
  std::string dir;
  std::string table = kSchemaMigrations;
};

// A service's start-up: applies `sets` in order once the database answers,
// trying again with backoff (100 ms, doubling to 2 s, logged) while it
// cannot be reached, for up to `timeout`. Between tries it calls
// `wait(backoff)`, which returns false to give up early (a shutdown
// request): then Cancelled. An error of the files is returned at once;
// DeadlineExceeded when the database stayed unreachable.
absl::Status ApplyMigrationsWhenReady(
    const std::string& dsn, const std::vector<MigrationSet>& sets,
    std::chrono::seconds timeout,
    const std::function<bool(std::chrono::milliseconds)>& wait);

}  // namespace saga::pg
