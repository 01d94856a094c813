#include "orchestrator/core/duration.h"

#include "gtest/gtest.h"

namespace saga::core {
namespace {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(ParseDurationMs("250ms"), 250);
  EXPECT_EQ(ParseDurationMs("250"), 250);
  EXPECT_EQ(ParseDurationMs("2s"), 2000);
  EXPECT_EQ(ParseDurationMs("5m"), 300000);
  EXPECT_EQ(ParseDurationMs("1h"), 3600000);
  EXPECT_EQ(ParseDurationMs("-3s"), -3000);
}

TEST(DurationTest, RefusesWhatIsNotADuration) {
  EXPECT_EQ(ParseDurationMs(""), std::nullopt);
  EXPECT_EQ(ParseDurationMs("h"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("1d"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("1h30m"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("1.5s"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("1234567890123"), std::nullopt);
}

TEST(DurationTest, FormatsCompactly) {
  EXPECT_EQ(FormatDurationMs(0), "0ms");
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(1500), "1.5s");
  EXPECT_EQ(FormatDurationMs(1250), "1.25s");
  EXPECT_EQ(FormatDurationMs(2000), "2s");
  EXPECT_EQ(FormatDurationMs(90000), "1m30s");
  EXPECT_EQ(FormatDurationMs(3600000), "1h");
  EXPECT_EQ(FormatDurationMs(3600000 + 5 * 60000 + 999), "1h5m");
  EXPECT_EQ(FormatDurationMs(-2000), "-2s");
}

}  // namespace
}  // namespace saga::core
