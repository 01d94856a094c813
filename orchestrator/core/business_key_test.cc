#include "orchestrator/core/business_key.h"

#include <string>

#include "gtest/gtest.h"

namespace saga::core {
namespace {

SagaDefinition KeyedBy(const std::string& source) {
  SagaDefinition def;
  def.name = "x";
  def.required_input = {{"patient_id", "string"}, {"order", "integer"}};
  def.business_key_source = source;
  return def;
}

TEST(BusinessKeyTest, TheCallersKeyWins) {
  EXPECT_EQ(*BusinessKeyFor(KeyedBy("input.patient_id"),
                            R"({"patient_id":"p1"})", "mine", "business_key"),
            "mine");
}

TEST(BusinessKeyTest, DerivedFromAStringOrAnIntegerField) {
  const std::string input = R"({"order":42,"patient_id":"p1"})";
  EXPECT_EQ(*BusinessKeyFor(KeyedBy("input.patient_id"), input, "", "k"), "p1");
  EXPECT_EQ(*BusinessKeyFor(KeyedBy("input.order"), input, "", "k"), "42");
  EXPECT_EQ(*BusinessKeyFor(KeyedBy(""), input, "", "k"), "");
}

TEST(BusinessKeyTest, RefusesLongKeysAndNulBytesNamingTheField) {
  const std::string long_key(kMaxBusinessKeyBytes + 1, 'k');
  absl::StatusOr<std::string> given =
      BusinessKeyFor(KeyedBy(""), "{}", long_key, "business_key");
  ASSERT_EQ(given.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(given.status().message(),
            "business_key is 129 bytes; a business key is at most 128");
  absl::StatusOr<std::string> derived =
      BusinessKeyFor(KeyedBy("input.patient_id"),
                     R"({"patient_id":"a\u0000b"})", "", "business_key");
  ASSERT_EQ(derived.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(derived.status().message(),
            "input field 'patient_id' (the definition's business_key) "
            "contains a NUL byte; a business key cannot");
}

TEST(BusinessKeyTest, SourceMustBeARequiredStringOrIntegerInputField) {
  EXPECT_TRUE(CheckBusinessKeySource(KeyedBy("input.order")).ok());
  EXPECT_TRUE(CheckBusinessKeySource(KeyedBy("")).ok());
  EXPECT_FALSE(CheckBusinessKeySource(KeyedBy("input")).ok());
  EXPECT_FALSE(CheckBusinessKeySource(KeyedBy("input.a.b")).ok());
  EXPECT_FALSE(CheckBusinessKeySource(KeyedBy("input.other")).ok());
}

}  // namespace
}  // namespace saga::core
