// What an operations team checks before a service goes to production, on a
// real deployment (TestCluster: PostgreSQL, the orchestrator and the three
// participants as processes):
//   - every server serves Prometheus metrics on --metrics-listen (port 0,
//     the bound port found in its log) with the documented series;
//   - gRPC health checking through the standard grpc.health.v1 client,
//     following the orchestrator's database and its draining at shutdown;
//   - server reflection, used by a client that knows no service in advance;
//   - JSON logs and W3C trace context that follow one booking across the
//     services.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/cluster.h"
#include "tests/integration/generic_client.h"
#include "tests/integration/scrape.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kBooking[] = "appointment_booking";
constexpr char kOrchestratorService[] = "saga.v1.SagaOrchestrator";
constexpr char kParticipantService[] = "saga.v1.Participant";
constexpr auto kSagaTimeout = 60s;
constexpr auto kStatusTimeout = 30s;

std::string Address(int port) { return "127.0.0.1:" + std::to_string(port); }

std::shared_ptr<grpc::Channel> ChannelTo(int port) {
  return grpc::CreateChannel(Address(port), grpc::InsecureChannelCredentials());
}

// Every server with a metrics endpoint on a port of its choosing and JSON
// logs.
ClusterOptions ObservedCluster() {
  const std::vector<std::string> flags = {"--metrics-listen", "127.0.0.1:0",
                                          "--log-format", "json"};
  ClusterOptions options;
  for (const auto& name : kParticipants)
    options.participant_flags[name] = flags;
  options.orchestrator_flags = flags;
  return options;
}

std::string LogPath(const TestCluster& cluster, const std::string& service) {
  return cluster.log_dir() + "/" + service + ".log";
}

// The JSON log lines of `service` (every line must be JSON).
std::vector<Json> JsonLog(const TestCluster& cluster,
                          const std::string& service) {
  std::ifstream in(LogPath(cluster, service));
  std::vector<Json> lines;
  std::string line;
  while (std::getline(in, line)) {
    Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded())
        << service << " logged a line that is not JSON: " << line;
    if (!parsed.is_discarded()) lines.push_back(std::move(parsed));
  }
  return lines;
}

std::vector<Json> LinesOfSaga(const std::vector<Json>& log,
                              const std::string& saga_id) {
  std::vector<Json> lines;
  std::copy_if(
      log.begin(), log.end(), std::back_inserter(lines),
      [&](const Json& line) { return line.value("saga_id", "") == saga_id; });
  return lines;
}

Scrape ScrapeMetrics(const TestCluster& cluster, const std::string& service) {
  const std::string address =
      AwaitMetricsAddress(LogPath(cluster, service), 10s);
  EXPECT_FALSE(address.empty()) << service << " logged no 'metrics on'";
  if (address.empty()) return {};
  return ParseScrape(HttpGet(address, "/metrics"));
}

HealthCheckResponse::ServingStatus Check(Health::Stub& health,
                                         const std::string& service,
                                         grpc::StatusCode* code = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = health.Check(&context, request, &response);
  if (code != nullptr) *code = status.error_code();
  return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
}

// Cuts the database off from its clients, or lets them back in: new
// connections are refused and open ones are terminated, which is what the
// orchestrator sees when its database server is down. Only this test's
// database is affected, so tests running in parallel on the same server
// are not.
void SetDatabaseReachable(const TestDatabase& database, bool reachable) {
  pqxx::connection admin(AdminDsn());
  pqxx::nontransaction sql(admin);
  sql.exec("ALTER DATABASE " + sql.quote_name(database.name()) +
           " WITH ALLOW_CONNECTIONS " + (reachable ? "true" : "false"));
  if (!reachable) {
    sql.exec_params(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        database.name());
  }
}

