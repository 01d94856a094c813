#include "orchestrator/core/retry_policy.h"

#include <limits>

#include "gtest/gtest.h"

namespace saga::core {
namespace {

RetryPolicy Policy(int max_attempts, int64_t initial, int64_t max,
                   double multiplier, double jitter) {
  return RetryPolicy{max_attempts, initial, max, multiplier, jitter};
}

TEST(BackoffTest, GrowsExponentiallyUpToTheCap) {
  const RetryPolicy p = Policy(10, 100, 2000, 2.0, 0.2);
  EXPECT_EQ(BackoffMs(p, 1, 0.0), 100);
  EXPECT_EQ(BackoffMs(p, 2, 0.0), 200);
  EXPECT_EQ(BackoffMs(p, 3, 0.0), 400);
  EXPECT_EQ(BackoffMs(p, 4, 0.0), 800);
  EXPECT_EQ(BackoffMs(p, 5, 0.0), 1600);
  EXPECT_EQ(BackoffMs(p, 6, 0.0), 2000);
  EXPECT_EQ(BackoffMs(p, 7, 0.0), 2000);
}

TEST(BackoffTest, JitterShortensTheDelay) {
  const RetryPolicy p = Policy(10, 1000, 5000, 2.0, 0.2);
  EXPECT_EQ(BackoffMs(p, 1, 0.5), 900);
  EXPECT_EQ(BackoffMs(p, 1, 0.999), 800);
  EXPECT_EQ(BackoffMs(p, 2, 0.25), 1900);
  EXPECT_EQ(BackoffMs(Policy(3, 1000, 5000, 2.0, 1.0), 1, 0.5), 500);
  EXPECT_EQ(BackoffMs(Policy(3, 1000, 5000, 2.0, 0.0), 1, 0.9), 1000);
}

TEST(BackoffTest, RoundsToTheNearestMillisecond) {
  EXPECT_EQ(BackoffMs(Policy(3, 3, 100, 1.5, 0.0), 2, 0.0), 5);    // 4.5
  EXPECT_EQ(BackoffMs(Policy(3, 10, 100, 1.0, 0.33), 1, 1.0), 7);  // 6.7
}

TEST(BackoffTest, HugeAttemptNumbersDoNotOverflow) {
  const RetryPolicy p = Policy(3, 100, 60000, 10.0, 0.2);
  EXPECT_EQ(BackoffMs(p, 1000, 0.0), 60000);
  EXPECT_EQ(BackoffMs(p, std::numeric_limits<int>::max(), 0.0), 60000);
  const RetryPolicy big =
      Policy(3, std::numeric_limits<int64_t>::max() / 2,
             std::numeric_limits<int64_t>::max() / 2, 2.0, 0.0);
  EXPECT_GT(BackoffMs(big, 100, 0.0), 0);
}

TEST(BackoffTest, OutOfRangeInputsAreClamped) {
  const RetryPolicy p = Policy(3, 100, 1000, 2.0, 0.5);
  EXPECT_EQ(BackoffMs(p, 0, 0.0), 100);
  EXPECT_EQ(BackoffMs(p, -5, 0.0), 100);
  EXPECT_EQ(BackoffMs(p, 1, 7.0), 50);
  EXPECT_EQ(BackoffMs(p, 1, -1.0), 100);
}

TEST(MayRetryTest, CountsAttemptsIncludingTheFirst) {
  const RetryPolicy p = Policy(3, 100, 1000, 2.0, 0.2);
  EXPECT_TRUE(MayRetry(p, false, 1, 0));
  EXPECT_TRUE(MayRetry(p, false, 2, 0));
  EXPECT_FALSE(MayRetry(p, false, 3, 0));
  EXPECT_FALSE(MayRetry(Policy(1, 100, 1000, 2.0, 0.2), false, 1, 0));
}

TEST(MayRetryTest, RetryForeverIgnoresTheLimit) {
  RetryPolicy p = Policy(3, 100, 1000, 2.0, 0.2);
  p.give_up_after_ms = 1000;
  EXPECT_TRUE(MayRetry(p, true, 1, 0));
  EXPECT_TRUE(MayRetry(p, true, 1000000, 1000000));
}

TEST(MayRetryTest, GiveUpAfterBoundsTheTimeSinceTheFirstAttempt) {
  RetryPolicy p = Policy(0, 100, 1000, 2.0, 0.2);
  p.give_up_after_ms = 3600000;
  EXPECT_TRUE(MayRetry(p, false, 1, 0));
  EXPECT_TRUE(MayRetry(p, false, 5000, 3599999));
  EXPECT_FALSE(MayRetry(p, false, 5001, 3600000));
}

TEST(MayRetryTest, WhicheverBudgetRunsOutFirstGivesUp) {
  RetryPolicy p = Policy(4, 100, 1000, 2.0, 0.2);
  p.give_up_after_ms = 10000;
  EXPECT_FALSE(MayRetry(p, false, 4, 500));    // attempts first
  EXPECT_FALSE(MayRetry(p, false, 2, 10000));  // time first
  EXPECT_TRUE(MayRetry(p, false, 3, 9999));
}

TEST(DescribeGiveUpTest, NamesTheBudgetThatRanOut) {
  RetryPolicy p = Policy(4, 100, 1000, 2.0, 0.2);
  EXPECT_EQ(DescribeGiveUp(p, 4, 700), "after 4 attempts");
  p.max_attempts = 0;
  p.give_up_after_ms = 3600000;
  EXPECT_EQ(DescribeGiveUp(p, 137, 3600400),
            "after 137 attempts in 1h (its give_up_after is 1h)");
}

}  // namespace
}  // namespace saga::core
