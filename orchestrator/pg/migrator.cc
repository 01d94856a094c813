#include "orchestrator/pg/migrator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/pg/database_probe.h"
#include "orchestrator/pg/errors.h"

namespace saga::pg {
namespace {

// Any fixed number will do: every service migrates its own database, so
// the lock only has to serialise instances of the same service.
constexpr int64_t kMigrationLockKey = 0x5a6a0001;

constexpr char kQuietNoticesSql[] = "SET client_min_messages TO warning";
constexpr char kLockSql[] = "SELECT pg_advisory_lock($1)";
constexpr char kUnlockSql[] = "SELECT pg_advisory_unlock($1)";
// The migrations' table ({} is its quoted name).
constexpr char kCreateTableSql[] = R"sql(
CREATE TABLE IF NOT EXISTS {} (
  version int PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";
constexpr char kSelectAppliedSql[] = "SELECT version, name, checksum FROM {}";
constexpr char kChecksumSql[] = "SELECT md5($1)";
constexpr char kRecordSql[] =
    "INSERT INTO {} (version, name, checksum) VALUES ($1, $2, $3)";

constexpr char kValidChecksumPrefix[] = "-- valid-checksum:";

// `sql` with the table's quoted name in place of {}.
std::string ForTable(const std::string& sql, const std::string& table) {
  const size_t at = sql.find("{}");
  return sql.substr(0, at) + table + sql.substr(at + 2);
}

struct MigrationFile {
  int version = 0;
  std::string name;  // file name, e.g. 0001_init.sql
  std::string sql;

  // The file lists `checksum` as one of an earlier content.
  bool Accepts(const std::string& checksum) const {
    std::istringstream lines(sql);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(kValidChecksumPrefix, 0) != 0) continue;
      std::istringstream rest(line.substr(sizeof(kValidChecksumPrefix) - 1));
      std::string listed;
      if (rest >> listed && listed == checksum) return true;
    }
    return false;
  }
};

struct AppliedMigration {
  std::string name;
  std::string checksum;
};

// The version of a file named NNNN_<what>.sql, or -1 for another name.
int VersionOf(const std::string& name) {
  constexpr size_t kDigits = 4;
  constexpr char kSuffix[] = ".sql";
  constexpr size_t kSuffixSize = sizeof(kSuffix) - 1;
  if (name.size() <= kDigits + 1 + kSuffixSize || name[kDigits] != '_' ||
      name.compare(name.size() - kSuffixSize, kSuffixSize, kSuffix) != 0) {
    return -1;
  }
  int version = 0;
  for (size_t i = 0; i < kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    version = version * 10 + (name[i] - '0');
  }
  return version;
}

absl::StatusOr<std::vector<MigrationFile>> ReadMigrationFiles(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError("migrations directory '" + dir +
                               "' does not exist");
  }
  std::vector<MigrationFile> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.path().extension() != ".sql") {
      continue;
    }
    const int version = VersionOf(name);
    if (version < 0) {
      return absl::InvalidArgumentError("migration file '" + name + "' in '" +
                                        dir + "' is not named NNNN_<what>.sql");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) {
      return absl::InternalError("cannot read migration file '" +
                                 entry.path().string() + "'");
    }
    files.push_back({version, name, content.str()});
  }
  if (ec) {
    return absl::InternalError("cannot list migrations directory '" + dir +
                               "': " + ec.message());
  }
  std::sort(files.begin(), files.end(),
            [](const MigrationFile& a, const MigrationFile& b) {
              return a.version < b.version;
            });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].version == files[i - 1].version) {
      return absl::InvalidArgumentError(
          "migration files '" + files[i - 1].name + "' and '" + files[i].name +
          "' in '" + dir + "' have the same version");
    }
  }
  return files;
}

