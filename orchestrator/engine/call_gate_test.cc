#include "orchestrator/engine/call_gate.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::engine {
namespace {

CallGateOptions Options(int threshold, int64_t open_for_ms, int ramp_to,
                        int max_in_flight) {
  CallGateOptions options;
  options.breaker = {threshold, open_for_ms, ramp_to};
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

  CallGate::Call MakeCall(const std::string& name, bool* wanted = nullptr) {
    return {[wanted] { return wanted == nullptr || *wanted; },
            [this, name](CircuitBreaker::Permit permit) {
              sent_.push_back({name, permit});
            }};
  }

  std::vector<std::string> SentNames() const {
    std::vector<std::string> names;
    for (const auto& sent : sent_) names.push_back(sent.name);
    return names;
  }

  // Ends the call named `name` (sent earlier).
  void End(CallGate& gate, const std::string& name, bool failure, int64_t now) {
    for (const auto& sent : sent_) {
      if (sent.name == name) {
        gate.Finished(sent.permit, failure, now);
        return;
      }
    }
    ADD_FAILURE() << name << " was not sent";
  }

  std::vector<Sent> sent_;
};

TEST_F(CallGateTest, SendsAtOnceWhileUnderTheBound) {
  CallGate gate(Options(5, 1000, 4, 2));
  EXPECT_TRUE(gate.Submit(MakeCall("a"), 0));
  EXPECT_TRUE(gate.Submit(MakeCall("b"), 0));
  EXPECT_EQ(gate.in_flight(), 2);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(CallGateTest, QueuesPastTheInFlightBoundAndSendsInOrder) {
  CallGate gate(Options(5, 1000, 4, 2));
  gate.Submit(MakeCall("a"), 0);
  gate.Submit(MakeCall("b"), 0);
  EXPECT_FALSE(gate.Submit(MakeCall("c"), 0));
  EXPECT_FALSE(gate.Submit(MakeCall("d"), 0));
  EXPECT_EQ(gate.queued(), 2u);
  EXPECT_FALSE(gate.WakeAtMs().has_value());  // a call's end frees a slot
  End(gate, "b", false, 1);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c"}));
  End(gate, "a", false, 2);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(gate.queued(), 0u);
  EXPECT_EQ(gate.in_flight(), 2);
}

TEST_F(CallGateTest, ZeroBoundMeansUnbounded) {
  CallGate gate(Options(5, 1000, 4, 0));
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(gate.Submit(MakeCall(std::to_string(i)), 0));
  }
  EXPECT_EQ(gate.in_flight(), 1000);
}

TEST_F(CallGateTest, ParksBehindAnOpenCircuitAndProbesWhenDue) {
  CallGate gate(Options(1, 1000, 4, 10));
  gate.Submit(MakeCall("a"), 0);
  End(gate, "a", true, 5);
  ASSERT_EQ(gate.state(), CircuitState::kOpen);
  // Parked: nothing is sent while open, however many calls arrive.
  EXPECT_FALSE(gate.Submit(MakeCall("b"), 10));
  EXPECT_FALSE(gate.Submit(MakeCall("c"), 20));
  EXPECT_FALSE(gate.Submit(MakeCall("d"), 30));
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a"}));
  EXPECT_EQ(gate.WakeAtMs(), 1005);
  gate.Pump(1004);
  EXPECT_EQ(sent_.size(), 1u);
  // Due: exactly one probe, the first in line.
  gate.Pump(1005);
  EXPECT_EQ(gate.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(gate.WakeAtMs().has_value());  // the probe's end decides
  // The probe succeeds: the ramp's next stage (2) lets both others go; once
  // they succeed the next stage (4) reaches the ramp's end: closed.
  End(gate, "b", false, 1010);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(gate.state(), CircuitState::kHalfOpen);
  End(gate, "c", false, 1011);
  End(gate, "d", false, 1011);
  EXPECT_EQ(gate.state(), CircuitState::kClosed);
}

TEST_F(CallGateTest, FailedProbeParksTheRestForAnotherCoolDown) {
  CallGate gate(Options(1, 100, 2, 10));
  gate.Submit(MakeCall("a"), 0);
  End(gate, "a", true, 0);
  gate.Submit(MakeCall("b"), 1);
  gate.Submit(MakeCall("c"), 1);
  gate.Pump(100);
  ASSERT_EQ(SentNames(), (std::vector<std::string>{"a", "b"}));
  End(gate, "b", true, 150);
  EXPECT_EQ(gate.state(), CircuitState::kOpen);
  EXPECT_EQ(gate.WakeAtMs(), 250);
  EXPECT_EQ(gate.queued(), 1u);
  gate.Pump(250);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(CallGateTest, DropsCallsNoLongerWantedWhenTheirTurnComes) {
  CallGate gate(Options(5, 1000, 4, 1));
  bool b_wanted = true;
  gate.Submit(MakeCall("a"), 0);
  gate.Submit(MakeCall("b", &b_wanted), 0);
  gate.Submit(MakeCall("c"), 0);
  b_wanted = false;  // e.g. its saga was cancelled or moved elsewhere
  End(gate, "a", false, 1);
  EXPECT_EQ(SentNames(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(gate.queued(), 0u);
}

TEST_F(CallGateTest, BusinessFailuresKeepTheCircuitClosed) {
  CallGate gate(Options(2, 1000, 4, 0));
  for (int i = 0; i < 10; ++i) {
    const std::string name = std::to_string(i);
    ASSERT_TRUE(gate.Submit(MakeCall(name), i));
    End(gate, name, /*failure=*/false, i);
  }
  EXPECT_EQ(gate.state(), CircuitState::kClosed);
}

}  // namespace
}  // namespace saga::engine
