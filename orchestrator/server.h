// saga-orchestrator's composition root: turns the configuration into each
// component's options (pure, below) and wires the components together
// (RunServer). main() only parses the command line and calls RunServer.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "orchestrator/api/event_streams.h"
#include "orchestrator/config/config.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/outbox/dispatcher.h"
#include "orchestrator/retention/retention_job.h"

namespace saga::server {

// Process exit codes.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;     // start-up failed: database, definitions...
constexpr int kExitBadConfig = 2;  // a setting, file or flag is wrong

// The engine's options; `metrics` is left null for the caller to set.
engine::EngineOptions EngineOptionsFrom(const config::Config& config);

// The dispatcher's options; `metrics` is left null for the caller to set.
outbox::DispatcherOptions DispatcherOptionsFrom(const config::Config& config);

// The retention job's options (durations in ms, the archive directory);
// `metrics` is left null for the caller to set. REQUIRES: Validate(config)
// passed.
retention::RetentionOptions RetentionOptionsFrom(const config::Config& config);

api::EventStreamOptions EventStreamOptionsFrom(const config::Config& config);

// Participant name -> HOST:PORT.
std::map<std::string, std::string> ParticipantAddresses(
    const config::Config& config);

// The gRPC server's receive limit: well above the input limit, so that a
// too large input reaches StartSaga and gets its precise INVALID_ARGUMENT;
// never below gRPC's default.
int MaxReceiveMessageBytes(const config::Config& config);

// Prints a configuration error to stderr (before logging is set up) and
// returns kExitBadConfig.
int BadConfig(const absl::Status& status);

struct RunOptions {
  // SAGA_DB_PASSWORD (a secret); empty when unset.
  std::string db_password;
  // Apply the migrations, then exit.
  bool migrate_only = false;
};

// Runs the orchestrator: reads the secrets and TLS files, sets up logging,
// migrates and opens the store, loads the definitions, claims unfinished
// sagas, then serves saga.v1.SagaOrchestrator until SIGTERM or SIGINT and
// stops gracefully. Returns the process exit code.
// REQUIRES: SIGTERM and SIGINT are blocked in every thread (block them
// before any thread starts).
int RunServer(config::Config config, const RunOptions& options);

}  // namespace saga::server
