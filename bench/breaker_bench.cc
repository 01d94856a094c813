// Prints how long the circuit breaker's scenarios take
// (tests/integration/breaker_scenarios.h), against the targets:
//   - saga-email failing 50% of sends: 100 bookings, time to end them all
//     with the breaker on and off (on must stay within 3x of off);
//   - reserve_doctor always timing out: 15 sagas, time until all are
//     COMPENSATED (target: 30 s), and the same with the breaker off;
//   - saga-doctor down for OUTAGE_S seconds: calls per second that reach it
//     while its circuit is not closed (target: at most 1), and the time for
//     all 100 bookings to end once it is back.
// Run by bench/breaker.sh, which provides PostgreSQL (SAGA_TEST_ADMIN_DSN).
// Environment: SCENARIOS="flaky slow down" (a subset runs only those),
// OUTAGE_S=30. Exit code 1 when a scenario's sagas did not all end.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "tests/integration/breaker_scenarios.h"

namespace {

using namespace std::chrono_literals;
using saga::testing::BookingRun;
using saga::testing::ClusterOptions;
using saga::testing::TestCluster;

constexpr auto kTimeout = 300s;

std::string Outcome(const BookingRun& run) {
  std::ostringstream out;
  const char* separator = "";
  for (auto [status, name] :
       {std::pair{saga::v1::SAGA_STATUS_COMPLETED, "COMPLETED"},
        std::pair{saga::v1::SAGA_STATUS_COMPENSATED, "COMPENSATED"},
        std::pair{saga::v1::SAGA_STATUS_FAILED, "FAILED"},
        std::pair{saga::v1::SAGA_STATUS_RUNNING, "RUNNING"},
        std::pair{saga::v1::SAGA_STATUS_COMPENSATING, "COMPENSATING"}}) {
    if (const int n = run.Count(status); n > 0) {
      out << separator << n << " " << name;
      separator = ", ";
    }
  }
  return out.str();
}

void Row(const char* scenario, bool breaker, const BookingRun& run,
         const std::string& seconds) {
  std::printf("| %s | %s | %zu | %s | %s |\n", scenario, breaker ? "on" : "off",
              run.sagas.size(), Outcome(run).c_str(), seconds.c_str());
  std::fflush(stdout);
}

std::string Format(std::optional<double> seconds) {
  if (!seconds) return "did not end";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", *seconds);
  return text;
}

// Starts `count` bookings on a fresh cluster and waits until they end.
std::optional<double> Bookings(const char* scenario, ClusterOptions options,
                               bool breaker, int count) {
  TestCluster cluster(std::move(options));
  if (!cluster.Start()) return std::nullopt;
  const BookingRun run = saga::testing::AwaitBookings(
      cluster, saga::testing::StartBookings(cluster, count), kTimeout);
  Row(scenario, breaker, run, Format(run.seconds_to_end_all));
  return run.seconds_to_end_all;
}

bool Wanted(const std::string& scenario) {
  const char* chosen = std::getenv("SCENARIOS");
  if (chosen == nullptr || *chosen == '\0') return true;
  std::istringstream words(chosen);
  std::string word;
  while (words >> word) {
    if (word == scenario) return true;
  }
  return false;
}

}  // namespace

int main() {
  const char* outage_text = std::getenv("OUTAGE_S");
  const int outage_s = outage_text != nullptr ? std::atoi(outage_text) : 30;
  bool ok = true;
  std::string verdicts;
  std::printf(
      "| scenario | breaker | sagas | outcome | seconds to end all |\n"
      "|---|---|---:|---|---:|\n");
  if (Wanted("flaky")) {
    const char* name = "saga-email fails 50% of sends";
    const auto off =
        Bookings(name, saga::testing::FlakyEmail(false), false, 100);
    const auto on = Bookings(name, saga::testing::FlakyEmail(true), true, 100);
    ok = ok && off && on;
    if (off && on) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "- 50%% failing: breaker on / off = %.2f / %.2f s = %.2fx "
                    "(target <= 3x: %s)\n",
                    *on, *off, *on / *off, *on <= 3 * *off ? "met" : "NOT met");
      verdicts += line;
    }
  }
  if (Wanted("slow")) {
    const char* name = "reserve_doctor always times out (3 s > 2 s)";
    const auto off =
        Bookings(name, saga::testing::SlowDoctor(false), false, 15);
    const auto on = Bookings(name, saga::testing::SlowDoctor(true), true, 15);
    ok = ok && off && on;
    if (on) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "- timing out: all 15 compensated in %.2f s with the "
                    "breaker (target <= 30 s: %s)\n",
                    *on, *on <= 30 ? "met" : "NOT met");
      verdicts += line;
    }
  }
  if (Wanted("down")) {
    TestCluster cluster(saga::testing::DownDoctor());
    if (!cluster.Start()) return 1;
    const saga::testing::OutageRun run = saga::testing::RunDoctorOutage(
        cluster, 100, std::chrono::seconds(outage_s), kTimeout);
    char scenario[64];
    std::snprintf(scenario, sizeof scenario, "saga-doctor down %d s", outage_s);
    Row(scenario, true, run.bookings,
        Format(run.bookings.seconds_to_end_all) + " (" +
            Format(run.seconds_to_recover) + " after it was back)");
    ok = ok && run.bookings.seconds_to_end_all.has_value();
    const double rate =
        run.seconds_open > 0 ? run.calls_while_open / run.seconds_open : 0;
    char line[220];
    std::snprintf(line, sizeof line,
                  "- down: %d calls reached it in %.1f s while its circuit was "
                  "not closed = %.2f/s (target <= 1/s: %s); %d sagas ended "
                  "during the outage\n",
                  run.calls_while_open, run.seconds_open, rate,
                  run.circuit_opened && rate <= 1.0 ? "met" : "NOT met",
                  run.ended_during_outage);
    verdicts += line;
  }
  std::printf("\n%s", verdicts.c_str());
  return ok && !::testing::Test::HasFailure() ? 0 : 1;
}