TEST(ObservabilityTest, MetricsDescribeBookingsOnEveryServer) {
  TestCluster cluster(ObservedCluster());
  ASSERT_TRUE(cluster.Start());
  const std::string completed = cluster.StartSaga(
      kBooking, BookingInput("p-1001", "2026-12-20", "cardiology"));
  // An inactive patient: refused at the first step, nothing to undo.
  const std::string refused = cluster.StartSaga(
      kBooking, BookingInput("p-1003", "2026-12-20", "cardiology"));
  EXPECT_EQ(cluster.AwaitTerminal(completed, kSagaTimeout).status(),
            v1::SAGA_STATUS_COMPLETED);
  EXPECT_EQ(cluster.AwaitTerminal(refused, kSagaTimeout).status(),
            v1::SAGA_STATUS_COMPENSATED);

  // A saga leaves the in-flight gauge just after its waiters are answered.
  Scrape orchestrator;
  const std::map<std::string, std::string> type = {{"saga_type", kBooking}};
  EXPECT_TRUE(PollUntil(
      [&] {
        orchestrator = ScrapeMetrics(cluster, "orchestrator");
        return orchestrator.Value("saga_sagas_in_flight", type) == 0.0;
      },
      kStatusTimeout))
      << "saga_sagas_in_flight stayed "
      << orchestrator.Value("saga_sagas_in_flight", type).value_or(-1);

  EXPECT_EQ(orchestrator.Value("saga_sagas_started_total", type), 2);
  EXPECT_EQ(
      orchestrator.Value("saga_sagas_ended_total",
                         {{"saga_type", kBooking}, {"status", "COMPLETED"}}),
      1);
  EXPECT_EQ(
      orchestrator.Value("saga_sagas_ended_total",
                         {{"saga_type", kBooking}, {"status", "COMPENSATED"}}),
      1);
  EXPECT_EQ(orchestrator.Value("saga_compensations_total", type), 1);
  EXPECT_EQ(orchestrator.Value("saga_step_attempts_total",
                               {{"saga_type", kBooking},
                                {"step", "validate_patient"},
                                {"call", "execute"}}),
            2);
  EXPECT_FALSE(
      orchestrator
          .Value("saga_step_retries_total", {{"saga_type", kBooking},
                                             {"step", "validate_patient"},
                                             {"call", "execute"}})
          .has_value());
  EXPECT_EQ(orchestrator.Value("saga_step_duration_seconds_count",
                               {{"saga_type", kBooking},
                                {"step", "validate_patient"},
                                {"call", "execute"},
                                {"outcome", "business_failure"}}),
            1);
  for (const char* step : {"validate_patient", "reserve_doctor", "notify"}) {
    EXPECT_EQ(orchestrator.Value("saga_step_duration_seconds_count",
                                 {{"saga_type", kBooking},
                                  {"step", step},
                                  {"call", "execute"},
                                  {"outcome", "succeeded"}}),
              1)
        << step;
  }
  for (const auto& participant : kParticipants) {
    EXPECT_EQ(orchestrator.Value("saga_participant_circuit_state",
                                 {{"participant", participant}}),
              0)
        << participant;
  }
  // Every write went through a group commit: at least the two creates, and
  // one duration per commit.
  const auto commits = orchestrator.Value("saga_store_commit_batch_size_count");
  ASSERT_TRUE(commits.has_value());
  EXPECT_GE(*commits, 1);
  EXPECT_GE(orchestrator.Value("saga_store_commit_batch_size_sum").value_or(0),
            2);
  EXPECT_EQ(orchestrator.Value("saga_store_commit_duration_seconds_count"),
            commits);
  EXPECT_EQ(orchestrator.types["saga_step_duration_seconds"], "histogram");

  const Scrape patient = ScrapeMetrics(cluster, "patient");
  EXPECT_EQ(patient.Value("saga_participant_requests_total",
                          {{"rpc", "execute"},
                           {"action", "validate_patient"},
                           {"outcome", "succeeded"}}),
            1);
  EXPECT_EQ(patient.Value("saga_participant_requests_total",
                          {{"rpc", "execute"},
                           {"action", "validate_patient"},
                           {"outcome", "business_failure"}}),
            1);
  EXPECT_EQ(patient.Value("saga_participant_request_duration_seconds_count",
                          {{"rpc", "execute"}, {"action", "validate_patient"}}),
            2);
  const Scrape doctor = ScrapeMetrics(cluster, "doctor");
  EXPECT_EQ(doctor.Value("saga_participant_requests_total",
                         {{"rpc", "execute"},
                          {"action", "reserve_doctor"},
                          {"outcome", "succeeded"}}),
            1);
  const Scrape email = ScrapeMetrics(cluster, "email");
  EXPECT_EQ(email.Value("saga_participant_requests_total",
                        {{"rpc", "execute"},
                         {"action", "send_notification"},
                         {"outcome", "succeeded"}}),
            1);
}

