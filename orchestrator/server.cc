#include "orchestrator/server.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "observability/health.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/backend.h"
#include "orchestrator/console/http_server.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/metrics.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/outbox/sink.h"
#include "security/tls.h"

namespace saga::server {
namespace {

// gRPC's default receive limit, kept as a floor.
constexpr size_t kMinReceiveBytes = 4 << 20;

// How often the health status is checked against the database.
constexpr std::chrono::seconds kHealthProbeInterval{1};

// hostname-pid-random: unique without configuration, also among the
// processes that ran before (a container's hostname and pid repeat across
// restarts; 64 random bits do not), so recovery need not look for leases
// an earlier process left under it (LeaseOptions::fresh_instance_id).
std::string DefaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "orchestrator");
  }
  std::random_device random;
  const uint64_t bits = (uint64_t{random()} << 32) | random();
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx",
                static_cast<unsigned long long>(bits));
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
  return kExitFailed;
}

// A configuration error found once logging is set up.
int BadSetting(const absl::Status& status) {
  spdlog::critical("{}", std::string(status.message()));
  return kExitBadConfig;
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

engine::CircuitBreakerOptions BreakerOptions(
    const config::CircuitBreakerSettings& settings) {
  engine::CircuitBreakerOptions options;
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

// What start-up reads from files and the environment, read first so that
// a bad file stops the start before anything else happens.
struct Secrets {
  std::string dsn;  // with the password
  security::TokenTable tokens;
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>
      participant_credentials;
};

absl::StatusOr<Secrets> ReadSecrets(const config::Config& config,
                                    const std::string& db_password) {
  Secrets secrets;
  auto dsn = config::EffectiveDsn(config, db_password);
  if (!dsn.ok()) return dsn.status();
  secrets.dsn = *std::move(dsn);
  auto tokens = config::LoadTokens(config);
  if (!tokens.ok()) return tokens.status();
  secrets.tokens = *std::move(tokens);
  auto server_credentials = security::MakeServerCredentials(config.tls);
  if (!server_credentials.ok()) {
    return absl::InvalidArgumentError(
        "tls: " + std::string(server_credentials.status().message()));
  }
  secrets.server_credentials = *std::move(server_credentials);
  auto participant_credentials = config::ParticipantCredentials(config);
  if (!participant_credentials.ok()) return participant_credentials.status();
  secrets.participant_credentials = *std::move(participant_credentials);
  return secrets;
}

// The outbox sink, or null when none is configured (messages stay PENDING).
absl::StatusOr<std::unique_ptr<outbox::Sink>> SinkFrom(
    const config::Config& config) {
  if (config.outbox.sink.empty()) return nullptr;
  auto spec = outbox::ParseSinkSpec(config.outbox.sink);
  if (!spec.ok()) return spec.status();
  return outbox::MakeSink(
      *spec, std::chrono::milliseconds(config.outbox.sink_timeout_ms));
}

absl::Status CheckParticipantAddresses(
    const engine::DefinitionRegistry& definitions,
    const std::map<std::string, std::string>& addresses) {
  for (const auto& participant : definitions.Participants()) {
    if (!addresses.count(participant)) {
      return absl::InvalidArgumentError(
          "a saga definition uses participant '" + participant +
          "' but it has no address (participants." + participant +
          ".address in the config file, or --participant NAME=HOST:PORT)");
    }
  }
  return absl::OkStatus();
}

// The console over the gRPC server's in-process channel: every API call
// goes through the service's own checks. Same TLS files as the gRPC server.
absl::StatusOr<std::unique_ptr<console::ConsoleServer>> StartConsole(
    const config::Config& config, grpc::Server& server) {
  console::ConsoleOptions options;
  options.listen = config.console.listen;
  options.tls = config.tls;
  options.max_body_bytes = MaxReceiveMessageBytes(config);
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);  // a whole history may be large
  return console::ConsoleServer::Start(std::move(options),
                                       server.InProcessChannel(arguments));
}

}  // namespace

engine::EngineOptions EngineOptionsFrom(const config::Config& config) {
  engine::EngineOptions options;
  options.db_threads = config.limits.store_threads;
  options.max_input_bytes = config.limits.max_input_bytes;
  options.drain_timeout =
      std::chrono::milliseconds(config.instance.drain_timeout_ms);
  options.leases.instance_id = config.instance.id;
  options.leases.ttl = std::chrono::milliseconds(config.instance.lease_ttl_ms);
  options.leases.claim_interval =
      std::chrono::milliseconds(config.instance.claim_interval_ms);
  options.leases.claim_batch = config.instance.claim_batch;
  options.max_backlog = config.limits.max_backlog;
  options.calls.max_in_flight = config.limits.max_inflight_per_participant;
  options.calls.breaker = BreakerOptions(config.circuit_breaker);
  for (const auto& [name, endpoint] : config.participants) {
    options.calls.breakers[name] =
        BreakerOptions(config::CircuitBreakerFor(config, name));
  }
  return options;
}

