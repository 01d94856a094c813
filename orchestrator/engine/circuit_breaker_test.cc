#include "orchestrator/engine/circuit_breaker.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace saga::engine {
namespace {

using Transition = std::pair<CircuitState, CircuitState>;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker Make(int threshold, int64_t open_for_ms, int ramp_to) {
    return CircuitBreaker({threshold, open_for_ms, ramp_to},
                          [this](CircuitState from, CircuitState to, int64_t) {
                            transitions_.emplace_back(from, to);
                          });
  }

  // Admits a call at `now` and ends it at once.
  static void Call(CircuitBreaker& breaker, bool failure, int64_t now) {
    auto permit = breaker.TryAdmit(now);
    ASSERT_TRUE(permit.has_value());
    breaker.OnResult(*permit, failure, now);
  }

  // Opens `breaker` (threshold 1) at `now`.
  static void Open(CircuitBreaker& breaker, int64_t now) {
    Call(breaker, true, now);
    ASSERT_EQ(breaker.state(), CircuitState::kOpen);
  }

  std::vector<Transition> transitions_;
};

TEST_F(CircuitBreakerTest, OpensAfterThresholdConsecutiveFailures) {
  CircuitBreaker breaker = Make(3, 1000, 4);
  Call(breaker, true, 0);
  Call(breaker, true, 1);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  Call(breaker, true, 2);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(breaker.ProbeDueMs(), 1002);
  EXPECT_EQ(
      transitions_,
      (std::vector<Transition>{{CircuitState::kClosed, CircuitState::kOpen}}));
}

TEST_F(CircuitBreakerTest, SuccessOrBusinessAnswerResetsTheFailureCount) {
  CircuitBreaker breaker = Make(3, 1000, 4);
  Call(breaker, true, 0);
  Call(breaker, true, 0);
  Call(breaker, false, 0);  // an answer, business failure or success
  Call(breaker, true, 0);
  Call(breaker, true, 0);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_FALSE(breaker.ProbeDueMs().has_value());
}

TEST_F(CircuitBreakerTest, ZeroThresholdNeverOpens) {
  CircuitBreaker breaker = Make(0, 1000, 4);
  for (int i = 0; i < 100; ++i) Call(breaker, true, i);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(transitions_.empty());
}

TEST_F(CircuitBreakerTest, OpenRefusesUntilTheCoolDownThenAdmitsOneProbe) {
  CircuitBreaker breaker = Make(1, 1000, 4);
  Open(breaker, 100);
  EXPECT_FALSE(breaker.TryAdmit(100).has_value());
  EXPECT_FALSE(breaker.TryAdmit(1099).has_value());
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  auto probe = breaker.TryAdmit(1100);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(breaker.probes_in_flight(), 1);
  // Only the probe until it answers.
  EXPECT_FALSE(breaker.TryAdmit(1101).has_value());
  EXPECT_FALSE(breaker.ProbeDueMs().has_value());
}

TEST_F(CircuitBreakerTest, FailedProbeReopensForAnotherCoolDown) {
  CircuitBreaker breaker = Make(1, 1000, 4);
  Open(breaker, 0);
  auto probe = breaker.TryAdmit(1000);
  ASSERT_TRUE(probe.has_value());
  breaker.OnResult(*probe, true, 1500);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(breaker.ProbeDueMs(), 2500);
  EXPECT_FALSE(breaker.TryAdmit(2499).has_value());
  EXPECT_TRUE(breaker.TryAdmit(2500).has_value());
  EXPECT_EQ(transitions_, (std::vector<Transition>{
                              {CircuitState::kClosed, CircuitState::kOpen},
                              {CircuitState::kOpen, CircuitState::kHalfOpen},
                              {CircuitState::kHalfOpen, CircuitState::kOpen},
                              {CircuitState::kOpen, CircuitState::kHalfOpen}}));
}

