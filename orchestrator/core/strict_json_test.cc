#include "orchestrator/core/strict_json.h"

#include <string>

#include "gtest/gtest.h"

namespace saga::core {
namespace {

using Json = nlohmann::json;

std::string Refusal(const std::string& text) {
  absl::StatusOr<Json> parsed = ParseStrictJson(text, "input");
  EXPECT_FALSE(parsed.ok()) << text;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(StrictJsonTest, ParsesWhatTheLenientParserParses) {
  for (const std::string text :
       {R"({"a":1,"b":[true,null,{"c":"d"}],"e":{"f":-2.5e3}})", "[]", "0",
        "\"x\"", R"({"k":{"k":{"k":1}}})", R"([{"a":1},{"a":2}])",
        R"({"n":18446744073709551615,"m":-9223372036854775808})"}) {
    absl::StatusOr<Json> parsed = ParseStrictJson(text, "input");
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(*parsed, Json::parse(text)) << text;
  }
}

// The same key in different objects, or a key equal to a value, is fine.
TEST(StrictJsonTest, SameKeyInSiblingObjectsIsNotADuplicate) {
  EXPECT_TRUE(
      ParseStrictJson(R"({"a":{"x":1},"b":{"x":2},"x":"x"})", "input").ok());
}

TEST(StrictJsonTest, RefusesADuplicateKeyNamingIt) {
  EXPECT_EQ(Refusal(R"({"patient_id":"p-1003","patient_id":"p-1001","x":1})"),
            "input has the key 'patient_id' twice");
}

TEST(StrictJsonTest, RefusesADuplicateKeyAtAnyDepthNamingItsPath) {
  EXPECT_EQ(Refusal(R"({"a":{"b":[0,{"c":1,"c":2}]}})"),
            "input has the key 'c' twice in a.b[1]");
  EXPECT_EQ(Refusal(R"([{"k":1},[{"z":0,"z":0}]])"),
            "input has the key 'z' twice in [1][0]");
  // Equal values are a duplicate all the same.
  EXPECT_EQ(Refusal(R"({"o":{"v":1,"v":1}})"),
            "input has the key 'v' twice in o");
}

// Keys are compared after unescaping: "\u0061" is "a".
TEST(StrictJsonTest, EscapedSpellingsOfOneKeyAreADuplicate) {
  EXPECT_EQ(Refusal(R"({"a":1,"\u0061":2})"), "input has the key 'a' twice");
}

TEST(StrictJsonTest, QuotedKeysAndPathsStayShort) {
  const std::string key(5000, 'k');
  const std::string message =
      Refusal("{\"" + key + "\":{\"" + key + "\":1,\"" + key + "\":2}}");
  EXPECT_LT(message.size(), 1024u);
  EXPECT_EQ(message.rfind("input has the key 'kkk", 0), 0u) << message;
  EXPECT_NE(message.find("...' twice in kkk"), std::string::npos) << message;
}

TEST(StrictJsonTest, ANulInADuplicateKeyIsEscapedInTheMessage) {
  EXPECT_EQ(Refusal(std::string("{\"a\\u0000b\":1,\"a\\u0000b\":2}")),
            "input has the key 'a\\u0000b' twice");
}

TEST(StrictJsonTest, MalformedTextGivesTheParserMessage) {
  EXPECT_EQ(Refusal("{nope").rfind("input is not valid JSON: "
                                   "[json.exception.parse_error.101]",
                                   0),
            0u);
  EXPECT_EQ(Refusal("").rfind("input is not valid JSON: ", 0), 0u);
  EXPECT_EQ(Refusal("1e999").rfind("input is not valid JSON: "
                                   "[json.exception.out_of_range.406]",
                                   0),
            0u);
  EXPECT_EQ(Refusal("\"\xff\"").rfind("input is not valid JSON: ", 0), 0u);
  // Regression (found by the fuzzer): nlohmann's lexer ends the input at a
  // NUL byte, so "1\0<anything>" parsed as 1.
  EXPECT_EQ(Refusal(std::string("{\"a\":1}\0\xff garbage", 14)),
            "input is not valid JSON: a NUL byte at offset 7 (inside a "
            "string, write it as \\u0000)");
  // A duplicate before the syntax error is reported as the duplicate.
  EXPECT_EQ(Refusal(R"({"a":1,"a":2,)"), "input has the key 'a' twice");
}

}  // namespace
}  // namespace saga::core