outbox::DispatcherOptions DispatcherOptionsFrom(const config::Config& config) {
  outbox::DispatcherOptions options;
  options.poll_interval = std::chrono::milliseconds(config.outbox.poll_ms);
  return options;
}

retention::RetentionOptions RetentionOptionsFrom(const config::Config& config) {
  const config::Config::Retention& settings = config.retention;
  // Validate checked every duration: a failed parse cannot happen here.
  auto ms = [](const std::string& setting, const std::string& text) {
    return config::ParseRetentionMs(setting, text).value_or(0);
  };
  retention::RetentionOptions options;
  options.defaults.ended_ms = ms("retention.sagas", settings.sagas);
  options.defaults.failed_ms =
      ms("retention.failed_sagas", settings.failed_sagas);
  for (const auto& [type, own] : settings.types) {
    retention::SagaRetention& r = options.types[type];
    r = options.defaults;
    if (own.sagas) r.ended_ms = ms("retention.types", *own.sagas);
    if (own.failed_sagas)
      r.failed_ms = ms("retention.types", *own.failed_sagas);
  }
  options.outbox_dispatched_ms =
      ms("retention.outbox_dispatched", settings.outbox_dispatched);
  options.outbox_pending_ms =
      ms("retention.outbox_pending", settings.outbox_pending);
  options.archive_dir = config::ArchiveDir(config).value_or("");
  options.interval = std::chrono::milliseconds(settings.interval_ms);
  options.batch = settings.batch;
  options.pause = std::chrono::milliseconds(settings.pause_ms);
  options.instance_id = config.instance.id;
  return options;
}

api::EventStreamOptions EventStreamOptionsFrom(const config::Config& config) {
  api::EventStreamOptions options;
  options.poll_interval = std::chrono::milliseconds(config.outbox.poll_ms);
  return options;
}

std::map<std::string, std::string> ParticipantAddresses(
    const config::Config& config) {
  std::map<std::string, std::string> addresses;
  for (const auto& [name, endpoint] : config.participants) {
    addresses[name] = endpoint.address;
  }
  return addresses;
}

int MaxReceiveMessageBytes(const config::Config& config) {
  return static_cast<int>(
      std::max(kMinReceiveBytes, config.limits.max_input_bytes + 64 * 1024));
}

int BadConfig(const absl::Status& status) {
  std::fprintf(stderr, "saga-orchestrator: %s\n",
               std::string(status.message()).c_str());
  return kExitBadConfig;
}

