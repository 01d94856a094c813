#include "orchestrator/engine/circuit_breaker.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::engine {
namespace {

constexpr CallEnd kSuccess{false, false};
constexpr CallEnd kFailure{true, false};
constexpr CallEnd kTimeout{true, true};

// Small numbers that make each rule visible: 10 calls at least, 50% opens,
// slow from 1 s, open for 1 s, 4 trials.
CircuitBreakerOptions Options() {
  CircuitBreakerOptions options;
  options.window_ms = 10000;
  options.min_calls = 10;
  options.failure_rate_percent = 50;
  options.slow_call_ms = 1000;
  options.slow_call_rate_percent = 50;
  options.open_ms = 1000;
  options.half_open_calls = 4;
  return options;
}

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker Make(CircuitBreakerOptions options = Options()) {
    return CircuitBreaker(options,
                          [this](const CircuitBreaker::Transition& change) {
                            transitions_.push_back(change);
                          });
  }

  // Admits a call at `now` and ends it `duration` later.
  static void Call(CircuitBreaker& breaker, CallEnd end, int64_t now,
                   int64_t duration = 0) {
    auto permit = breaker.TryAdmit(now);
    ASSERT_TRUE(permit.has_value()) << "refused at " << now;
    breaker.OnResult(*permit, end, now + duration);
  }

  // Opens `breaker` (made with Options()) with failures ending at `now`.
  static void Open(CircuitBreaker& breaker, int64_t now) {
    for (int i = 0; i < 10; ++i) Call(breaker, kFailure, now);
    ASSERT_EQ(breaker.state(), CircuitState::kOpen);
  }

  std::vector<std::string> Reasons() const {
    std::vector<std::string> reasons;
    for (const auto& change : transitions_) reasons.push_back(change.reason);
    return reasons;
  }

  std::vector<CircuitBreaker::Transition> transitions_;
};

// CLOSED: a failure rate over a sliding window with a minimum of calls.

TEST_F(CircuitBreakerTest, FewerCallsThanTheMinimumNeverOpen) {
  CircuitBreaker breaker = Make();
  for (int i = 0; i < 9; ++i) Call(breaker, kFailure, i);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  Call(breaker, kFailure, 9);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].from, CircuitState::kClosed);
  EXPECT_EQ(transitions_[0].to, CircuitState::kOpen);
  EXPECT_STREQ(transitions_[0].reason, "failure_rate");
  EXPECT_EQ(transitions_[0].counts, (CallCounts{10, 10, 0}));
}

TEST_F(CircuitBreakerTest, OpensWhenTheFailureRateReachesTheThreshold) {
  CircuitBreaker breaker = Make();
  for (int i = 0; i < 6; ++i) Call(breaker, kSuccess, i);
  for (int i = 0; i < 5; ++i) Call(breaker, kFailure, 10 + i);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);  // 5 of 11
  Call(breaker, kFailure, 20);                        // 6 of 12: 50%
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(transitions_.back().counts, (CallCounts{12, 6, 0}));
}

TEST_F(CircuitBreakerTest, ARateBelowTheThresholdNeverOpensWhateverTheRun) {
  // Every other call fails, with a run of failures in the middle: the rate
  // stays under 80%, so the circuit stays closed (a participant that fails
  // half its calls still gets most sagas through on retries).
  CircuitBreakerOptions options = Options();
  options.failure_rate_percent = 80;
  CircuitBreaker breaker = Make(options);
  for (int i = 0; i < 200; ++i) Call(breaker, i % 2 ? kFailure : kSuccess, i);
  for (int i = 0; i < 20; ++i) Call(breaker, kFailure, 300);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(transitions_.empty());
}