TEST(ObservabilityTest, HealthFollowsTheDatabaseAndDraining) {
  TestCluster cluster(ObservedCluster());
  ASSERT_TRUE(cluster.Start());
  // A server accepts connections a moment before its first database probe
  // has set its service's status (NOT_FOUND until then).
  auto serving = [](Health::Stub& stub, const std::string& service) {
    return PollUntil(
        [&] { return Check(stub, service) == HealthCheckResponse::SERVING; },
        kStatusTimeout);
  };
  for (const auto& participant : kParticipants) {
    auto stub =
        Health::NewStub(ChannelTo(cluster.participant_port(participant)));
    EXPECT_TRUE(serving(*stub, kParticipantService)) << participant;
    EXPECT_EQ(Check(*stub, ""), HealthCheckResponse::SERVING) << participant;
  }

  auto health = Health::NewStub(ChannelTo(cluster.orchestrator_port()));
  ASSERT_TRUE(serving(*health, kOrchestratorService));
  EXPECT_EQ(Check(*health, ""), HealthCheckResponse::SERVING);
  grpc::StatusCode code = grpc::StatusCode::OK;
  Check(*health, "no.such.Service", &code);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);

  // Watch streams every change; each Read below waits for the next one
  // (bounded by the stream's deadline).
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + 120s);
  HealthCheckRequest watched;
  watched.set_service(kOrchestratorService);
  auto watch = health->Watch(&watch_context, watched);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);

  SetDatabaseReachable(cluster.database("orchestrator"), false);
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check(*health, ""), HealthCheckResponse::NOT_SERVING);
  // A client that does not check health learns the same from the API.
  grpc::ClientContext start_context;
  start_context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::StartSagaRequest start;
  start.set_saga_type(kBooking);
  start.set_input_json(BookingInput("p-1001", "2026-12-21", "cardiology"));
  v1::StartSagaResponse started;
  EXPECT_EQ(
      cluster.Stub().StartSaga(&start_context, start, &started).error_code(),
      grpc::StatusCode::UNAVAILABLE);

  SetDatabaseReachable(cluster.database("orchestrator"), true);
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(*health, ""), HealthCheckResponse::SERVING);

  // Draining at shutdown: NOT_SERVING before the server goes away.
  cluster.KillOrchestrator(SIGTERM);
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  while (watch->Read(&update)) {
  }
  watch->Finish();
}

TEST(ObservabilityTest, ReflectionLetsAGenericClientFindAndCallServices) {
  TestCluster cluster(ObservedCluster());
  ASSERT_TRUE(cluster.Start());

  ReflectionClient orchestrator(ChannelTo(cluster.orchestrator_port()));
  auto services = orchestrator.ListServices();
  ASSERT_TRUE(services.ok()) << services.status();
  const std::set<std::string> offered(services->begin(), services->end());
  for (const char* expected : {kOrchestratorService, "grpc.health.v1.Health",
                               "grpc.reflection.v1alpha.ServerReflection"}) {
    EXPECT_TRUE(offered.count(expected)) << expected;
  }
  // Described and called with nothing but what reflection told.
  auto definitions =
      orchestrator.Call("saga.v1.SagaOrchestrator.ListDefinitions", "");
  ASSERT_TRUE(definitions.ok()) << definitions.status();
  EXPECT_NE(definitions->find("saga_type: \"appointment_booking\""),
            std::string::npos)
      << *definitions;
  auto missing =
      orchestrator.Call("saga.v1.SagaOrchestrator.GetSaga",
                        "saga_id: \"123e4567-e89b-42d3-a456-426614174000\"");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound)
      << missing.status();

  for (const auto& participant : kParticipants) {
    ReflectionClient client(ChannelTo(cluster.participant_port(participant)));
    auto names = client.ListServices();
    ASSERT_TRUE(names.ok()) << participant << ": " << names.status();
    EXPECT_NE(std::find(names->begin(), names->end(), kParticipantService),
              names->end())
        << participant;
  }
}