int RunServer(config::Config config, const RunOptions& run) {
  const bool fresh_instance_id = config.instance.id.empty();
  if (fresh_instance_id) config.instance.id = DefaultInstanceId();
  auto secrets = ReadSecrets(config, run.db_password);
  if (!secrets.ok()) return BadConfig(secrets.status());
  // Both were checked by Validate.
  observability::ConfigureLogging(
      "orchestrator", *observability::ParseLogLevel(config.logging.level),
      *observability::ParseLogFormat(config.logging.format));
  config::LogSecurity(config, secrets->tokens);

  auto sink = SinkFrom(config);
  if (!sink.ok()) return BadSetting(sink.status());
  if (absl::Status crash_points = engine::CheckCrashPointConfig();
      !crash_points.ok()) {
    return BadSetting(crash_points);
  }
  auto backend_kind = BackendFor(secrets->dsn);
  if (!backend_kind.ok()) return BadSetting(backend_kind.status());
  retention::RetentionOptions retention_options = RetentionOptionsFrom(config);
  if (!retention_options.archive_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(retention_options.archive_dir, error);
    if (error) {
      return BadSetting(absl::InvalidArgumentError(
          "retention.archive: cannot create " + retention_options.archive_dir +
          ": " + error.message()));
    }
  }

  const int startup_timeout_s = config.database.startup_timeout_s;
  absl::Status migrated =
      RetryWhileUnavailable("applying migrations", startup_timeout_s, [&] {
        return (*backend_kind)->migrate(secrets->dsn, config.migrations);
      });
  if (!migrated.ok()) return Fail("migrations", migrated);
  if (run.migrate_only) {
    spdlog::info("migrations applied from {}", config.migrations);
    return kExitOk;
  }

  const std::map<std::string, std::string> participant_addresses =
      ParticipantAddresses(config);
  std::vector<std::string> participant_names;
  for (const auto& [name, address] : participant_addresses) {
    participant_names.push_back(name);
  }
  engine::OrchestratorMetrics metrics(std::make_shared<prometheus::Registry>(),
                                      participant_names);
  // Every commit may make outbox messages readable: wake the readers.
  outbox::CommitSignal commits;
  BackendOptions backend_options;
  backend_options.dsn = secrets->dsn;
  backend_options.connections = config.database.connections;
  backend_options.outbox_queue = *sink != nullptr;
  backend_options.on_commit = [&metrics, &commits](
                                  size_t batches,
                                  std::chrono::duration<double> latency) {
    metrics.StoreCommitted(batches, latency.count());
    commits.Notify();
  };
  auto backend = RetryWhileUnavailable(
      "connecting to the database", startup_timeout_s,
      [&] { return (*backend_kind)->open(backend_options); });
  if (!backend.ok()) return Fail("database", backend.status());
  store::SagaStore* store = backend->store.get();

  engine::DefinitionRegistry definitions(store);
  if (auto loaded = definitions.LoadDirectory(config.definitions);
      !loaded.ok()) {
    return Fail("saga definitions", loaded);
  }
  if (absl::Status addressed =
          CheckParticipantAddresses(definitions, participant_addresses);
      !addressed.ok()) {
    return BadSetting(addressed);
  }

  engine::ParticipantClients participants(participant_addresses,
                                          secrets->participant_credentials,
                                          config.instance.id);
  engine::EngineOptions engine_options = EngineOptionsFrom(config);
  engine_options.metrics = &metrics;
  engine_options.leases.fresh_instance_id = fresh_instance_id;
  engine_options.pauses = backend->pauses.get();
  engine::Engine engine(store, &definitions, &participants, engine_options);
  // Started first, so the first claimed sagas resume while later batches
  // are still being claimed; the API serves once all are claimed.
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

  std::unique_ptr<outbox::Dispatcher> dispatcher;
  if (*sink != nullptr) {
    outbox::DispatcherOptions options = DispatcherOptionsFrom(config);
    options.metrics = metrics.registry();
    dispatcher = std::make_unique<outbox::Dispatcher>(
        backend->outbox_queue.get(), sink->get(), &commits, options);
    dispatcher->Start();
  }
  std::unique_ptr<retention::RetentionJob> retention_job;
  if (retention::PrunesAnything(retention_options)) {
    retention_options.metrics = metrics.registry();
    retention_job = std::make_unique<retention::RetentionJob>(
        backend->retention.get(), store, std::move(retention_options));
    retention_job->Start();
  }
  api::EventStreams event_streams(backend->outbox_log.get(), &commits,
                                  EventStreamOptionsFrom(config));

  std::unique_ptr<observability::MetricsEndpoint> metrics_endpoint;
  if (!config.metrics_listen.empty()) {
    auto started = observability::MetricsEndpoint::Start(config.metrics_listen,
                                                         metrics.registry());
    if (!started.ok()) return Fail("metrics", started.status());
    metrics_endpoint = *std::move(started);
    spdlog::info("metrics on {}", metrics_endpoint->address());
  }

  api::ServiceOptions service_options;
  service_options.max_json_bytes = config.limits.max_input_bytes;
  service_options.events = &event_streams;
  service_options.authorizer = api::Authorizer(std::move(secrets->tokens));
  api::OrchestratorService service(&engine, store, &definitions,
                                   service_options);
  observability::EnableHealthAndReflection();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config.listen, secrets->server_credentials,
                           &bound_port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(MaxReceiveMessageBytes(config));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::critical("cannot listen on {}", config.listen);
    return kExitFailed;
  }
  observability::HealthMonitor health(
      server.get(), {v1::SagaOrchestrator::service_full_name()}, backend->probe,
      kHealthProbeInterval);
  spdlog::info("listening on {}",
               config.listen.substr(0, config.listen.rfind(':')) + ":" +
                   std::to_string(bound_port));
  std::unique_ptr<console::ConsoleServer> console;
  if (!config.console.listen.empty()) {
    auto started = StartConsole(config, *server);
    if (!started.ok()) return Fail("console", started.status());
    console = *std::move(started);
    spdlog::info("console on {}", console->url());
  }

  const int received = WaitForTerminationSignal();
  // Shutdown: load balancers see NOT_SERVING and StartSaga answers
  // UNAVAILABLE at once, while reads keep being served; the participant
  // calls in flight land and their results commit (bounded); then the server
  // stops and the engine releases its leases, so another instance (or the
  // next start) resumes the unfinished sagas without waiting for expiry.
  spdlog::info("signal {} received: shutting down", received);
  health.Drain();
  // First, so that no console call keeps the gRPC server waiting.
  if (console) console->Stop();
  event_streams.BeginShutdown();
  engine.BeginShutdown();
  const bool drained = engine.Drain();
  spdlog::info("in-flight participant calls {}",
               drained ? "drained" : "still running at the drain timeout");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  engine.Stop();
  if (dispatcher) dispatcher->Stop();
  if (retention_job) retention_job->Stop();
  spdlog::info("stopped; {} sagas left for other instances or the next start",
               engine.ActiveSagas());
  return kExitOk;
}

}  // namespace saga::server
