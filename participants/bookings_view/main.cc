// saga-bookings-view: a read model of the booking sagas ("my
// appointments"), kept in its own database by consuming the orchestrator's
// outbox stream, and served over gRPC (saga.v1.BookingsView).
//
// Serve: --listen HOST:PORT --db DSN --migrations DIR --orchestrator
//   HOST:PORT [--orchestrator-token T] [--saga-type NAME]... [--rebuild]
//   [--migrate-only] [--log-level L] [--log-format text|json]
//   [--metrics-listen HOST:PORT] [--db-pool-size N] [--tls-cert PEM
//   --tls-key PEM [--tls-client-ca PEM] [--tls-require-client-cert]]
// Ask a running view: --view HOST:PORT (--show-patient ID | --show-saga ID)
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT); 1 when the
// database stays unreachable or the port cannot be bound; 2 for bad flags;
// 3 when the view cannot go on without missing updates (its position is no
// longer in the outbox: restart with --rebuild).
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "observability/health.h"
#include "observability/logging.h"
#include "observability/metrics_endpoint.h"
#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/pg/database_probe.h"
#include "orchestrator/pg/migrator.h"
#include "participants/bookings_view/booking_store.h"
#include "participants/bookings_view/bookings_service.h"
#include "participants/bookings_view/outbox_consumer.h"
#include "participants/bookings_view/show_bookings.h"
#include "participants/common/service_flags.h"
#include "security/tls.h"

namespace {

constexpr char kName[] = "saga-bookings-view";
constexpr std::chrono::seconds kStartupTimeout{30};
constexpr std::chrono::seconds kShutdownGrace{10};
constexpr std::chrono::seconds kHealthProbeInterval{1};
constexpr int kConnectTimeoutSeconds = 5;
constexpr int kExitCannotCatchUp = 3;

// Applies the migrations, retrying while the database is not up yet
// (start order does not matter). False when it gives up.
bool PrepareDatabase(const std::string& dsn, const std::string& migrations) {
  const absl::Status status =
      saga::pg::ApplyMigrationsWhenReady(dsn, {{migrations}}, kStartupTimeout,
                                         [](std::chrono::milliseconds backoff) {
                                           std::this_thread::sleep_for(backoff);
                                           return true;
                                         });
  if (!status.ok()) {
    spdlog::critical("migrations from {} failed: {}", migrations,
                     status.ToString());
  }
  return status.ok();
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t signals = saga::participants::ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app(
      "Bookings read model fed by the orchestrator's outbox "
      "(saga.v1.BookingsView)",
      kName);
  std::string listen;
  std::string dsn;
  std::string migrations;
  bool migrate_only = false;
  bool rebuild = false;
  int pool_size = 4;
  saga::bookings::ConsumerOptions consumer;
  std::vector<std::string> saga_types = {"appointment_booking",
                                         "approved_booking"};
  std::string view;
  std::string show_patient;
  std::string show_saga;
  saga::participants::ServiceFlags flags;
  app.add_option("--listen", listen, "HOST:PORT to serve gRPC on");
  app.add_option("--db", dsn, "PostgreSQL connection string of the view");
  app.add_option(
         "--migrations", migrations,
         "Directory of the view's migrations (migrations/bookings_view)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--migrate-only", migrate_only, "Apply migrations and exit");
  app.add_flag("--rebuild", rebuild,
               "Empty the view and read the outbox again from position 0 "
               "(after OUT_OF_RANGE: the recorded position was pruned)");
  app.add_option("--orchestrator", consumer.orchestrator,
                 "HOST:PORT of the orchestrator whose outbox to consume "
                 "(WatchEvents)");
  app.add_option("--orchestrator-token", consumer.bearer_token,
                 "Bearer token for the orchestrator (an operator's: "
                 "WatchEvents); prefer the environment variable")
      ->envname("SAGA_ORCHESTRATOR_TOKEN");
  app.add_option("--saga-type", saga_types,
                 "A saga type whose messages are bookings (repeatable)")
      ->capture_default_str();
  app.add_option("--db-pool-size", pool_size,
                 "Most database connections open at once")
      ->check(CLI::Range(2, 256));
  saga::participants::AddServiceFlags(
      app, flags, "Refuse clients without a valid certificate");
  app.add_option("--view", view,
                 "HOST:PORT of a running view to ask (with --show-patient or "
                 "--show-saga); prints a table and exits");
  app.add_option("--show-patient", show_patient,
                 "With --view: print this patient's bookings");
  app.add_option("--show-saga", show_saga,
                 "With --view: print the booking of this saga");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!view.empty()) {
    if (show_patient.empty() == show_saga.empty()) {
      std::cerr << "--view needs one of --show-patient or --show-saga\n";
      return 2;
    }
    return saga::bookings::ShowBookings(view, show_patient, show_saga,
                                        std::cout, std::cerr);
  }
  saga::observability::ConfigureLogging(
      kName, *saga::observability::ParseLogLevel(flags.log_level),
      *saga::observability::ParseLogFormat(flags.log_format));
  if (dsn.empty() || migrations.empty()) {
    spdlog::critical("--db and --migrations are required");
    return 2;
  }
  if (!migrate_only && (listen.empty() || consumer.orchestrator.empty())) {
    spdlog::critical(
        "--listen and --orchestrator are required unless --migrate-only is "
        "given");
    return 2;
  }
  auto credentials = saga::security::MakeServerCredentials(flags.tls);
  if (!credentials.ok()) {
    spdlog::critical("TLS: {}", std::string(credentials.status().message()));
    return 2;
  }
  if (!PrepareDatabase(dsn, migrations)) return 1;
  spdlog::info("migrations from {} applied", migrations);
  if (migrate_only) return 0;

