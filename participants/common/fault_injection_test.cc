#include "participants/common/fault_injection.h"

#include <gtest/gtest.h>

namespace saga::participants {
namespace {

using std::chrono::milliseconds;

TEST(FaultInjectionTest, AFixedLatencyIsAlwaysThatLong) {
  auto config = BuildFaultConfig({}, {"reserve_doctor=1500"}, false);
  ASSERT_TRUE(config.ok()) << config.status();
  FaultInjector faults(*config);
  EXPECT_EQ(faults.LatencyFor("reserve_doctor"), milliseconds(1500));
  EXPECT_EQ(faults.LatencyFor("release_reservation"), milliseconds(0));
}

TEST(FaultInjectionTest, ARangeDrawsEachCallsLatencyFromIt) {
  auto config = BuildFaultConfig({}, {"*=100-300"}, false);
  ASSERT_TRUE(config.ok()) << config.status();
  FaultInjector faults(*config);
  milliseconds least(1000);
  milliseconds most(0);
  for (int i = 0; i < 500; ++i) {
    const milliseconds latency = faults.LatencyFor("anything");
    ASSERT_GE(latency, milliseconds(100));
    ASSERT_LE(latency, milliseconds(300));
    least = std::min(least, latency);
    most = std::max(most, latency);
  }
  // 500 draws from 201 values: both ends of the range are reached nearly.
  EXPECT_LT(least, milliseconds(120));
  EXPECT_GT(most, milliseconds(280));
  EXPECT_EQ(faults.Describe(), "delay * by 100-300 ms");
}

TEST(FaultInjectionTest, MalformedLatenciesAreRefusedNamingTheEntry) {
  for (const char* entry :
       {"*=300-100", "*=-5", "*=1-", "*=a-b", "*=5000000", "*=10-20-30"}) {
    auto config = BuildFaultConfig({}, {entry}, false);
    EXPECT_FALSE(config.ok()) << entry;
    EXPECT_NE(config.status().message().find(entry), std::string::npos)
        << config.status();
  }
}

}  // namespace
}  // namespace saga::participants