TEST_F(CircuitBreakerTest, FailuresOlderThanTheWindowNoLongerCount) {
  CircuitBreaker breaker = Make();
  for (int i = 0; i < 9; ++i) Call(breaker, kFailure, 0);
  // Ten seconds on, the nine old failures have left the window: one more
  // failure is one call, under the minimum.
  Call(breaker, kFailure, 11000);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, BusinessFailuresAreAnswersNotFailures) {
  CircuitBreaker breaker = Make();
  // A business failure is reported as no failure.
  for (int i = 0; i < 100; ++i) Call(breaker, kSuccess, i);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, DisabledBreakerAdmitsEverythingAndNeverOpens) {
  CircuitBreakerOptions options = Options();
  options.enabled = false;
  CircuitBreaker breaker = Make(options);
  for (int i = 0; i < 100; ++i) Call(breaker, kTimeout, i, 5000);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(transitions_.empty());
}

// CLOSED: the slow-call rate.

TEST_F(CircuitBreakerTest, OpensWhenTheSlowCallRateReachesTheThreshold) {
  CircuitBreaker breaker = Make();
  // Successful answers, half of them taking the slow-call duration.
  for (int i = 0; i < 9; ++i)
    Call(breaker, kSuccess, i * 10, i % 2 ? 1000 : 999);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);  // 4 of 9 slow
  Call(breaker, kSuccess, 100, 1500);                 // 5 of 10
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_STREQ(transitions_.back().reason, "slow_call_rate");
  EXPECT_EQ(transitions_.back().counts, (CallCounts{10, 0, 5}));
}

TEST_F(CircuitBreakerTest, ACallThatTimedOutIsSlowWhateverItsDuration) {
  CircuitBreakerOptions options = Options();
  options.failure_rate_percent = 100;  // only the slow rule can open it
  CircuitBreaker breaker = Make(options);
  for (int i = 0; i < 5; ++i) Call(breaker, kSuccess, i);
  for (int i = 0; i < 5; ++i) Call(breaker, kTimeout, i, /*duration=*/300);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_STREQ(transitions_.back().reason, "slow_call_rate");
}

// OPEN and HALF_OPEN: a number of trial calls at once, decided by their
// rates.

TEST_F(CircuitBreakerTest, OpenAdmitsNothingUntilOpenMsThenTheTrialsAtOnce) {
  CircuitBreaker breaker = Make();
  Open(breaker, 100);
  EXPECT_EQ(breaker.TrialsDueMs(), 1100);
  EXPECT_FALSE(breaker.TryAdmit(100).has_value());
  EXPECT_FALSE(breaker.TryAdmit(1099).has_value());
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(breaker.TryAdmit(1100).has_value()) << "trial " << i;
  }
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_STREQ(transitions_.back().reason, "open_elapsed");
  EXPECT_EQ(breaker.trials_in_flight(), 4);
  EXPECT_FALSE(breaker.TryAdmit(1101).has_value());
  EXPECT_FALSE(breaker.TrialsDueMs().has_value());
}

TEST_F(CircuitBreakerTest, OneFailedTrialDoesNotReopenWhileTheRateStaysBelow) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  std::vector<CircuitBreaker::Permit> trials;
  for (int i = 0; i < 4; ++i) trials.push_back(*breaker.TryAdmit(1000));
  breaker.OnResult(trials[0], kFailure, 1001);
  breaker.OnResult(trials[1], kSuccess, 1002);
  breaker.OnResult(trials[2], kSuccess, 1003);
  // 1 failure of 4 so far, 2 of 4 if the last one fails: not decided.
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  breaker.OnResult(trials[3], kSuccess, 1004);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);  // 25% < 50%
  EXPECT_STREQ(transitions_.back().reason, "trials_passed");
  EXPECT_EQ(transitions_.back().counts, (CallCounts{4, 1, 0}));
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(breaker.TryAdmit(1005).has_value());
}

