#include "orchestrator/engine/call_window.h"

#include "gtest/gtest.h"

namespace saga::engine {
namespace {

TEST(CallWindowTest, CountsCallsFailuresAndSlowCallsWithinTheWindow) {
  CallWindow window(1000);
  window.Add(0, /*failure=*/true, /*slow=*/false);
  window.Add(10, false, true);
  window.Add(999, true, true);
  EXPECT_EQ(window.CountsAt(999), (CallCounts{3, 2, 2}));
}

TEST(CallWindowTest, OldResultsLeaveATenthAtATime) {
  CallWindow window(1000);  // slices of 100 ms
  window.Add(50, true, false);
  window.Add(150, true, false);
  window.Add(250, false, false);
  // The window ending at 1099 starts with the slice [100, 200).
  EXPECT_EQ(window.CountsAt(1099), (CallCounts{2, 1, 0}));
  EXPECT_EQ(window.CountsAt(1199), (CallCounts{1, 0, 0}));
  EXPECT_EQ(window.CountsAt(1299), (CallCounts{}));
}

TEST(CallWindowTest, AGapLongerThanTheWindowForgetsEverything) {
  CallWindow window(1000);
  for (int i = 0; i < 100; ++i) window.Add(i * 10, true, true);
  window.Add(50000, false, false);
  EXPECT_EQ(window.CountsAt(50000), (CallCounts{1, 0, 0}));
}

TEST(CallWindowTest, AnEarlierTimeCountsAsTheLatest) {
  CallWindow window(1000);
  window.Add(500, true, false);
  window.Add(400, true, false);
  EXPECT_EQ(window.CountsAt(500), (CallCounts{2, 2, 0}));
}

TEST(CallWindowTest, ClearForgetsEverything) {
  CallWindow window(1000);
  window.Add(0, true, true);
  window.Clear();
  EXPECT_EQ(window.CountsAt(0), (CallCounts{}));
  window.Add(5000, true, false);
  EXPECT_EQ(window.CountsAt(5000), (CallCounts{1, 1, 0}));
}

}  // namespace
}  // namespace saga::engine
