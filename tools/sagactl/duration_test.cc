#include "tools/sagactl/duration.h"

#include <chrono>

#include "gtest/gtest.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(*ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(*ParseDuration("1h2m3s4ms"), milliseconds(3723004));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDurationTest, RejectsMalformedText) {
  for (const char* text : {"", "30", "s", "-5s", "5x", "5 s", "1.2.3s", ".s",
                           "1s2", "10d", "99999999999999999999h", "1e3s"}) {
    absl::StatusOr<milliseconds> parsed = ParseDuration(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(parsed.status().message().find("invalid duration"),
                std::string::npos);
    }
  }
}

TEST(FormatDurationTest, PicksACompactUnit) {
  EXPECT_EQ(FormatDuration(milliseconds(-3)), "0ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0ms");
  EXPECT_EQ(FormatDuration(milliseconds(450)), "450ms");
  EXPECT_EQ(FormatDuration(milliseconds(1234)), "1.2s");
  EXPECT_EQ(FormatDuration(milliseconds(9960)), "10.0s");
  EXPECT_EQ(FormatDuration(milliseconds(12500)), "12s");
  EXPECT_EQ(FormatDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(125000)), "2m5s");
  EXPECT_EQ(FormatDuration(milliseconds(3780000)), "1h3m");
  EXPECT_EQ(FormatDuration(milliseconds(7200000)), "2h");
}

TEST(FormatAgeTest, FollowsKubectl) {
  EXPECT_EQ(FormatAge(milliseconds(-1000)), "0s");
  EXPECT_EQ(FormatAge(milliseconds(45000)), "45s");
  EXPECT_EQ(FormatAge(milliseconds(200000)), "3m20s");
  EXPECT_EQ(FormatAge(milliseconds(180000)), "3m");
  EXPECT_EQ(FormatAge(milliseconds(42 * 60000)), "42m");
  EXPECT_EQ(FormatAge(milliseconds(185 * 60000)), "3h5m");
  EXPECT_EQ(FormatAge(milliseconds(20 * 3600000LL)), "20h");
  EXPECT_EQ(FormatAge(milliseconds(51 * 3600000LL)), "2d3h");
  EXPECT_EQ(FormatAge(milliseconds(40 * 24 * 3600000LL)), "40d");
}

TEST(FormatTimestampTest, RendersUtcWithMillis) {
  // 2024-05-01T12:00:00.123Z
  EXPECT_EQ(FormatTimestamp(1714564800123), "2024-05-01 12:00:00.123Z");
  EXPECT_EQ(FormatTimeOfDay(1714564800123), "12:00:00.123");
  EXPECT_EQ(FormatTimestamp(0), "-");
  EXPECT_EQ(FormatTimeOfDay(0), "-");
}

}  // namespace
}  // namespace saga::sagactl