  saga::pg::ConnectionPool::Options pool_options;
  pool_options.dsn = dsn;
  pool_options.size = pool_size;
  pool_options.connect_timeout_s = kConnectTimeoutSeconds;
  pool_options.first_backoff = std::chrono::milliseconds(100);
  saga::pg::ConnectionPool pool(std::move(pool_options));
  saga::bookings::BookingStore store(&pool);
  if (rebuild) {
    if (absl::Status rebuilt = store.Rebuild(); !rebuilt.ok()) {
      spdlog::critical("--rebuild: {}", rebuilt.ToString());
      return 1;
    }
    spdlog::warn(
        "--rebuild: the view was emptied; reading the outbox from "
        "position 0");
  }

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<saga::observability::MetricsEndpoint> metrics_endpoint;
  if (!flags.metrics_listen.empty()) {
    auto started = saga::observability::MetricsEndpoint::Start(
        flags.metrics_listen, registry);
    if (!started.ok()) {
      spdlog::critical("{}", started.status().ToString());
      return started.status().code() == absl::StatusCode::kInvalidArgument ? 2
                                                                           : 1;
    }
    metrics_endpoint = *std::move(started);
    spdlog::info("metrics on {}", metrics_endpoint->address());
  }

  saga::bookings::BookingsService service(&store);
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
  saga::pg::DatabaseProbe database(dsn);
  saga::observability::HealthMonitor health(
      server.get(), {saga::v1::BookingsView::service_full_name()},
      [&database] { return database.Check(); }, kHealthProbeInterval);
  spdlog::info("listening on {}:{}", listen.substr(0, listen.rfind(':')),
               bound_port);

  std::atomic<int> exit_code{0};
  consumer.saga_types.insert(saga_types.begin(), saga_types.end());
  spdlog::info("consuming the outbox of {} (saga types: {})",
               consumer.orchestrator, fmt::join(saga_types, ", "));
  saga::bookings::OutboxConsumer outbox(
      &store, consumer, *registry, [&exit_code](const std::string& reason) {
        spdlog::critical("{}", reason);
        exit_code = kExitCannotCatchUp;
        kill(getpid(), SIGTERM);
      });

  int signal = 0;
  while (signal <= 0) signal = sigwaitinfo(&signals, nullptr);
  spdlog::info("signal {}: shutting down", signal);
  outbox.Stop();
  health.Drain();
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  spdlog::info("stopped");
  return exit_code;
}