TEST(ObservabilityTest, ATraceFollowsABookingAcrossServices) {
  TestCluster cluster(ObservedCluster());
  ASSERT_TRUE(cluster.Start());
  constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
  constexpr char kCallerSpan[] = "00f067aa0ba902b7";
  const std::string traceparent =
      std::string("00-") + kTraceId + "-" + kCallerSpan + "-01";
  // A date no log line may show: inputs stay out of info logs.
  constexpr char kPrivateDate[] = "2026-12-13";

  auto start = [&](const std::string& header) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    if (!header.empty()) {
      context.AddMetadata("traceparent", header);
      context.AddMetadata("tracestate", "congo=t61rcWkgMzE");
    }
    v1::StartSagaRequest request;
    request.set_saga_type(kBooking);
    request.set_input_json(BookingInput("p-1002", kPrivateDate, "cardiology"));
    v1::StartSagaResponse response;
    grpc::Status status =
        cluster.Stub().StartSaga(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.saga_id();
  };
  const std::string traced = start(traceparent);
  const std::string malformed = start("00-not-a-trace-01");
  const std::string untraced = start("");
  for (const std::string& id : {traced, malformed, untraced}) {
    ASSERT_EQ(cluster.AwaitTerminal(id, kSagaTimeout).status(),
              v1::SAGA_STATUS_COMPLETED)
        << id;
  }

  // Recorded with the saga and shown by GetSaga.
  const v1::Saga saga = cluster.GetSaga(traced);
  EXPECT_EQ(saga.traceparent(), traceparent);
  EXPECT_EQ(saga.tracestate(), "congo=t61rcWkgMzE");
  // A malformed or missing traceparent starts a new trace (and drops the
  // tracestate that came with it).
  std::map<std::string, std::string> trace_of = {{traced, kTraceId}};
  for (const std::string& id : {malformed, untraced}) {
    const v1::Saga other = cluster.GetSaga(id);
    ASSERT_EQ(other.traceparent().size(), 55u) << other.traceparent();
    EXPECT_EQ(other.tracestate(), "");
    trace_of[id] = other.traceparent().substr(3, 32);
    EXPECT_NE(trace_of[id], kTraceId);
  }
  EXPECT_NE(trace_of[malformed], trace_of[untraced]);

  // Every orchestrator line about a saga names it, its type, step, attempt
  // and trace; each participant call is a child span.
  const std::vector<Json> orchestrator_log = JsonLog(cluster, "orchestrator");
  std::map<std::string, std::string> span_of_step;  // traced saga only
  for (const auto& [id, trace_id] : trace_of) {
    const std::vector<Json> lines = LinesOfSaga(orchestrator_log, id);
    EXPECT_GE(lines.size(), 8u) << id;
    for (const Json& line : lines) {
      EXPECT_EQ(line.value("saga_type", ""), kBooking) << line;
      EXPECT_EQ(line.value("trace_id", ""), trace_id) << line;
      EXPECT_TRUE(line.contains("step") && line.contains("attempt")) << line;
      if (id == traced && line.value("msg", "") == "calling participant") {
        span_of_step[line["step"]] = line.value("span_id", "");
      }
    }
  }
  ASSERT_EQ(span_of_step.size(), 3u);

  // The participants received the same trace id with the span id of the
  // call, not the caller's.
  const std::map<std::string, std::string> step_of = {
      {"patient", "validate_patient"},
      {"doctor", "reserve_doctor"},
      {"email", "notify"}};
  for (const auto& [participant, step] : step_of) {
    const std::vector<Json> lines =
        LinesOfSaga(JsonLog(cluster, participant), traced);
    ASSERT_EQ(lines.size(), 1u) << participant;
    EXPECT_EQ(lines[0].value("trace_id", ""), kTraceId) << lines[0];
    EXPECT_EQ(lines[0].value("span_id", ""), span_of_step[step]) << lines[0];
    EXPECT_NE(lines[0].value("span_id", ""), kCallerSpan) << lines[0];
    EXPECT_EQ(lines[0].value("step", ""), step) << lines[0];
  }
  std::set<std::string> spans;
  for (const auto& [step, span] : span_of_step) spans.insert(span);
  EXPECT_EQ(spans.size(), 3u);

  for (const char* service : {"orchestrator", "patient", "doctor", "email"}) {
    std::ifstream in(LogPath(cluster, service));
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    EXPECT_EQ(text.find(kPrivateDate), std::string::npos)
        << service << " logged a saga input";
  }
}

}  // namespace
}  // namespace saga::testing