TEST_F(CircuitBreakerTest, RampsOneTwoFourThenCloses) {
  CircuitBreaker breaker = Make(1, 10, 8);
  Open(breaker, 0);
  // Stage 1: the probe alone.
  auto probe = breaker.TryAdmit(10);
  ASSERT_TRUE(probe.has_value());
  breaker.OnResult(*probe, false, 11);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  // Stages 2 and 4: exactly that many at once, then the next stage.
  for (int stage : {2, 4}) {
    std::vector<CircuitBreaker::Permit> permits;
    for (int i = 0; i < stage; ++i) {
      auto permit = breaker.TryAdmit(12);
      ASSERT_TRUE(permit.has_value()) << "stage " << stage << " call " << i;
      permits.push_back(*permit);
    }
    EXPECT_FALSE(breaker.TryAdmit(12).has_value()) << "stage " << stage;
    for (auto permit : permits) {
      EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
      breaker.OnResult(permit, false, 13);
    }
  }
  // 8 would be the next stage: the ramp is done.
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(breaker.TryAdmit(14).has_value());
  EXPECT_EQ(transitions_.back(),
            Transition(CircuitState::kHalfOpen, CircuitState::kClosed));
}

TEST_F(CircuitBreakerTest, StageFreesASlotAsEachCallSucceeds) {
  CircuitBreaker breaker = Make(1, 10, 64);
  Open(breaker, 0);
  Call(breaker, false, 10);  // the probe
  auto first = breaker.TryAdmit(11);
  auto second = breaker.TryAdmit(11);
  ASSERT_TRUE(first && second);
  breaker.OnResult(*first, false, 12);
  // One of stage 2's two calls succeeded, one is in flight: nothing more
  // until the stage is done.
  EXPECT_FALSE(breaker.TryAdmit(12).has_value());
  breaker.OnResult(*second, false, 12);
  EXPECT_TRUE(breaker.TryAdmit(12).has_value());
}

TEST_F(CircuitBreakerTest, FailureDuringTheRampReopens) {
  CircuitBreaker breaker = Make(1, 10, 64);
  Open(breaker, 0);
  Call(breaker, false, 10);
  auto first = breaker.TryAdmit(11);
  auto second = breaker.TryAdmit(11);
  ASSERT_TRUE(first && second);
  breaker.OnResult(*first, true, 12);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(breaker.ProbeDueMs(), 22);
  // The other ramp call's late success is stale: still open.
  breaker.OnResult(*second, false, 13);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
}

TEST_F(CircuitBreakerTest, RampOfOneClosesOnTheFirstGoodProbe) {
  CircuitBreaker breaker = Make(1, 10, 1);
  Open(breaker, 0);
  Call(breaker, false, 10);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
}

TEST_F(CircuitBreakerTest, StaleFailuresDoNotReopenARecoveringCircuit) {
  CircuitBreaker breaker = Make(2, 100, 64);
  auto old1 = breaker.TryAdmit(0);
  auto old2 = breaker.TryAdmit(0);
  auto old3 = breaker.TryAdmit(0);
  ASSERT_TRUE(old1 && old2 && old3);
  breaker.OnResult(*old1, true, 1);
  breaker.OnResult(*old2, true, 1);
  ASSERT_EQ(breaker.state(), CircuitState::kOpen);
  auto probe = breaker.TryAdmit(101);
  ASSERT_TRUE(probe.has_value());
  // A call sent while CLOSED fails only now: it says nothing new.
  breaker.OnResult(*old3, true, 102);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(breaker.probes_in_flight(), 1);
  breaker.OnResult(*probe, false, 103);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_TRUE(breaker.TryAdmit(103).has_value());
}

TEST(CircuitStateNameTest, NamesEveryState) {
  EXPECT_STREQ(CircuitStateName(CircuitState::kClosed), "closed");
  EXPECT_STREQ(CircuitStateName(CircuitState::kOpen), "open");
  EXPECT_STREQ(CircuitStateName(CircuitState::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace saga::engine
