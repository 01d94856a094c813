#include "orchestrator/engine/call_gate.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::engine {
namespace {

constexpr CallEnd kSuccess{false, false};
constexpr CallEnd kFailure{true, false};

// A breaker that opens on 2 failures of 2 calls, stays open `open_ms` and
// then admits `trials` calls.
CallGateOptions Options(int64_t open_ms, int trials, int max_in_flight) {
  CallGateOptions options;
  options.breaker.min_calls = 2;
  options.breaker.failure_rate_percent = 100;
  options.breaker.open_ms = open_ms;
  options.breaker.half_open_calls = trials;
  options.max_in_flight = max_in_flight;
  return options;
}

// Records what the gate sends; the test ends calls with End().
class CallGateTest : public ::testing::Test {
 protected:
  struct Sent {
    std::string name;
    CircuitBreaker::Permit permit;
  };

  CallGate::Call MakeCall(const std::string& name, bool* wanted = nullptr,
                          bool compensation = false, int attempt = 1,
                          int64_t saga_created_ms = 0) {
    return {[wanted] { return wanted == nullptr || *wanted; },
            [this, name](CircuitBreaker::Permit permit) {
              sent_.push_back({name, permit});
            },
            compensation, attempt, saga_created_ms};
  }
  CallGate::Call Execute(const std::string& name, int attempt,
                         int64_t saga_created_ms) {
    return MakeCall(name, nullptr, false, attempt, saga_created_ms);
  }
  CallGate::Call Compensate(const std::string& name, int attempt,
                            int64_t saga_created_ms) {
    return MakeCall(name, nullptr, true, attempt, saga_created_ms);
  }

  std::vector<std::string> SentNames() const {
    std::vector<std::string> names;
    for (const auto& sent : sent_) names.push_back(sent.name);
    return names;
  }

  // Ends the call named `name` (sent earlier).
  void End(CallGate& gate, const std::string& name, CallEnd end, int64_t now) {
    for (const auto& sent : sent_) {
      if (sent.name == name) {
        gate.Finished(sent.permit, end, now);
        return;
      }
    }
    ADD_FAILURE() << name << " was not sent";
  }

  // Sends two calls that fail at `now`, which opens the gate's circuit.
  void Open(CallGate& gate, int64_t now) {
    gate.Submit(MakeCall("x1"), now);
    gate.Submit(MakeCall("x2"), now);
    End(gate, "x1", kFailure, now);
    End(gate, "x2", kFailure, now);
    ASSERT_EQ(gate.state(), CircuitState::kOpen);
    sent_.clear();
  }

