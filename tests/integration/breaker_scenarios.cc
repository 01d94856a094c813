#include "tests/integration/breaker_scenarios.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tests/integration/scrape.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kBooking[] = "appointment_booking";

ClusterOptions Observable(bool breaker) {
  ClusterOptions options;
  options.orchestrator_flags = {"--log-format", "json", "--metrics-listen",
                                "127.0.0.1:0"};
  if (!breaker) options.orchestrator_flags.push_back("--circuit-breaker=false");
  return options;
}

double Seconds(SteadyClock::duration elapsed) {
  return std::chrono::duration<double>(elapsed).count();
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Calls saga-doctor refused (it logs one line per call it answers).
int RefusedDoctorCalls(const TestCluster& cluster) {
  int calls = 0;
  for (const char* rpc : {"execute", "compensate"}) {
    calls += CountLogLines(cluster, "doctor",
                           {{"msg", rpc}, {"outcome", "UNAVAILABLE"}});
  }
  return calls;
}

}  // namespace

ClusterOptions FlakyEmail(bool breaker) {
  ClusterOptions options = Observable(breaker);
  options.participant_flags["email"] = {"--fail-rate", "send_notification=0.5"};
  return options;
}

ClusterOptions SlowDoctor(bool breaker) {
  ClusterOptions options = Observable(breaker);
  options.participant_flags["doctor"] = {"--latency-ms", "reserve_doctor=3000"};
  return options;
}

ClusterOptions DownDoctor() {
  ClusterOptions options = Observable(true);
  options.participant_flags["doctor"] = {"--refuse-all", "--log-format",
                                         "json"};
  return options;
}

std::vector<std::string> StartBookings(TestCluster& cluster, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    std::string id = cluster.StartSaga(kBooking, AcceptedBookingInput(i));
    if (!id.empty()) ids.push_back(std::move(id));
  }
  return ids;
}

int BookingRun::Count(saga::v1::SagaStatus status) const {
  return static_cast<int>(std::count_if(
      sagas.begin(), sagas.end(),
      [status](const auto& saga) { return saga.status() == status; }));
}

BookingRun AwaitBookings(TestCluster& cluster,
                         const std::vector<std::string>& ids,
                         std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  BookingRun run;
  int64_t first_created = std::numeric_limits<int64_t>::max();
  int64_t last_ended = 0;
  bool all_ended = true;
  for (const std::string& id : ids) {
    const auto left = std::max<std::chrono::milliseconds>(
        1ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                 deadline - SteadyClock::now()));
    run.sagas.push_back(cluster.AwaitTerminal(id, left));
    const saga::v1::Saga& saga = run.sagas.back();
    first_created = std::min(first_created, saga.created_unix_ms());
    last_ended = std::max(last_ended, saga.updated_unix_ms());
    all_ended = all_ended && IsTerminal(saga.status());
  }
  if (all_ended && !ids.empty()) {
    run.seconds_to_end_all = (last_ended - first_created) / 1000.0;
  }
  return run;
}

OutageRun RunDoctorOutage(TestCluster& cluster, int count,
                          std::chrono::milliseconds outage,
                          std::chrono::milliseconds timeout) {
  OutageRun run;
  const auto down_since = SteadyClock::now();
  const std::vector<std::string> ids = StartBookings(cluster, count);
  const std::map<std::string, std::string> to_half_open = {
      {"msg", "participant circuit"},
      {"participant", "doctor"},
      {"to", "half_open"}};
  // From the first trials on, every call the doctor sees is one the
  // circuit let through: the calls sent before it opened were refused at
  // once, two seconds earlier.
  std::optional<SteadyClock::time_point> first_trials;
  int calls_before = 0;
  SteadyClock::time_point last_read;
  PollUntil(
      [&] {
        // The log is read ten times a second at most: it is not small.
        if (!first_trials && SteadyClock::now() - last_read >= 100ms) {
          last_read = SteadyClock::now();
          if (CountLogLines(cluster, "orchestrator", to_half_open) > 0) {
            first_trials = SteadyClock::now();
            calls_before = RefusedDoctorCalls(cluster);
          }
        }
        return SteadyClock::now() - down_since >= outage;
      },
      outage + 10s);
  run.circuit_opened = CountLogLines(cluster, "orchestrator",
                                     {{"msg", "participant circuit"},
                                      {"participant", "doctor"},
                                      {"to", "open"}}) > 0;
  if (first_trials) {
    run.calls_while_open = RefusedDoctorCalls(cluster) - calls_before;
    run.seconds_open = Seconds(SteadyClock::now() - *first_trials);
  }
  for (const std::string& id : ids) {
    run.ended_during_outage += IsTerminal(cluster.GetSaga(id).status()) ? 1 : 0;
  }

  const int64_t back_ms = WallNowMs();
  if (!cluster.RestartParticipant("doctor", {"--log-format", "json"})) {
    ADD_FAILURE() << "saga-doctor did not restart";
    return run;
  }
  run.bookings = AwaitBookings(cluster, ids, timeout);
  if (run.bookings.seconds_to_end_all) {
    int64_t last_ended = 0;
    for (const auto& saga : run.bookings.sagas) {
      last_ended = std::max(last_ended, saga.updated_unix_ms());
    }
    run.seconds_to_recover =
        std::max<int64_t>(0, last_ended - back_ms) / 1000.0;
  }
  return run;
}

int CountLogLines(const TestCluster& cluster, const std::string& service,
                  const std::map<std::string, std::string>& match) {
  std::ifstream in(cluster.log_dir() + "/" + service + ".log");
  int count = 0;
  std::string line;
  while (std::getline(in, line)) {
    Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) continue;
    bool all = true;
    for (const auto& [key, value] : match) {
      all = all && parsed.contains(key) && parsed[key].is_string() &&
            parsed[key].get<std::string>() == value;
    }
    count += all ? 1 : 0;
  }
  return count;
}

std::optional<double> CircuitStateOf(const TestCluster& cluster,
                                     const std::string& participant) {
  const std::string address =
      AwaitMetricsAddress(cluster.log_dir() + "/orchestrator.log", 10s);
  if (address.empty()) return std::nullopt;
  return ParseScrape(HttpGet(address, "/metrics"))
      .Value("saga_participant_circuit_state", {{"participant", participant}});
}

}  // namespace saga::testing
