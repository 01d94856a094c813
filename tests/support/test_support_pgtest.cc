#include <pqxx/pqxx>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

bool DatabaseExists(const std::string& name) {
  pqxx::connection connection(AdminDsn());
  pqxx::nontransaction work(connection);
  return !work.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name)
              .empty();
}

TEST(TestDatabaseTest, CreatesAUsableDatabaseAndDropsIt) {
  std::string name;
  {
    TestDatabase database("Support-Test");
    name = database.name();
    EXPECT_EQ(name.rfind("support_test_", 0), 0u) << name;
    pqxx::connection connection(database.dsn());
    pqxx::nontransaction work(connection);
    EXPECT_EQ(work.exec1("SELECT current_database()")[0].as<std::string>(),
              name);
    // The connection stays open: the drop must force it out.
    ASSERT_TRUE(DatabaseExists(name));
  }
  EXPECT_FALSE(DatabaseExists(name));
}

TEST(TestDatabaseTest, NamesAreUnique) {
  TestDatabase first("unique");
  TestDatabase second("unique");
  EXPECT_NE(first.name(), second.name());
}

}  // namespace
}  // namespace saga::testing
