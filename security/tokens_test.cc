#include "security/tokens.h"

#include <cctype>

#include "gtest/gtest.h"

namespace saga::security {
namespace {

TEST(Sha256HexTest, MatchesSha256sum) {
  // printf %s abc | sha256sum
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TokenTableTest, FindsThePrincipalOfAKnownToken) {
  auto table = TokenTable::Create(
      {{"alice", Role::kSubmitter, Sha256Hex("alice-secret")},
       {"ops", Role::kOperator, Sha256Hex("ops-secret")}});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);

  auto alice = table->Find("alice-secret");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->role, Role::kSubmitter);
  auto ops = table->Find("ops-secret");
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(ops->name, "ops");
  EXPECT_EQ(ops->role, Role::kOperator);
}

TEST(TokenTableTest, RefusesUnknownTokensAndHashesThemselves) {
  const std::string hash = Sha256Hex("alice-secret");
  auto table = TokenTable::Create({{"alice", Role::kSubmitter, hash}});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_FALSE(table->Find("alice-secrets").has_value());
  EXPECT_FALSE(table->Find("").has_value());
  // Knowing the configured hash is not knowing the token.
  EXPECT_FALSE(table->Find(hash).has_value());
}

TEST(TokenTableTest, AcceptsUpperCaseHex) {
  std::string hash = Sha256Hex("t");
  for (char& c : hash) c = static_cast<char>(std::toupper(c));
  auto table = TokenTable::Create({{"t", Role::kOperator, hash}});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->Find("t").has_value());
}

TEST(TokenTableTest, RefusesBadEntriesNamingThem) {
  const std::string hash = Sha256Hex("x");
  struct Case {
    std::vector<TokenEntry> entries;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"", Role::kSubmitter, hash}}, "a token has no name"},
      {{{"short", Role::kSubmitter, "abc"}}, "token 'short': sha256 must be"},
      {{{"nothex", Role::kSubmitter, std::string(64, 'g')}},
       "token 'nothex': sha256 must be"},
      {{{"twice", Role::kSubmitter, hash},
        {"twice", Role::kOperator, Sha256Hex("y")}},
       "token 'twice' is configured twice"},
      {{{"a", Role::kSubmitter, hash}, {"b", Role::kOperator, hash}},
       "token 'b' has the same hash as another token"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Create(c.entries);
    ASSERT_FALSE(table.ok()) << c.expected;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(table.status().message().find(c.expected), std::string::npos)
        << table.status();
  }
}

TEST(TokenTableTest, EmptyTableKnowsNoToken) {
  TokenTable table;
  EXPECT_TRUE(table.empty());
  EXPECT_FALSE(table.Find("anything").has_value());
}

TEST(RoleTest, ParsesAndNamesRoles) {
  EXPECT_EQ(*ParseRole("submitter"), Role::kSubmitter);
  EXPECT_EQ(*ParseRole("operator"), Role::kOperator);
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
  EXPECT_STREQ(RoleName(Role::kSubmitter), "submitter");
  auto bad = ParseRole("admin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'admin'"), std::string::npos);
}

TEST(ParseBearerTest, TakesTheTokenOfABearerHeader) {
  EXPECT_EQ(ParseBearer("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearer("bearer abc"), "abc");
  EXPECT_EQ(ParseBearer("BEARER  abc "), "abc");
  EXPECT_FALSE(ParseBearer("Basic abc").has_value());
  EXPECT_FALSE(ParseBearer("Bearer ").has_value());
  EXPECT_FALSE(ParseBearer("Bearer    ").has_value());
  EXPECT_FALSE(ParseBearer("abc").has_value());
  EXPECT_FALSE(ParseBearer("").has_value());
}

}  // namespace
}  // namespace saga::security
