#include "participants/common/participant_main.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "observability/health.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/pg/database_probe.h"
#include "orchestrator/pg/migrator.h"
#include "participants/common/fault_injection.h"
#include "participants/common/idempotent_runner.h"
#include "participants/common/participant_metrics.h"
#include "participants/common/participant_service.h"
#include "participants/common/service_flags.h"
#include "security/tls.h"

namespace saga::participants {
namespace {

constexpr std::chrono::seconds kStartupTimeout{30};
constexpr std::chrono::seconds kShutdownGrace{10};
// How often the health status is checked against the database.
constexpr std::chrono::seconds kHealthProbeInterval{1};
// A connect to a host that drops packets gives up after this long.
constexpr int kConnectTimeoutSeconds = 5;

// The migrations every participant database shares (the idempotency
// records), recorded apart from the service's own: both are numbered from
// 0001.
constexpr char kCommonMigrations[] = "participant_common";
constexpr char kCommonMigrationsTable[] = "participant_common_migrations";

// <dir>/../participant_common, the shared migrations' place beside the
// service's own folder.
std::string CommonMigrationsBeside(const std::string& dir) {
  std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  return (path.parent_path() / kCommonMigrations).string();
}

// Waits up to `timeout` for SIGTERM/SIGINT; returns the signal or 0. Used
// instead of a plain sleep while waiting for the database, so a shutdown
// request is honoured at once.
int WaitForSignal(std::chrono::milliseconds timeout) {
  sigset_t set = ShutdownSignals();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  int signal = sigtimedwait(&set, nullptr, &ts);
  return signal > 0 ? signal : 0;
}

// Applies the shared migrations, then the service's own, once the database
// answers. nullopt: ready; otherwise the exit code to return.
std::optional<int> PrepareDatabase(const std::string& dsn,
                                   const std::string& common_migrations,
                                   const std::string& migrations) {
  const absl::Status status = saga::pg::ApplyMigrationsWhenReady(
      dsn, {{common_migrations, kCommonMigrationsTable}, {migrations}},
      kStartupTimeout, [](std::chrono::milliseconds backoff) {
        return WaitForSignal(backoff) == 0;
      });
  if (status.ok()) return std::nullopt;
  if (absl::IsCancelled(status)) {
    spdlog::info("shutdown requested during start-up; exiting");
    return 0;
  }
  spdlog::critical("migrations from {} failed: {}", migrations,
                   status.ToString());
  return 1;
}

}  // namespace

int RunParticipant(int argc, char** argv, const ParticipantSpec& spec) {
  sigset_t signals = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app(spec.description, spec.name);
  std::string listen;
  std::string dsn;
  std::string migrations;
  std::string common_migrations;
  bool migrate_only = false;
  int pool_size = 8;
  std::vector<std::string> fail_rates;
  std::vector<std::string> latencies;
  bool refuse_all = false;
  saga::participants::ServiceFlags flags;
  app.add_option("--listen", listen, "HOST:PORT to serve gRPC on");
  app.add_option("--db", dsn, "PostgreSQL connection string")->required();
  app.add_option("--migrations", migrations,
                 "Directory of this service's NNNN_<what>.sql migrations")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--common-migrations", common_migrations,
                 "Directory of the migrations every participant database "
                 "shares, applied first (default: participant_common beside "
                 "--migrations)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--migrate-only", migrate_only, "Apply migrations and exit");
  app.add_option("--db-pool-size", pool_size,
                 "Most database connections open at once")
      ->check(CLI::Range(1, 256));
  app.add_option("--fail-rate", fail_rates,
                 "ACTION=P: fail ACTION ('*' = all) with a retryable error "
                 "with probability P (repeatable)");
  app.add_option("--latency-ms", latencies,
                 "ACTION=MS: delay ACTION ('*' = all) by MS, or "
                 "ACTION=MIN-MAX: by a time drawn per call from [MIN, MAX] "
                 "(repeatable)");
  app.add_flag("--refuse-all", refuse_all, "Answer UNAVAILABLE to every call");
  saga::participants::AddServiceFlags(
      app, flags,
      "Refuse clients without a valid certificate (mutual TLS: only "
      "an orchestrator with its client certificate may call)");
  if (spec.add_flags) spec.add_flags(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!migrate_only && listen.empty()) {
    spdlog::critical("--listen is required unless --migrate-only is given");
    return 2;
  }
  // Both were checked by the flag parser.
  saga::observability::ConfigureLogging(
      spec.name, *saga::observability::ParseLogLevel(flags.log_level),
      *saga::observability::ParseLogFormat(flags.log_format));