// REQUIRES: the migration lock is held on `conn`. Throws what libpqxx
// throws outside a file's own transaction.
absl::Status ApplyLocked(pqxx::connection& conn,
                         const std::vector<MigrationFile>& files,
                         const std::string& dir, const std::string& table) {
  std::map<int, AppliedMigration> applied;
  {
    pqxx::nontransaction tx(conn);
    tx.exec(ForTable(kCreateTableSql, table));
    for (const pqxx::row& row : tx.exec(ForTable(kSelectAppliedSql, table))) {
      applied[row[0].as<int>()] = {row[1].as<std::string>(),
                                   row[2].as<std::string>()};
    }
  }
  for (const MigrationFile& file : files) {
    std::string checksum;
    {
      pqxx::nontransaction tx(conn);
      checksum = tx.exec_params1(kChecksumSql, file.sql)[0].as<std::string>();
    }
    auto it = applied.find(file.version);
    if (it != applied.end()) {
      if (it->second.name != file.name ||
          (it->second.checksum != checksum &&
           !file.Accepts(it->second.checksum))) {
        return absl::FailedPreconditionError(
            "migration '" + file.name + "' in '" + dir +
            "' changed after it was applied (as '" + it->second.name +
            "'); add a new migration instead of editing an applied one");
      }
      continue;
    }
    const std::string what = "migration '" + file.name + "' in '" + dir + "'";
    try {
      pqxx::work tx(conn, "migration");
      tx.exec(file.sql);
      tx.exec_params0(ForTable(kRecordSql, table), file.version, file.name,
                      checksum);
      tx.commit();
    } catch (...) {
      return Classify(std::current_exception(), Phase::kStatement, what,
                      conn.is_open())
          .status;
    }
    spdlog::info("applied migration {} from {}", file.name, dir);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyMigrations(const std::string& dsn, const std::string& dir,
                             const std::string& table) {
  absl::StatusOr<std::vector<MigrationFile>> files = ReadMigrationFiles(dir);
  if (!files.ok()) return files.status();
  const std::string what = "migrating '" + dir + "'";
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(dsn);
  } catch (...) {
    return Classify(std::current_exception(), Phase::kConnect, what).status;
  }
  try {
    {
      pqxx::nontransaction tx(*conn);
      tx.exec(kQuietNoticesSql);
      tx.exec_params(kLockSql, kMigrationLockKey);
    }
    absl::Status status =
        ApplyLocked(*conn, *files, dir, conn->quote_name(table));
    // Closing the session would release the lock too; unlocking explicitly
    // keeps the lock's scope obvious.
    pqxx::nontransaction tx(*conn);
    tx.exec_params(kUnlockSql, kMigrationLockKey);
    return status;
  } catch (...) {
    return Classify(std::current_exception(), Phase::kStatement, what,
                    conn->is_open())
        .status;
  }
}

absl::Status ApplyMigrationsWhenReady(
    const std::string& dsn, const std::vector<MigrationSet>& sets,
    std::chrono::seconds timeout,
    const std::function<bool(std::chrono::milliseconds)>& wait) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds backoff{100};
  DatabaseProbe probe(dsn);
  while (true) {
    absl::Status status = probe.Check();
    for (const MigrationSet& set : sets) {
      if (!status.ok()) break;
      status = ApplyMigrations(dsn, set.dir, set.table);
    }
    switch (status.code()) {
      case absl::StatusCode::kOk:
        return status;
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kDeadlineExceeded:
      case absl::StatusCode::kAborted:
      case absl::StatusCode::kUnknown:
        break;  // not reachable yet, or a commit's outcome unknown
      default:
        return status;
    }
    if (std::chrono::steady_clock::now() + backoff > give_up) {
      return absl::DeadlineExceededError("database still unreachable after " +
                                         std::to_string(timeout.count()) +
                                         " s: " + status.ToString());
    }
    spdlog::warn("database not ready ({}); retrying in {} ms",
                 status.ToString(), backoff.count());
    if (!wait(backoff)) return absl::CancelledError("shutdown requested");
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace saga::pg
