#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <latch>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/pg/migrator.h"
#include "tests/support/test_support.h"

namespace saga::pg {
namespace {

using ::saga::testing::SourcePath;
using ::saga::testing::TestDatabase;

constexpr char kCommonTable[] = "participant_common_migrations";

int64_t CountRows(const std::string& dsn, const std::string& sql,
                  const std::string& param = "") {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  if (param.empty()) return tx.exec1(sql)[0].as<int64_t>();
  return tx.exec_params1(sql, param)[0].as<int64_t>();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// A directory of migration files, removed at the end of the test.
class MigrationDir {
 public:
  MigrationDir() {
    std::string path =
        std::filesystem::temp_directory_path() / "saga-migrations-XXXXXX";
    path_ = mkdtemp(path.data());
  }
  ~MigrationDir() { std::filesystem::remove_all(path_); }

  void Write(const std::string& name, const std::string& sql) {
    std::ofstream(path_ + "/" + name, std::ios::trunc) << sql;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(MigratorTest, AppliesOnceThenDoesNothing) {
  TestDatabase db("migrator");
  const std::string dir = SourcePath("migrations/orchestrator");
  ASSERT_TRUE(ApplyMigrations(db.dsn(), dir).ok());
  int64_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sql") ++files;
  }
  const char* kCountSql = "SELECT count(*) FROM schema_migrations";
  const char* kLatestSql =
      "SELECT (EXTRACT(EPOCH FROM max(applied_at)) * 1000000)::bigint "
      "FROM schema_migrations";
  EXPECT_EQ(CountRows(db.dsn(), kCountSql), files);
  const int64_t applied_at = CountRows(db.dsn(), kLatestSql);

  const absl::Status again = ApplyMigrations(db.dsn(), dir);
  ASSERT_TRUE(again.ok()) << again;
  EXPECT_EQ(CountRows(db.dsn(), kCountSql), files);
  EXPECT_EQ(CountRows(db.dsn(), kLatestSql), applied_at);
}

TEST(MigratorTest, ConcurrentMigratorsApplyEachFileOnce) {
  TestDatabase db("migrator");
  MigrationDir dir;
  dir.Write("0001_first.sql", "CREATE TABLE first_table (x int);");
  dir.Write("0002_second.sql", "CREATE TABLE second_table (y int);");
  constexpr int kMigrators = 4;
  std::vector<absl::Status> results(kMigrators);
  std::latch start(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = ApplyMigrations(db.dsn(), dir.path());
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& result : results) {
    EXPECT_TRUE(result.ok()) << result;
  }
  EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM schema_migrations"), 2);
}

TEST(MigratorTest, RefusesAChangedAppliedFile) {
  TestDatabase db("migrator");
  MigrationDir dir;
  dir.Write("0001_first.sql", "CREATE TABLE first_table (x int);");
  dir.Write("0002_second.sql", "CREATE TABLE second_table (y int);");
  const absl::Status applied = ApplyMigrations(db.dsn(), dir.path());
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM second_table"), 0);

  dir.Write("0001_first.sql", "CREATE TABLE first_table (x bigint);");
  const absl::Status changed = ApplyMigrations(db.dsn(), dir.path());
  EXPECT_EQ(changed.code(), absl::StatusCode::kFailedPrecondition) << changed;
  EXPECT_NE(changed.message().find("0001_first.sql"), std::string::npos)
      << changed;
}

TEST(MigratorTest, RollsBackAFailingFile) {
  TestDatabase db("migrator");
  MigrationDir dir;
  dir.Write("0001_first.sql", "CREATE TABLE first_table (x int);");
  dir.Write("0002_broken.sql",
            "CREATE TABLE broken_table (y int); SELEC nothing;");
  const absl::Status applied = ApplyMigrations(db.dsn(), dir.path());
  EXPECT_FALSE(applied.ok());
  EXPECT_NE(applied.message().find("0002_broken.sql"), std::string::npos)
      << applied;
  EXPECT_EQ(CountRows(db.dsn(),
                      "SELECT count(*) FROM schema_migrations WHERE name = $1",
                      "0001_first.sql"),
            1);
  EXPECT_EQ(CountRows(db.dsn(),
                      "SELECT count(*) FROM schema_migrations WHERE name = $1",
                      "0002_broken.sql"),
            0);
  EXPECT_EQ(
      CountRows(db.dsn(), "SELECT count(*) FROM pg_tables WHERE tablename = $1",
                "broken_table"),
      0);
}

TEST(MigratorTest, RefusesABadFileName) {
  TestDatabase db("migrator");
  MigrationDir dir;
  dir.Write("1_short.sql", "SELECT 1;");
  EXPECT_EQ(ApplyMigrations(db.dsn(), dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MigratorTest, AFileListingTheAppliedChecksumCountsAsApplied) {
  TestDatabase db("migrator");
  MigrationDir dir;
  dir.Write("0001_first.sql",
            "CREATE TABLE first_table (x int); INSERT INTO first_table "
            "VALUES (1);");
  ASSERT_TRUE(ApplyMigrations(db.dsn(), dir.path()).ok());
  pqxx::connection conn(db.dsn());
  const std::string applied =
      pqxx::nontransaction(conn)
          .exec1("SELECT checksum FROM schema_migrations WHERE version = 1")[0]
          .as<std::string>();

  dir.Write("0001_first.sql", "-- valid-checksum: " + applied +
                                  "\nCREATE TABLE first_table (x int);");
  dir.Write("0002_second.sql", "CREATE TABLE second_table (y int);");
  const absl::Status again = ApplyMigrations(db.dsn(), dir.path());
  ASSERT_TRUE(again.ok()) << again;
  EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM first_table"),
            1);  // not re-run
  EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM second_table"), 0);

  dir.Write("0001_first.sql",
            "-- valid-checksum: 0123456789abcdef\n"
            "CREATE TABLE first_table (x int);");
  EXPECT_EQ(ApplyMigrations(db.dsn(), dir.path()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MigratorTest, SetsOfMigrationsAreRecordedApart) {
  TestDatabase db("migrator");
  MigrationDir shared;
  shared.Write("0001_shared.sql", "CREATE TABLE shared_table (x int);");
  MigrationDir own;
  own.Write("0001_own.sql", "CREATE TABLE own_table (y int);");
  ASSERT_TRUE(ApplyMigrations(db.dsn(), shared.path(), kCommonTable).ok());
  const absl::Status applied = ApplyMigrations(db.dsn(), own.path());
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM own_table"), 0);
  EXPECT_EQ(CountRows(db.dsn(),
                      "SELECT count(*) FROM participant_common_migrations"
                      " WHERE name = '0001_shared.sql'"),
            1);
  EXPECT_EQ(CountRows(db.dsn(),
                      "SELECT count(*) FROM schema_migrations"
                      " WHERE name = '0001_own.sql'"),
            1);
}

// A participant database migrated before the idempotency records moved to
// migrations/participant_common: its 0001_schema.sql (which created them)
// is recorded with the checksum its file lists. The shared file and the
// later own files apply on top, and nothing runs twice.
TEST(MigratorTest, ParticipantDatabasesFromBeforeTheSharedFileMigrate) {
  for (const std::string participant : {"patient", "doctor", "email"}) {
    SCOPED_TRACE(participant);
    TestDatabase db("upgrade");
    const std::string own = SourcePath("migrations/" + participant);
    const std::string schema = ReadFile(own + "/0001_schema.sql");
    const std::string prefix = "-- valid-checksum: ";
    const size_t at = schema.find(prefix);
    ASSERT_NE(at, std::string::npos);
    const std::string old_checksum = schema.substr(
        at + prefix.size(), schema.find('\n', at) - at - prefix.size());
    {
      pqxx::connection conn(db.dsn());
      pqxx::work tx(conn);
      tx.exec(ReadFile(
          SourcePath("migrations/participant_common/0001_idempotency.sql")));
      tx.exec(schema);
      tx.exec(
          "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text "
          "NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL "
          "DEFAULT now())");
      tx.exec_params(
          "INSERT INTO schema_migrations (version, name, checksum) VALUES "
          "(1, '0001_schema.sql', $1)",
          old_checksum);
      tx.exec(
          "INSERT INTO idempotency_keys (key, saga_id, step, action, kind,"
          " outcome) VALUES ('k', 's', 'st', 'a', 'execute', 'succeeded')");
      tx.commit();
    }
    const absl::Status shared = ApplyMigrations(
        db.dsn(), SourcePath("migrations/participant_common"), kCommonTable);
    ASSERT_TRUE(shared.ok()) << shared;
    const absl::Status migrated = ApplyMigrations(db.dsn(), own);
    ASSERT_TRUE(migrated.ok()) << migrated;
    EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM idempotency_keys"), 1);
    int64_t own_files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(own)) {
      if (entry.path().extension() == ".sql") ++own_files;
    }
    EXPECT_EQ(CountRows(db.dsn(), "SELECT count(*) FROM schema_migrations"),
              own_files);
  }
}

}  // namespace
}  // namespace saga::pg
