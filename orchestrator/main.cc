// saga-orchestrator: wiring only. Loads definitions, migrates and opens the
// store, claims unfinished sagas, then serves saga.v1.SagaOrchestrator until
// SIGTERM/SIGINT, and then stops gracefully (see the end of main).
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "observability/health.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "orchestrator/api/event_streams.h"
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/outbox/dispatcher.h"
#include "orchestrator/outbox/sink.h"
#include "orchestrator/store/postgres/database_probe.h"
#include "orchestrator/store/postgres/migrator.h"
#include "orchestrator/store/postgres/pg_outbox.h"
#include "orchestrator/store/postgres/pg_store.h"

namespace {

// gRPC's default receive limit, kept as a floor.
constexpr size_t kMinReceiveBytes = 4 << 20;

struct Flags {
  std::string listen = "127.0.0.1:50051";
  std::string db;
  std::string definitions = "sagas";
  std::string migrations = "migrations/orchestrator";
  std::vector<std::string> participants;
  int db_connections = 8;
  int store_threads = 64;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string metrics_listen;
  size_t max_input_bytes = 256 * 1024;
  int startup_timeout_s = 30;
  bool migrate_only = false;
  std::string instance_id;
  int lease_ttl_ms = 15000;
  int claim_interval_ms = 1000;
  int claim_batch = 100;
  int drain_timeout_ms = 10000;
  size_t max_backlog = 10000;
  int max_inflight_per_participant = 256;
  int circuit_failure_threshold = 10;
  int circuit_open_ms = 2000;
  int circuit_ramp_to = 16;
  std::string outbox_sink;
  int outbox_poll_ms = 1000;
  int outbox_sink_timeout_ms = 10000;
};

// hostname-pid-random: unique among live instances without configuration.
std::string DefaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "orchestrator");
  }
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%06x", random() & 0xffffff);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Retries `attempt` with backoff while it fails with Unavailable, so the
// orchestrator may start before its database is up.
template <typename Fn>
auto RetryWhileUnavailable(const char* what, int timeout_s, Fn attempt) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto delay = std::chrono::milliseconds(100);
  while (true) {
    auto result = attempt();
    const absl::Status status = StatusOf(result);
    if (status.ok() || !absl::IsUnavailable(status) ||
        std::chrono::steady_clock::now() + delay > deadline) {
      return result;
    }
    spdlog::warn("{}: {}; retrying in {} ms", what, status.ToString(),
                 delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

int Fail(const std::string& what, const absl::Status& status) {
  spdlog::critical("{}: {}", what, status.ToString());
  return 1;
}

int WaitForTerminationSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

// How often the health status is checked against the database.
constexpr std::chrono::seconds kHealthProbeInterval{1};

}  // namespace

int main(int argc, char** argv) {
  // Block termination signals in every thread; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Flags flags;
  CLI::App app{"saga-orchestrator: runs persisted saga state machines"};
  app.add_option("--listen", flags.listen, "gRPC listen address")
      ->capture_default_str();
  app.add_option("--db", flags.db, "PostgreSQL connection string")
      ->required()
      ->envname("SAGA_DB");
  app.add_option("--definitions", flags.definitions,
                 "Directory of saga definitions (*.yaml)")
      ->capture_default_str();
  app.add_option("--migrations", flags.migrations,
                 "Directory of the orchestrator's SQL migrations")
      ->capture_default_str();
  app.add_option("--participant", flags.participants,
                 "NAME=HOST:PORT of a participant service (repeatable)");
  app.add_option("--db-connections", flags.db_connections,
                 "Connections to the database")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--store-threads", flags.store_threads,
                 "Threads that wait on store reads (recovery, reloads); "
                 "writes are group-committed by the engine's committer")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  app.add_option("--log-format", flags.log_format,
                 "text, or json for one JSON object per line")
      ->capture_default_str();
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "HOST:PORT to serve Prometheus metrics on (/metrics); "
                 "port 0 picks a free one; empty: no metrics endpoint");
  app.add_option("--max-input-bytes", flags.max_input_bytes,
                 "Largest accepted saga input")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  app.add_option("--startup-timeout", flags.startup_timeout_s,
                 "Seconds to wait for the database at start-up")
      ->capture_default_str();
  app.add_flag("--migrate-only", flags.migrate_only,
               "Apply migrations and exit");
  app.add_option("--instance-id", flags.instance_id,
                 "This instance's name in saga leases and histories; unique "
                 "among the instances sharing the database (default: "
                 "hostname-pid-random). A stable id lets a restart resume "
                 "its sagas without waiting for their leases to expire");
  app.add_option("--lease-ttl-ms", flags.lease_ttl_ms,
                 "How long a saga's lease lasts without renewal: after a "
                 "crash, the instance's sagas move to others this long later")
      ->capture_default_str()
      ->check(CLI::Range(300, 3600 * 1000));
  app.add_option("--claim-interval-ms", flags.claim_interval_ms,
                 "How often to look for sagas with free or expired leases")
      ->capture_default_str()
      ->check(CLI::Range(10, 600 * 1000));
  app.add_option("--claim-batch", flags.claim_batch,
                 "Most sagas claimed at a time")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--drain-timeout-ms", flags.drain_timeout_ms,
                 "On SIGTERM, longest wait for participant calls in flight "
                 "to land and commit")
      ->capture_default_str()
      ->check(CLI::Range(0, 600 * 1000));
  app.add_option("--max-backlog", flags.max_backlog,
                 "Most sagas driven at once; past it StartSaga answers "
                 "RESOURCE_EXHAUSTED and writes nothing (0: no bound)")
      ->capture_default_str();
  app.add_option("--max-inflight-per-participant",
                 flags.max_inflight_per_participant,
                 "Most calls in flight to one participant; more wait in the "
                 "engine, in order (0: no bound)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--circuit-failure-threshold", flags.circuit_failure_threshold,
                 "Failures in a row (retryable or transport) that open a "
                 "participant's circuit (0: no circuit breaker)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--circuit-open-ms", flags.circuit_open_ms,
                 "How long an open circuit parks calls before one probe")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600 * 1000));
  app.add_option("--circuit-ramp-to", flags.circuit_ramp_to,
                 "After a good probe, concurrent calls ramp 1, 2, 4, ... up "
                 "to this, then the circuit closes")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--outbox-sink", flags.outbox_sink,
                 "Deliver outbox messages to http://HOST[:PORT][/PATH] (POST "
                 "JSON batches) or file:PATH (JSON lines) and mark them "
                 "DISPATCHED; empty (default): no dispatcher, messages stay "
                 "PENDING (for change-data-capture tools)");
  app.add_option("--outbox-poll-ms", flags.outbox_poll_ms,
                 "How often outbox readers (WatchEvents, the dispatcher) look "
                 "for messages committed by other orchestrators")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000));
  app.add_option("--outbox-sink-timeout-ms", flags.outbox_sink_timeout_ms,
                 "Longest one delivery to the outbox sink may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  CLI11_PARSE(app, argc, argv);
  if (flags.instance_id.empty()) flags.instance_id = DefaultInstanceId();

  auto log_level = saga::observability::ParseLogLevel(flags.log_level);
  auto log_format = saga::observability::ParseLogFormat(flags.log_format);
  for (const absl::Status& status : {log_level.status(), log_format.status()}) {
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
      return 2;
    }
  }
  saga::observability::ConfigureLogging("orchestrator", *log_level,
                                        *log_format);

  std::map<std::string, std::string> participant_addresses;
  for (const auto& entry : flags.participants) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      spdlog::critical("--participant '{}': expected NAME=HOST:PORT", entry);
      return 2;
    }
    participant_addresses[entry.substr(0, eq)] = entry.substr(eq + 1);
  }

  std::unique_ptr<saga::outbox::Sink> outbox_sink;
  if (!flags.outbox_sink.empty()) {
    auto spec = saga::outbox::ParseSinkSpec(flags.outbox_sink);
    if (!spec.ok()) {
      spdlog::critical("{}", std::string(spec.status().message()));
      return 2;
    }
    auto sink = saga::outbox::MakeSink(
        *spec, std::chrono::milliseconds(flags.outbox_sink_timeout_ms));
    if (!sink.ok()) {
      spdlog::critical("{}", std::string(sink.status().message()));
      return 2;
    }
    outbox_sink = *std::move(sink);
  }

  if (absl::Status crash_points = saga::engine::CheckCrashPointConfig();
      !crash_points.ok()) {
    spdlog::critical("{}", std::string(crash_points.message()));
    return 2;
  }

  absl::Status migrated = RetryWhileUnavailable(
      "applying migrations", flags.startup_timeout_s,
      [&] { return saga::store::ApplyMigrations(flags.db, flags.migrations); });
  if (!migrated.ok()) return Fail("migrations", migrated);
  if (flags.migrate_only) {
    spdlog::info("migrations applied from {}", flags.migrations);
    return 0;
  }

  std::vector<std::string> participant_names;
  for (const auto& [name, address] : participant_addresses) {
    participant_names.push_back(name);
  }
  saga::engine::OrchestratorMetrics metrics(
      std::make_shared<prometheus::Registry>(), participant_names);
  // Every commit may make outbox messages readable: wake the readers.
  saga::outbox::CommitSignal commits;
  saga::store::GroupCommitOptions group_commit;
  group_commit.observer = [&metrics, &commits](
                              size_t batches,
                              std::chrono::duration<double> latency) {
    metrics.StoreCommitted(batches, latency.count());
    commits.Notify();
  };
  auto store = RetryWhileUnavailable(
      "connecting to the database", flags.startup_timeout_s, [&] {
        return saga::store::PgStore::Open(flags.db, flags.db_connections,
                                          group_commit);
      });
  if (!store.ok()) return Fail("database", store.status());

  saga::engine::DefinitionRegistry definitions(store->get());
  if (auto loaded = definitions.LoadDirectory(flags.definitions);
      !loaded.ok()) {
    return Fail("saga definitions", loaded);
  }
  for (const auto& participant : definitions.Participants()) {
    if (!participant_addresses.count(participant)) {
      spdlog::critical(
          "a saga definition uses participant '{}' but no --participant "
          "{}=HOST:PORT was given",
          participant, participant);
      return 2;
    }
  }

  saga::engine::ParticipantClients participants(participant_addresses);
  saga::engine::EngineOptions engine_options;
  engine_options.db_threads = flags.store_threads;
  engine_options.max_input_bytes = flags.max_input_bytes;
  engine_options.metrics = &metrics;
  engine_options.drain_timeout =
      std::chrono::milliseconds(flags.drain_timeout_ms);
  engine_options.leases.instance_id = flags.instance_id;
  engine_options.leases.ttl = std::chrono::milliseconds(flags.lease_ttl_ms);
  engine_options.leases.claim_interval =
      std::chrono::milliseconds(flags.claim_interval_ms);
  engine_options.leases.claim_batch = flags.claim_batch;
  engine_options.max_backlog = flags.max_backlog;
  engine_options.calls.max_in_flight = flags.max_inflight_per_participant;
  engine_options.calls.breaker = {flags.circuit_failure_threshold,
                                  flags.circuit_open_ms, flags.circuit_ramp_to};
  saga::engine::Engine engine(store->get(), &definitions, &participants,
                              engine_options);
  // Started first, so claimed sagas resume while later batches are still
  // being claimed; the API serves once all are claimed.
  engine.Start();
  const auto recovery_began = std::chrono::steady_clock::now();
  auto recovered = RetryWhileUnavailable("claiming unfinished sagas",
                                         flags.startup_timeout_s,
                                         [&] { return engine.Recover(); });
  if (!recovered.ok()) return Fail("recovery", recovered.status());
  spdlog::info("instance={} resuming {} unfinished sagas (claimed in {} ms)",
               flags.instance_id, *recovered,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - recovery_began)
                   .count());

  const std::chrono::milliseconds outbox_poll(flags.outbox_poll_ms);
  std::unique_ptr<saga::store::PgOutboxQueue> outbox_queue;
  std::unique_ptr<saga::outbox::Dispatcher> dispatcher;
  if (outbox_sink) {
    outbox_queue = std::make_unique<saga::store::PgOutboxQueue>(flags.db);
    saga::outbox::DispatcherOptions options;
    options.poll_interval = outbox_poll;
    options.metrics = metrics.registry();
    dispatcher = std::make_unique<saga::outbox::Dispatcher>(
        outbox_queue.get(), outbox_sink.get(), &commits, options);
    dispatcher->Start();
  }
  saga::store::PgOutboxLog outbox_log(flags.db, /*connections=*/2);
  saga::api::EventStreamOptions stream_options;
  stream_options.poll_interval = outbox_poll;
  saga::api::EventStreams event_streams(&outbox_log, &commits, stream_options);

  std::unique_ptr<saga::observability::MetricsEndpoint> metrics_endpoint;
  if (!flags.metrics_listen.empty()) {
    auto started = saga::observability::MetricsEndpoint::Start(
        flags.metrics_listen, metrics.registry());
    if (!started.ok()) return Fail("metrics", started.status());
    metrics_endpoint = *std::move(started);
    spdlog::info("metrics on {}", metrics_endpoint->address());
  }

  saga::api::ServiceOptions service_options;
  service_options.events = &event_streams;
  saga::api::OrchestratorService service(&engine, store->get(), &definitions,
                                         service_options);
  saga::observability::EnableHealthAndReflection();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(),
                           &bound_port);
  builder.RegisterService(&service);
  // Well above the input limit, so a too large input reaches StartSaga and
  // gets its precise INVALID_ARGUMENT ("input is N bytes; the limit is M");
  // only a request past this gets gRPC's own RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::max(kMinReceiveBytes, flags.max_input_bytes + 64 * 1024)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::critical("cannot listen on {}", flags.listen);
    return 1;
  }
  saga::store::DatabaseProbe database(flags.db);
  saga::observability::HealthMonitor health(
      server.get(), {saga::v1::SagaOrchestrator::service_full_name()},
      [&database] { return database.Check(); }, kHealthProbeInterval);
  spdlog::info("listening on {}",
               flags.listen.substr(0, flags.listen.rfind(':')) + ":" +
                   std::to_string(bound_port));

  const int received = WaitForTerminationSignal();
  // Shutdown: load balancers see NOT_SERVING and StartSaga answers
  // UNAVAILABLE at once, while reads keep being served; the participant
  // calls in flight land and their results commit (bounded); then the server
  // stops and the engine releases its leases, so another instance (or the
  // next start) resumes the unfinished sagas without waiting for expiry.
  spdlog::info("signal {} received: shutting down", received);
  health.Drain();
  event_streams.BeginShutdown();
  engine.BeginShutdown();
  const bool drained = engine.Drain();
  spdlog::info("in-flight participant calls {}",
               drained ? "drained" : "still running at the drain timeout");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  engine.Stop();
  if (dispatcher) dispatcher->Stop();
  spdlog::info("stopped; {} sagas left for other instances or the next start",
               engine.ActiveSagas());
  return 0;
}