  std::vector<Sent> sent_;
};

TEST_F(CallGateTest, SendsAtOnceWhileUnderTheBound) {
  CallGate gate(Options(1000, 2, 2));
  EXPECT_TRUE(gate.Submit(MakeCall("a"), 0));
  EXPECT_TRUE(gate.Submit(MakeCall("b"), 0));
  EXPECT_EQ(gate.in_flight(), 2);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(CallGateTest, QueuesPastTheInFlightBoundAndSendsAsCallsEnd) {
  CallGate gate(Options(1000, 2, 2));
  gate.Submit(MakeCall("a"), 0);
  gate.Submit(MakeCall("b"), 0);
  EXPECT_FALSE(gate.Submit(MakeCall("c"), 0));
  EXPECT_FALSE(gate.Submit(MakeCall("d"), 0));
  EXPECT_EQ(gate.queued(), 2u);
  EXPECT_FALSE(gate.WakeAtMs().has_value());  // a call's end frees a slot
  End(gate, "b", kSuccess, 1);
  // Same class, same saga age: the order of parking breaks the tie.
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c"}));
  End(gate, "a", kSuccess, 2);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(gate.queued(), 0u);
  EXPECT_EQ(gate.in_flight(), 2);
}

TEST_F(CallGateTest, ZeroBoundMeansUnbounded) {
  CallGate gate(Options(1000, 2, 0));
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(gate.Submit(MakeCall(std::to_string(i)), 0));
  }
  EXPECT_EQ(gate.in_flight(), 1000);
}

TEST_F(CallGateTest, CompensationsGoBeforeExecutes) {
  CallGate gate(Options(1000, 2, 1));
  gate.Submit(Execute("running", 1, 0), 0);
  // Parked while "running" holds the only slot: executes that are first
  // attempts of older sagas first in the queue, then compensations that
  // are retries of younger ones.
  gate.Submit(Execute("execute-old", 1, 10), 1);
  gate.Submit(Execute("execute-older", 1, 5), 2);
  gate.Submit(Compensate("compensate-young", 3, 50), 3);
  gate.Submit(Compensate("compensate-younger", 3, 60), 4);
  for (const char* name :
       {"running", "compensate-young", "compensate-younger", "execute-older"}) {
    End(gate, name, kSuccess, 10);
  }
  EXPECT_EQ(SentNames(),
            (std::vector<std::string>{"running", "compensate-young",
                                      "compensate-younger", "execute-older",
                                      "execute-old"}));
}

TEST_F(CallGateTest, FewestAttemptsFirstThenTheOldestSaga) {
  CallGate gate(Options(1000, 2, 1));
  gate.Submit(Execute("running", 1, 0), 0);
  // Neither the order of parking nor the saga's age alone: a saga that has
  // used more attempts waits behind those that used fewer, and among equals
  // the oldest saga goes first, although it was parked last.
  gate.Submit(Execute("saga-10-attempt-3", 3, 10), 1);
  gate.Submit(Execute("saga-30-attempt-2", 2, 30), 2);
  gate.Submit(Execute("saga-40-attempt-1", 1, 40), 3);
  gate.Submit(Execute("saga-20-attempt-2", 2, 20), 4);
  for (const char* name : {"running", "saga-40-attempt-1", "saga-20-attempt-2",
                           "saga-30-attempt-2"}) {
    End(gate, name, kSuccess, 10);
  }
  EXPECT_EQ(SentNames(),
            (std::vector<std::string>{"running", "saga-40-attempt-1",
                                      "saga-20-attempt-2", "saga-30-attempt-2",
                                      "saga-10-attempt-3"}));
}

TEST_F(CallGateTest, FailedTrialsAreSpreadOverTheWaitingSagas) {
  // While the participant stays down, each half-open sends the calls with
  // the fewest attempts; a saga whose trial failed comes back with one
  // more, behind the others, so no saga pays for every trial.
  CallGate gate(Options(100, 1, 10));
  Open(gate, 0);
  for (int saga = 1; saga <= 3; ++saga) {
    gate.Submit(Execute("saga-" + std::to_string(saga), 2, saga), 1);
  }
  std::vector<int> attempts(4, 2);
  for (int round = 0; round < 6; ++round) {
    const int64_t now = 100 + round * 100;
    gate.Pump(now);
    ASSERT_EQ(sent_.size(), 1u) << "round " << round;
    const std::string name = sent_.back().name;
    gate.Finished(sent_.back().permit, kFailure, now);
    sent_.clear();
    const int saga = name.back() - '0';
    // The saga retries: its next attempt parks again.
    gate.Submit(Execute(name, ++attempts[saga], saga), now);
  }
  // Six trials over three sagas: two each.
  EXPECT_EQ(attempts, (std::vector<int>{2, 4, 4, 4}));
}

TEST_F(CallGateTest, CompensationsAreTheTrialsWhenTheyWait) {
  CallGate gate(Options(1000, 2, 10));
  Open(gate, 0);
  gate.Submit(Execute("execute-1", 1, 1), 1);
  gate.Submit(Execute("execute-2", 1, 2), 2);
  gate.Submit(Compensate("compensate-3", 1, 3), 3);
  gate.Pump(1000);
  EXPECT_EQ(SentNames(),
            (std::vector<std::string>{"compensate-3", "execute-1"}));
}

TEST_F(CallGateTest, ParksBehindAnOpenCircuitAndSendsTheTrialsWhenDue) {
  CallGate gate(Options(1000, 2, 10));
  Open(gate, 5);
  // Parked: nothing is sent while open, however many calls arrive.
  EXPECT_FALSE(gate.Submit(MakeCall("b"), 10));
  EXPECT_FALSE(gate.Submit(MakeCall("c"), 20));
  EXPECT_FALSE(gate.Submit(MakeCall("d"), 30));
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(gate.WakeAtMs(), 1005);
  gate.Pump(1004);
  EXPECT_TRUE(sent_.empty());
  // Due: the two trials at once, the first in line.
  gate.Pump(1005);
  EXPECT_EQ(gate.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"b", "c"}));
  EXPECT_FALSE(gate.WakeAtMs().has_value());  // the trials' ends decide
  // One success of two trials can no longer make a 100% failure rate: the
  // circuit closes and the rest goes.
  End(gate, "b", kSuccess, 1010);
  EXPECT_EQ(gate.state(), CircuitState::kClosed);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"b", "c", "d"}));
}

