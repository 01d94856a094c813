#include "orchestrator/config/dsn.h"

#include "gtest/gtest.h"

namespace saga::config {
namespace {

TEST(MaskDsnTest, HidesKeywordPasswords) {
  EXPECT_EQ(MaskDsn("host=h password=s3cret dbname=d"),
            "host=h password=***** dbname=d");
  EXPECT_EQ(MaskDsn("host=h password = 's3 c\\'ret' dbname=d"),
            "host=h password = '*****' dbname=d");
  EXPECT_EQ(MaskDsn("password=s3cret"), "password=*****");
  EXPECT_EQ(MaskDsn("host=h dbname=d"), "host=h dbname=d");
  // Only the password keyword, not values that look like it.
  EXPECT_EQ(MaskDsn("application_name=password=x"),
            "application_name=password=x");
}

TEST(MaskDsnTest, HidesUriPasswords) {
  EXPECT_EQ(MaskDsn("postgresql://saga:s3cret@db:5432/saga"),
            "postgresql://saga:*****@db:5432/saga");
  EXPECT_EQ(MaskDsn("postgres://saga:s3cret@h1:5432,h2:5432/saga"
                    "?target_session_attrs=read-write"),
            "postgres://saga:*****@h1:5432,h2:5432/saga"
            "?target_session_attrs=read-write");
  EXPECT_EQ(
      MaskDsn("postgresql://saga@db/saga?password=s3cret&sslmode=require"),
      "postgresql://saga@db/saga?password=*****&sslmode=require");
  EXPECT_EQ(MaskDsn("postgresql://saga@db/saga"), "postgresql://saga@db/saga");
}

TEST(DsnHasPasswordTest, FindsEachForm) {
  EXPECT_TRUE(DsnHasPassword("host=h password=x"));
  EXPECT_TRUE(DsnHasPassword("postgresql://u:x@h/d"));
  EXPECT_TRUE(DsnHasPassword("postgresql://u@h/d?password=x"));
  EXPECT_FALSE(DsnHasPassword("host=h user=u"));
  EXPECT_FALSE(DsnHasPassword("postgresql://u@h/d?sslmode=require"));
}

TEST(DsnWithPasswordTest, AddsTheRightSyntaxAndMaskHidesIt) {
  EXPECT_EQ(DsnWithPassword("host=h", "it's\\x"),
            "host=h password='it\\'s\\\\x'");
  EXPECT_EQ(DsnWithPassword("", "p"), "password='p'");
  EXPECT_EQ(DsnWithPassword("postgresql://u@h/d", "a b&c"),
            "postgresql://u@h/d?password=a%20b%26c");
  EXPECT_EQ(DsnWithPassword("postgresql://u@h/d?sslmode=require", "p"),
            "postgresql://u@h/d?sslmode=require&password=p");
  for (const std::string dsn :
       {"host=h", "postgresql://u@h/d", "postgresql://u@h/d?sslmode=disable"}) {
    const std::string with = DsnWithPassword(dsn, "top secret'");
    EXPECT_TRUE(DsnHasPassword(with)) << with;
    EXPECT_EQ(MaskDsn(with).find("secret"), std::string::npos) << with;
  }
}

}  // namespace
}  // namespace saga::config
