#include "tools/sagactl/table.h"

#include "gtest/gtest.h"

namespace saga::sagactl {
namespace {

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"NAME", "STATUS", "NOTE"});
  table.AddRow({"reserve_slot", "SUCCEEDED", ""});
  table.AddRow({"a", "FAILED", "boom"});
  EXPECT_EQ(table.Render(),
            "NAME          STATUS     NOTE\n"
            "reserve_slot  SUCCEEDED  -\n"
            "a             FAILED     boom\n");
}

TEST(TableTest, MeasuresUtf8InCodePointsAndFlattensNewlines) {
  Table table({"WHO", "X"});
  table.AddRow({"Zoë", "1"});
  table.AddRow({"a\nb", "2"});
  EXPECT_EQ(table.Render(),
            "WHO  X\n"
            "Zoë  1\n"
            "a b  2\n");
}

TEST(TableTest, EmptyTableHasOnlyHeaders) {
  Table table({"A", "B"});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "A  B\n");
}

TEST(TruncateTest, CutsOnCodePoints) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("exactly10!", 10), "exactly10!");
  EXPECT_EQ(Truncate("abcdefghijk", 10), "abcdefg...");
  EXPECT_EQ(Truncate("ééééé", 4), "é...");
  EXPECT_EQ(DisplayWidth("ééé"), 3u);
}

TEST(OneLineTest, ReplacesControlCharacters) {
  EXPECT_EQ(OneLine("a\tb\r\nc"), "a b  c");
}

}  // namespace
}  // namespace saga::sagactl
