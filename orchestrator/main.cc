// saga-orchestrator: wiring only. Loads definitions, migrates and opens the
// store, claims unfinished sagas, then serves saga.v1.SagaOrchestrator until
// SIGTERM/SIGINT, and then stops gracefully (see the end of main).
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/store/postgres/migrator.h"
#include "orchestrator/store/postgres/pg_store.h"

namespace {

struct Flags {
  std::string listen = "127.0.0.1:50051";
  std::string db;
  std::string definitions = "sagas";
  std::string migrations = "migrations/orchestrator";
  std::vector<std::string> participants;
  int db_connections = 8;
  int store_threads = 64;
  std::string log_level = "info";
  size_t max_input_bytes = 256 * 1024;
  int startup_timeout_s = 30;
  bool migrate_only = false;
  std::string instance_id;
  int lease_ttl_ms = 15000;
  int claim_interval_ms = 1000;
  int claim_batch = 100;
  int drain_timeout_ms = 10000;
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
                 "Threads that wait on store calls; writes made at the same "
                 "time share one commit, so more threads allow larger groups")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_option("--max-input-bytes", flags.max_input_bytes,
                 "Largest accepted saga input")
      ->capture_default_str();
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
  CLI11_PARSE(app, argc, argv);
  if (flags.instance_id.empty()) flags.instance_id = DefaultInstanceId();

  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ orchestrator %v");

  std::map<std::string, std::string> participant_addresses;
  for (const auto& entry : flags.participants) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      spdlog::critical("--participant '{}': expected NAME=HOST:PORT", entry);
      return 2;
    }
    participant_addresses[entry.substr(0, eq)] = entry.substr(eq + 1);
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

  auto store = RetryWhileUnavailable(
      "connecting to the database", flags.startup_timeout_s, [&] {
        return saga::store::PgStore::Open(flags.db, flags.db_connections);
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
  engine_options.drain_timeout =
      std::chrono::milliseconds(flags.drain_timeout_ms);
  engine_options.leases.instance_id = flags.instance_id;
  engine_options.leases.ttl = std::chrono::milliseconds(flags.lease_ttl_ms);
  engine_options.leases.claim_interval =
      std::chrono::milliseconds(flags.claim_interval_ms);
  engine_options.leases.claim_batch = flags.claim_batch;
  saga::engine::Engine engine(store->get(), &definitions, &participants,
                              engine_options);
  auto recovered = RetryWhileUnavailable("claiming unfinished sagas",
                                         flags.startup_timeout_s,
                                         [&] { return engine.Recover(); });
  if (!recovered.ok()) return Fail("recovery", recovered.status());
  spdlog::info("instance={} resuming {} unfinished sagas", flags.instance_id,
               *recovered);
  engine.Start();

  saga::api::OrchestratorService service(&engine, store->get(), &definitions,
                                         saga::api::ServiceOptions{});
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(flags.listen, grpc::InsecureServerCredentials(),
                           &bound_port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(flags.max_input_bytes) +
                                   64 * 1024);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::critical("cannot listen on {}", flags.listen);
    return 1;
  }
  spdlog::info("listening on {}", flags.listen);

  const int received = WaitForTerminationSignal();
  // Shutdown: load balancers see NOT_SERVING and StartSaga answers
  // UNAVAILABLE at once, while reads keep being served; the participant
  // calls in flight land and their results commit (bounded); then the server
  // stops and the engine releases its leases, so another instance (or the
  // next start) resumes the unfinished sagas without waiting for expiry.
  spdlog::info("signal {} received: shutting down", received);
  server->GetHealthCheckService()->Shutdown();
  engine.BeginShutdown();
  const bool drained = engine.Drain();
  spdlog::info("in-flight participant calls {}",
               drained ? "drained" : "still running at the drain timeout");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  engine.Stop();
  spdlog::info("stopped; {} sagas left for other instances or the next start",
               engine.ActiveSagas());
  return 0;
}
