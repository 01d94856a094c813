#include "observability/trace_context.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace saga::observability {
namespace {

constexpr char kValid[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, ParsesTheSpecificationsExample) {
  auto parsed = ParseTraceParent(kValid);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->version, "00");
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(parsed->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(parsed->flags, "01");
  EXPECT_EQ(parsed->ToString(), kValid);
}

TEST(TraceContextTest, RefusesMalformedHeaders) {
  for (const char* bad : {
           "",
           "garbage",
           // Upper-case hex.
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           // All-zero trace id and span id.
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           // Version ff is forbidden.
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // Wrong separators and lengths.
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
           // Version 00 has exactly four fields.
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
       }) {
    EXPECT_FALSE(ParseTraceParent(bad).has_value()) << bad;
  }
}

TEST(TraceContextTest, AcceptsLaterVersionsWithExtraFields) {
  auto parsed = ParseTraceParent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(ParseTraceParent(
                   "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")
                   .has_value());
}

TEST(TraceContextTest, NewTracesAreValidAndDistinct) {
  std::set<std::string> trace_ids;
  for (int i = 0; i < 100; ++i) {
    TraceParent trace = NewTrace();
    auto reparsed = ParseTraceParent(trace.ToString());
    ASSERT_TRUE(reparsed.has_value()) << trace.ToString();
    EXPECT_EQ(reparsed->flags, "00");
    trace_ids.insert(trace.trace_id);
  }
  EXPECT_EQ(trace_ids.size(), 100u);
}

TEST(TraceContextTest, ChildSpanKeepsTraceAndFlagsWithANewSpanId) {
  TraceParent parent = *ParseTraceParent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future");
  TraceParent child = NewChildSpan(parent);
  EXPECT_EQ(child.version, "00");
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_EQ(child.flags, parent.flags);
  EXPECT_NE(child.span_id, parent.span_id);
  EXPECT_TRUE(ParseTraceParent(child.ToString()).has_value());
  EXPECT_NE(NewChildSpan(parent).span_id, child.span_id);
}

TEST(TraceContextTest, TraceStateIsForwardedOnlyWhenSane) {
  EXPECT_EQ(SanitizeTraceState("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(SanitizeTraceState(std::string(513, 'a')), "");
  EXPECT_EQ(SanitizeTraceState("a=b\nc=d"), "");
}

}  // namespace
}  // namespace saga::observability
