// Process wiring shared by the participant executables: flags, start-up
// migrations, the gRPC server (with health checking and reflection),
// logging, metrics and graceful shutdown.
//
// Common flags: --listen HOST:PORT --db DSN --migrations DIR
//   [--common-migrations DIR] [--migrate-only] [--log-level LEVEL]
//   [--log-format text|json]
//   [--metrics-listen HOST:PORT] [--db-pool-size N]
//   [--fail-rate ACTION=P]... [--latency-ms ACTION=MS]... [--refuse-all]
//   [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]
//    [--tls-require-client-cert]]
// (fault flags: see fault_injection.h; TLS: security/tls.h, also from
// SAGA_TLS_CERT, SAGA_TLS_KEY, SAGA_TLS_CLIENT_CA,
// SAGA_TLS_REQUIRE_CLIENT_CERT).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "participants/common/action.h"

namespace CLI {
class App;
}

namespace saga::pg {
class ConnectionPool;
}

namespace saga::participants {

struct ParticipantSpec {
  // Executable name for --help and logs, e.g. "saga-doctor".
  std::string name;
  std::string description;
  // Adds service-specific flags; may be empty.
  std::function<void(CLI::App&)> add_flags;
  // Registers the service's handlers; runs after the flags are parsed, so
  // it can read the values bound in add_flags. An error aborts start-up
  // (exit code 2).
  std::function<absl::Status(ActionRegistry&)> register_actions;
  // Optional background work beside the server (e.g. reporting completions
  // of asynchronous steps), over the service's connection pool: started
  // once the server listens; the function it returns stops it, and is
  // called once the server has stopped.
  std::function<std::function<void()>(pg::ConnectionPool&)> start_worker;
};

// Runs the participant until SIGTERM or SIGINT and returns the process exit
// code: 0 after a clean shutdown or --migrate-only, 1 when the database
// stays unreachable (~30 s) or migrations fail or the port cannot be bound,
// 2 for bad flags. Waits for PostgreSQL at start-up, so start order does not
// matter. On a signal: stops accepting calls, lets in-flight calls finish
// (up to 10 s), exits 0. Must be called from main() before any thread
// starts (it blocks SIGTERM/SIGINT for the whole process).
int RunParticipant(int argc, char** argv, const ParticipantSpec& spec);

}  // namespace saga::participants