TEST_F(CallGateTest, FailedTrialsParkTheRestForAnotherOpenPeriod) {
  CallGate gate(Options(100, 2, 10));
  Open(gate, 0);
  gate.Submit(MakeCall("b"), 1);
  gate.Submit(MakeCall("c"), 1);
  gate.Submit(MakeCall("d"), 1);
  gate.Pump(100);
  ASSERT_EQ(SentNames(), (std::vector<std::string>{"b", "c"}));
  End(gate, "b", kFailure, 150);
  EXPECT_EQ(gate.state(), CircuitState::kHalfOpen);
  End(gate, "c", kFailure, 160);
  EXPECT_EQ(gate.state(), CircuitState::kOpen);
  EXPECT_EQ(gate.WakeAtMs(), 260);
  EXPECT_EQ(gate.queued(), 1u);
  gate.Pump(260);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"b", "c", "d"}));
}

TEST_F(CallGateTest, DropsCallsNoLongerWantedWhenTheirTurnComes) {
  CallGate gate(Options(1000, 2, 1));
  bool b_wanted = true;
  gate.Submit(MakeCall("a"), 0);
  gate.Submit(MakeCall("b", &b_wanted), 0);
  gate.Submit(MakeCall("c"), 0);
  b_wanted = false;  // e.g. its saga was cancelled or moved elsewhere
  End(gate, "a", kSuccess, 1);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(gate.queued(), 0u);
}

TEST_F(CallGateTest, BusinessFailuresKeepTheCircuitClosed) {
  CallGate gate(Options(1000, 2, 0));
  for (int i = 0; i < 10; ++i) {
    const std::string name = std::to_string(i);
    ASSERT_TRUE(gate.Submit(MakeCall(name), i));
    End(gate, name, kSuccess, i);  // a business failure is an answer
  }
  EXPECT_EQ(gate.state(), CircuitState::kClosed);
}

TEST_F(CallGateTest, PausedSendsNothingAndResumeSendsTheParkedInOrder) {
  CallGate gate(Options(1000, 2, 10));
  gate.SetPaused(true, 0);
  EXPECT_TRUE(gate.paused());
  // Executes and compensations alike park, and no timer is due: only a
  // resume sends them.
  EXPECT_FALSE(gate.Submit(Execute("execute-1", 1, 1), 1));
  EXPECT_FALSE(gate.Submit(Compensate("compensate-2", 1, 2), 2));
  gate.Pump(100000);
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(gate.queued(), 2u);
  EXPECT_FALSE(gate.WakeAtMs().has_value());
  gate.SetPaused(true, 3);  // idempotent
  EXPECT_TRUE(sent_.empty());
  gate.SetPaused(false, 4);
  EXPECT_EQ(SentNames(),
            (std::vector<std::string>{"compensate-2", "execute-1"}));
  EXPECT_EQ(gate.queued(), 0u);
}

TEST_F(CallGateTest, PausingLetsCallsInFlightEndAndStillDropsUnwantedOnes) {
  CallGate gate(Options(1000, 2, 10));
  bool b_wanted = true;
  gate.Submit(MakeCall("a"), 0);
  gate.SetPaused(true, 1);
  gate.Submit(MakeCall("b", &b_wanted), 1);
  gate.Submit(MakeCall("c"), 1);
  End(gate, "a", kSuccess, 2);
  EXPECT_EQ(gate.in_flight(), 0);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a"}));
  b_wanted = false;  // its saga was cancelled while paused
  gate.SetPaused(false, 3);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "c"}));
}

TEST_F(CallGateTest, PausedBehindAnOpenCircuitWaitsForTheResume) {
  CallGate gate(Options(100, 2, 10));
  Open(gate, 0);
  gate.Submit(MakeCall("b"), 1);
  EXPECT_EQ(gate.WakeAtMs(), 100);
  gate.SetPaused(true, 2);
  EXPECT_FALSE(gate.WakeAtMs().has_value());
  gate.Pump(500);  // trials due, but paused
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(gate.state(), CircuitState::kOpen);
  gate.SetPaused(false, 600);
  EXPECT_EQ(gate.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"b"}));
}

TEST_F(CallGateTest, CountsTheCallsThatEndedInTheLastMinute) {
  CallGate gate(Options(1000, 2, 0));
  gate.Submit(MakeCall("a"), 0);
  gate.Submit(MakeCall("b"), 0);
  gate.Submit(MakeCall("c"), 0);
  End(gate, "a", kSuccess, 1000);
  End(gate, "b", kFailure, 1000);
  EXPECT_EQ(gate.LastMinute(2000), (CallCounts{2, 1, 0}));
  End(gate, "c", kSuccess, 40000);
  EXPECT_EQ(gate.LastMinute(40000), (CallCounts{3, 1, 0}));
  // The first two ended more than a minute ago.
  EXPECT_EQ(gate.LastMinute(70000), (CallCounts{1, 0, 0}));
  EXPECT_EQ(gate.LastMinute(200000), (CallCounts{0, 0, 0}));
}

}  // namespace
}  // namespace saga::engine