  auto credentials = saga::security::MakeServerCredentials(flags.tls);
  if (!credentials.ok()) {
    spdlog::critical("TLS: {}", std::string(credentials.status().message()));
    return 2;
  }

  absl::StatusOr<FaultConfig> fault_config =
      BuildFaultConfig(fail_rates, latencies, refuse_all);
  if (!fault_config.ok()) {
    spdlog::critical("{}", std::string(fault_config.status().message()));
    return 2;
  }
  ActionRegistry registry;
  if (spec.register_actions) {
    if (absl::Status status = spec.register_actions(registry); !status.ok()) {
      spdlog::critical("{}", std::string(status.message()));
      return 2;
    }
  }

  if (common_migrations.empty()) {
    common_migrations = CommonMigrationsBeside(migrations);
  }
  if (std::optional<int> exit_code =
          PrepareDatabase(dsn, common_migrations, migrations)) {
    return *exit_code;
  }
  spdlog::info("migrations from {} and {} applied", common_migrations,
               migrations);
  if (migrate_only) return 0;

  FaultInjector faults(*std::move(fault_config));
  saga::pg::ConnectionPool::Options pool_options;
  pool_options.dsn = dsn;
  pool_options.size = pool_size;
  pool_options.connect_timeout_s = kConnectTimeoutSeconds;
  pool_options.first_backoff = std::chrono::milliseconds(100);
  saga::pg::ConnectionPool pool(std::move(pool_options));
  IdempotentRunner runner(&pool, &registry, &faults);
  ParticipantMetrics metrics(std::make_shared<prometheus::Registry>());
  ParticipantService service(&runner, &faults, &registry, &metrics);

  std::unique_ptr<saga::observability::MetricsEndpoint> metrics_endpoint;
  if (!flags.metrics_listen.empty()) {
    auto started = saga::observability::MetricsEndpoint::Start(
        flags.metrics_listen, metrics.registry());
    if (!started.ok()) {
      spdlog::critical("{}", started.status().ToString());
      return started.status().code() == absl::StatusCode::kInvalidArgument ? 2
                                                                           : 1;
    }
    metrics_endpoint = *std::move(started);
    spdlog::info("metrics on {}", metrics_endpoint->address());
  }

  saga::observability::EnableHealthAndReflection();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, *credentials, &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    spdlog::critical("cannot listen on {}", listen);
    return 1;
  }
  std::string address =
      listen.substr(0, listen.rfind(':')) + ":" + std::to_string(bound_port);
  saga::pg::DatabaseProbe database(dsn);
  saga::observability::HealthMonitor health(
      server.get(), {saga::v1::Participant::service_full_name()},
      [&database] { return database.Check(); }, kHealthProbeInterval);
  if (faults.Describe() != "none") {
    spdlog::warn("fault injection: {}", faults.Describe());
  }
  spdlog::info("gRPC server: {}", saga::security::Describe(flags.tls));
  spdlog::info("listening on {}", address);
  std::function<void()> stop_worker;
  if (spec.start_worker) stop_worker = spec.start_worker(pool);

  int signal = 0;
  while (signal <= 0) signal = sigwaitinfo(&signals, nullptr);
  spdlog::info(
      "signal {}: shutting down (waiting up to {} s for in-flight "
      "calls)",
      signal, kShutdownGrace.count());
  health.Drain();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  if (stop_worker) stop_worker();
  spdlog::info("stopped");
  return 0;
}

}  // namespace saga::participants
