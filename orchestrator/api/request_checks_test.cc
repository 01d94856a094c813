#include "orchestrator/api/request_checks.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::api {
namespace {

constexpr char kId[] = "0f8c2b6e-3d1a-4c5b-9e7f-a1b2c3d4e5f6";

std::string MessageOf(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(CheckUtf8Test, AcceptsUtf8) {
  for (const std::string& good : std::vector<std::string>{
           "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
           "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", std::string("a\0b", 3)}) {
    EXPECT_TRUE(CheckUtf8("input_json", good).ok()) << good;
  }
}

TEST(CheckUtf8Test, RefusesMalformedSequencesNamingTheFieldAndOffset) {
  EXPECT_EQ(MessageOf(CheckUtf8("input_json", "{\"a\":\"\xff\"}")),
            "input_json is not valid UTF-8 (at byte 6: '\\xff\"}')");
  for (const std::string bad : {
           "\x80",              // continuation byte first
           "\xc0\xaf",          // overlong '/'
           "\xc3",              // truncated
           "\xe0\x80\xaf",      // overlong
           "\xed\xa0\x80",      // surrogate U+D800
           "\xf4\x90\x80\x80",  // past U+10FFFF
           "\xf5\x80\x80\x80",  // no such lead byte
           "\xe2\x82",          // truncated euro sign
           "\xe2\x28\xa1",      // bad continuation
       }) {
    EXPECT_FALSE(CheckUtf8("f", "ok " + bad).ok()) << Shown(bad);
    EXPECT_EQ(MessageOf(CheckUtf8("f", "ok " + bad))
                  .rfind("f is not valid UTF-8 (at byte 3: ", 0),
              0u);
  }
}

TEST(CheckSagaIdTest, AcceptsCanonicalLowercaseUuids) {
  EXPECT_TRUE(CheckSagaId("saga_id", kId).ok());
}

TEST(CheckSagaIdTest, RefusesEveryOtherShapeNamingTheFieldAndValue) {
  EXPECT_EQ(MessageOf(CheckSagaId("saga_id", "")), "saga_id is required");
  EXPECT_EQ(MessageOf(CheckSagaId("saga_id", "not-a-saga-id")),
            "saga_id 'not-a-saga-id' is not a saga id (expected a lowercase "
            "UUID such as 123e4567-e89b-42d3-a456-426614174000)");
  for (const std::string bad :
       {"0F8C2B6E-3D1A-4C5B-9E7F-A1B2C3D4E5F6",   // uppercase
        "0f8c2b6e3d1a4c5b9e7fa1b2c3d4e5f6",       // no dashes
        "0f8c2b6e-3d1a-4c5b-9e7f-a1b2c3d4e5f",    // short
        "0f8c2b6e-3d1a-4c5b-9e7f-a1b2c3d4e5f6a",  // long
        "0f8c2b6e-3d1a-4c5b-9e7f_a1b2c3d4e5f6",   // wrong separator
        "0f8c2b6e-3d1a-4c5b-9e7f-a1b2c3d4e5fg",   // not hex
        "' OR 1=1 --"}) {
    EXPECT_FALSE(CheckSagaId("saga_id", bad).ok()) << bad;
  }
  EXPECT_EQ(MessageOf(CheckSagaId("saga_id", std::string(1000, 'a'))),
            "saga_id '" + std::string(64, 'a') +
                "'... is not a saga id (expected a lowercase UUID such as "
                "123e4567-e89b-42d3-a456-426614174000)");
}

TEST(ShownTest, EscapesUnprintableBytesAndQuotes) {
  EXPECT_EQ(Shown(std::string("a\0b\n'\\\xff", 7)),
            "'a\\x00b\\x0a\\x27\\x5c\\xff'");
}

TEST(CheckTextTest, RefusesOversizedTextAndNulBytes) {
  EXPECT_TRUE(CheckText("reason", "", 10).ok());
  EXPECT_TRUE(CheckText("reason", "0123456789", 10).ok());
  EXPECT_EQ(MessageOf(CheckText("reason", "", 10, /*required=*/true)),
            "reason is required");
  EXPECT_EQ(MessageOf(CheckText("reason", "0123456789x", 10)),
            "reason is 11 bytes; the limit is 10");
  EXPECT_EQ(MessageOf(CheckText("idempotency_key", std::string("k\0y", 3), 10)),
            "idempotency_key contains a NUL byte at offset 1: 'k\\x00y'");
}

TEST(CheckNotNegativeTest, NamesFieldValueAndNote) {
  EXPECT_TRUE(CheckNotNegative("timeout_ms", 0).ok());
  EXPECT_EQ(MessageOf(CheckNotNegative("timeout_ms", -1)),
            "timeout_ms -1 must not be negative");
  EXPECT_EQ(MessageOf(CheckNotNegative("version", -2, "0: the current one")),
            "version -2 must not be negative (0: the current one)");
}

TEST(PageTokenTest, RoundTrips) {
  const std::string token = EncodePageToken({1700000000123, kId});
  absl::StatusOr<PageCursor> cursor = DecodePageToken(token);
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(cursor->created_ms, 1700000000123);
  EXPECT_EQ(cursor->saga_id, kId);
}

TEST(PageTokenTest, TheFirstCursorOfAllIsZero) {
  const std::string token = EncodePageToken({0, kId});
  absl::StatusOr<PageCursor> cursor = DecodePageToken(token);
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  EXPECT_EQ(cursor->created_ms, 0);
}

TEST(PageTokenTest, RefusesMalformedTokens) {
  const std::string id = kId;
  for (const std::string& bad : std::vector<std::string>{
           "not a token", "." + id, "12." + id + "x", "12.", "-5." + id,
           "+5." + id, "99999999999999999999999." + id, "1x." + id, "012." + id,
           "00." + id, "12.not-a-saga-id", std::string("12\0.", 4) + id}) {
    absl::StatusOr<PageCursor> cursor = DecodePageToken(bad);
    ASSERT_FALSE(cursor.ok()) << bad;
    EXPECT_EQ(MessageOf(cursor.status()),
              "page_token " + Shown(bad) +
                  " is malformed: pass the next_page_token of the previous "
                  "ListSagas response unchanged");
  }
}

TEST(PageLimitTest, DefaultsRefusesNegativeAndOversizedPages) {
  EXPECT_EQ(*PageLimit(0, 50, 1000), 50);
  EXPECT_EQ(*PageLimit(1, 50, 1000), 1);
  EXPECT_EQ(*PageLimit(1000, 50, 1000), 1000);
  EXPECT_EQ(MessageOf(PageLimit(-1, 50, 1000).status()),
            "page_size -1 is out of range: it must be between 0 (the "
            "default, 50) and 1000");
  EXPECT_EQ(MessageOf(PageLimit(1001, 50, 1000).status()),
            "page_size 1001 is out of range: it must be between 0 (the "
            "default, 50) and 1000");
  EXPECT_FALSE(PageLimit(INT32_MAX, 50, 1000).ok());
  EXPECT_FALSE(PageLimit(INT32_MIN, 50, 1000).ok());
}

TEST(FirstErrorTest, TheFirstFailedCheckWins) {
  EXPECT_TRUE(FirstError({absl::OkStatus(), absl::OkStatus()}).ok());
  EXPECT_EQ(FirstError({absl::OkStatus(), absl::InvalidArgumentError("a"),
                        absl::NotFoundError("b")}),
            absl::InvalidArgumentError("a"));
}

}  // namespace
}  // namespace saga::api
