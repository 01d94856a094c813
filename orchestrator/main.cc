// saga-orchestrator: wiring only. Reads its configuration (config/), loads
// definitions, migrates and opens the store, claims unfinished sagas, then
// serves saga.v1.SagaOrchestrator until SIGTERM/SIGINT, and then stops
// gracefully (see the end of main).
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "observability/health.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "orchestrator/api/event_streams.h"
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/config/command_line.h"
#include "orchestrator/config/config_yaml.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/outbox/dispatcher.h"
#include "orchestrator/outbox/sink.h"
#include "orchestrator/pg/database_probe.h"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/postgres/pg_outbox.h"
#include "orchestrator/store/postgres/pg_store.h"
#include "security/tls.h"

namespace {

// gRPC's default receive limit, kept as a floor.
constexpr size_t kMinReceiveBytes = 4 << 20;

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

// A configuration error, before logging is set up: exit code 2.
int BadConfig(const absl::Status& status) {
  std::fprintf(stderr, "saga-orchestrator: %s\n",
               std::string(status.message()).c_str());
  return 2;
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

saga::engine::CircuitBreakerOptions BreakerOptions(
    const saga::config::CircuitBreakerSettings& settings) {
  saga::engine::CircuitBreakerOptions options;
  options.enabled = settings.enabled;
  options.window_ms = settings.window_ms;
  options.min_calls = settings.min_calls;
  options.failure_rate_percent = settings.failure_rate_percent;
  options.slow_call_rate_percent = settings.slow_call_rate_percent;
  options.slow_call_ms = settings.slow_call_ms;
  options.open_ms = settings.open_ms;
  options.half_open_calls = settings.half_open_calls;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil keeps its debug-time deadlock detector on, which updates
  // a lock graph on every absl::Mutex acquisition (gRPC takes several per
  // call): ~2% of the orchestrator's CPU under load in bench/run.sh.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block termination signals in every thread; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto command_line = saga::config::ParseCommandLine(argc, argv, std::cout);
  if (!command_line.ok()) return BadConfig(command_line.status());
  if (command_line->help_shown) return 0;
  saga::config::Config& config = command_line->config;
  if (command_line->print_config) {
    std::cout << saga::config::PrintConfig(config);
    return 0;
  }
  if (config.instance.id.empty()) config.instance.id = DefaultInstanceId();
  // Secrets and TLS files are read now, so that a bad file stops the start
  // before anything else happens.
  auto dsn = saga::config::EffectiveDsn(config, command_line->db_password);
  if (!dsn.ok()) return BadConfig(dsn.status());
  auto tokens = saga::config::LoadTokens(config);
  if (!tokens.ok()) return BadConfig(tokens.status());
  auto server_credentials = saga::security::MakeServerCredentials(config.tls);
  if (!server_credentials.ok()) {
    return BadConfig(absl::InvalidArgumentError(
        "tls: " + std::string(server_credentials.status().message())));
  }
  auto participant_credentials = saga::config::ParticipantCredentials(config);
  if (!participant_credentials.ok()) {
    return BadConfig(participant_credentials.status());
  }
  // Both were checked by Validate.
  saga::observability::ConfigureLogging(
      "orchestrator", *saga::observability::ParseLogLevel(config.logging.level),
      *saga::observability::ParseLogFormat(config.logging.format));
  saga::config::LogSecurity(config, *tokens);

  std::map<std::string, std::string> participant_addresses;
  for (const auto& [name, endpoint] : config.participants) {
    participant_addresses[name] = endpoint.address;
  }

  std::unique_ptr<saga::outbox::Sink> outbox_sink;
  if (!config.outbox.sink.empty()) {
    auto spec = saga::outbox::ParseSinkSpec(config.outbox.sink);
    if (!spec.ok()) {
      spdlog::critical("{}", std::string(spec.status().message()));
      return 2;
    }
    auto sink = saga::outbox::MakeSink(
        *spec, std::chrono::milliseconds(config.outbox.sink_timeout_ms));
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

  const int startup_timeout_s = config.database.startup_timeout_s;
  absl::Status migrated = RetryWhileUnavailable(
      "applying migrations", startup_timeout_s,
      [&] { return saga::pg::ApplyMigrations(*dsn, config.migrations); });
  if (!migrated.ok()) return Fail("migrations", migrated);
  if (command_line->migrate_only) {
    spdlog::info("migrations applied from {}", config.migrations);
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
      "connecting to the database", startup_timeout_s, [&] {
        return saga::store::PgStore::Open(*dsn, config.database.connections,
                                          group_commit);
      });
  if (!store.ok()) return Fail("database", store.status());

  saga::engine::DefinitionRegistry definitions(store->get());
  if (auto loaded = definitions.LoadDirectory(config.definitions);
      !loaded.ok()) {
    return Fail("saga definitions", loaded);
  }
  for (const auto& participant : definitions.Participants()) {
    if (!participant_addresses.count(participant)) {
      spdlog::critical(
          "a saga definition uses participant '{}' but it has no address "
          "(participants.{}.address in the config file, or --participant "
          "NAME=HOST:PORT)",
          participant, participant);
      return 2;
    }
  }

  saga::engine::ParticipantClients participants(
      participant_addresses, *participant_credentials, config.instance.id);
  saga::engine::EngineOptions engine_options;
  engine_options.db_threads = config.limits.store_threads;
  engine_options.max_input_bytes = config.limits.max_input_bytes;
  engine_options.metrics = &metrics;
  engine_options.drain_timeout =
      std::chrono::milliseconds(config.instance.drain_timeout_ms);
  engine_options.leases.instance_id = config.instance.id;
  engine_options.leases.ttl =
      std::chrono::milliseconds(config.instance.lease_ttl_ms);
  engine_options.leases.claim_interval =
      std::chrono::milliseconds(config.instance.claim_interval_ms);
  engine_options.leases.claim_batch = config.instance.claim_batch;
  engine_options.max_backlog = config.limits.max_backlog;
  engine_options.calls.max_in_flight =
      config.limits.max_inflight_per_participant;
  engine_options.calls.breaker = BreakerOptions(config.circuit_breaker);
  for (const auto& [name, endpoint] : config.participants) {
    engine_options.calls.breakers[name] =
        BreakerOptions(saga::config::CircuitBreakerFor(config, name));
  }
  saga::engine::Engine engine(store->get(), &definitions, &participants,
                              engine_options);
  // Started first, so claimed sagas resume while later batches are still
  // being claimed; the API serves once all are claimed.
  engine.Start();
  const auto recovery_began = std::chrono::steady_clock::now();
  auto recovered =
      RetryWhileUnavailable("claiming unfinished sagas", startup_timeout_s,
                            [&] { return engine.Recover(); });
  if (!recovered.ok()) return Fail("recovery", recovered.status());
  spdlog::info("instance={} resuming {} unfinished sagas (claimed in {} ms)",
               config.instance.id, *recovered,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - recovery_began)
                   .count());

  const std::chrono::milliseconds outbox_poll(config.outbox.poll_ms);
  std::unique_ptr<saga::store::PgOutboxQueue> outbox_queue;
  std::unique_ptr<saga::outbox::Dispatcher> dispatcher;
  if (outbox_sink) {
    outbox_queue = std::make_unique<saga::store::PgOutboxQueue>(*dsn);
    saga::outbox::DispatcherOptions options;
    options.poll_interval = outbox_poll;
    options.metrics = metrics.registry();
    dispatcher = std::make_unique<saga::outbox::Dispatcher>(
        outbox_queue.get(), outbox_sink.get(), &commits, options);
    dispatcher->Start();
  }
  saga::store::PgOutboxLog outbox_log(*dsn, /*connections=*/2);
  saga::api::EventStreamOptions stream_options;
  stream_options.poll_interval = outbox_poll;
  saga::api::EventStreams event_streams(&outbox_log, &commits, stream_options);

  std::unique_ptr<saga::observability::MetricsEndpoint> metrics_endpoint;
  if (!config.metrics_listen.empty()) {
    auto started = saga::observability::MetricsEndpoint::Start(
        config.metrics_listen, metrics.registry());
    if (!started.ok()) return Fail("metrics", started.status());
    metrics_endpoint = *std::move(started);
    spdlog::info("metrics on {}", metrics_endpoint->address());
  }

  saga::api::ServiceOptions service_options;
  service_options.events = &event_streams;
  service_options.authorizer = saga::api::Authorizer(*std::move(tokens));
  saga::api::OrchestratorService service(&engine, store->get(), &definitions,
                                         service_options);
  saga::observability::EnableHealthAndReflection();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config.listen, *server_credentials, &bound_port);
  builder.RegisterService(&service);
  // Well above the input limit, so a too large input reaches StartSaga and
  // gets its precise INVALID_ARGUMENT ("input is N bytes; the limit is M");
  // only a request past this gets gRPC's own RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::max(kMinReceiveBytes, config.limits.max_input_bytes + 64 * 1024)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::critical("cannot listen on {}", config.listen);
    return 1;
  }
  saga::pg::DatabaseProbe database(*dsn);
  saga::observability::HealthMonitor health(
      server.get(), {saga::v1::SagaOrchestrator::service_full_name()},
      [&database] { return database.Check(); }, kHealthProbeInterval);
  spdlog::info("listening on {}",
               config.listen.substr(0, config.listen.rfind(':')) + ":" +
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