TEST_F(CircuitBreakerTest, ClosesAsSoonAsTheTrialsCannotReachTheThreshold) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  std::vector<CircuitBreaker::Permit> trials;
  for (int i = 0; i < 4; ++i) trials.push_back(*breaker.TryAdmit(1000));
  breaker.OnResult(trials[0], kSuccess, 1001);
  breaker.OnResult(trials[1], kSuccess, 1001);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);  // 2 of 4 may fail
  breaker.OnResult(trials[2], kSuccess, 1002);          // at most 1 of 4
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  // The last trial's result belongs to the half-open state: stale.
  breaker.OnResult(trials[3], kFailure, 1003);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, ReopensAsSoonAsTheTrialsReachTheThreshold) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  std::vector<CircuitBreaker::Permit> trials;
  for (int i = 0; i < 4; ++i) trials.push_back(*breaker.TryAdmit(1000));
  breaker.OnResult(trials[0], kFailure, 1500);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  breaker.OnResult(trials[1], kFailure, 1600);  // 2 of 4: 50%
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_STREQ(transitions_.back().reason, "failure_rate");
  EXPECT_EQ(breaker.TrialsDueMs(), 2600);
  // The other trials' late successes are stale: still open.
  breaker.OnResult(trials[2], kSuccess, 1700);
  breaker.OnResult(trials[3], kSuccess, 1700);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_FALSE(breaker.TryAdmit(2599).has_value());
  EXPECT_TRUE(breaker.TryAdmit(2600).has_value());
}

TEST_F(CircuitBreakerTest, SlowTrialsReopen) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  auto first = breaker.TryAdmit(1000);
  auto second = breaker.TryAdmit(1000);
  ASSERT_TRUE(first && second);
  breaker.OnResult(*first, kSuccess, 2000);  // answered, but slowly
  breaker.OnResult(*second, kTimeout, 1300);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_STREQ(transitions_.back().reason, "slow_call_rate");
  EXPECT_EQ(transitions_.back().counts, (CallCounts{2, 1, 2}));
}

TEST_F(CircuitBreakerTest, HalfOpenWaitsForMoreTrialsWhileUndecided) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  // Only one call wants to go; its success alone does not decide (3 more
  // could fail), so the next call is a trial too.
  Call(breaker, kSuccess, 1000);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(breaker.trials_in_flight(), 0);
  Call(breaker, kSuccess, 5000);
  Call(breaker, kSuccess, 5001);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, OneTrialOfOneDecidesAlone) {
  CircuitBreakerOptions options = Options();
  options.half_open_calls = 1;
  CircuitBreaker breaker = Make(options);
  Open(breaker, 0);
  Call(breaker, kFailure, 1000);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  Call(breaker, kSuccess, 2000);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, ClosingStartsAFreshWindow) {
  CircuitBreaker breaker = Make();
  Open(breaker, 0);
  for (int i = 0; i < 3; ++i) Call(breaker, kSuccess, 1000);
  ASSERT_EQ(breaker.state(), CircuitState::kClosed);
  // The failures that opened it are forgotten: nine more stay under the
  // minimum.
  for (int i = 0; i < 9; ++i) Call(breaker, kFailure, 1001);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, StaleFailuresDoNotReopenARecoveringCircuit) {
  CircuitBreaker breaker = Make();
  std::vector<CircuitBreaker::Permit> old;
  for (int i = 0; i < 12; ++i) old.push_back(*breaker.TryAdmit(0));
  for (int i = 0; i < 10; ++i) breaker.OnResult(old[i], kFailure, 1);
  ASSERT_EQ(breaker.state(), CircuitState::kOpen);
  auto trial = breaker.TryAdmit(1001);
  ASSERT_TRUE(trial.has_value());
  // Calls sent while CLOSED fail only now: they say nothing new.
  breaker.OnResult(old[10], kFailure, 1002);
  breaker.OnResult(old[11], kFailure, 1002);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(breaker.trials_in_flight(), 1);
  EXPECT_EQ(Reasons(),
            (std::vector<std::string>{"failure_rate", "open_elapsed"}));
}

TEST(CircuitStateNameTest, NamesEveryState) {
  EXPECT_STREQ(CircuitStateName(CircuitState::kClosed), "closed");
  EXPECT_STREQ(CircuitStateName(CircuitState::kOpen), "open");
  EXPECT_STREQ(CircuitStateName(CircuitState::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace saga::engine
