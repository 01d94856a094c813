// saga-orchestrator: parses the command line and runs the server
// (orchestrator/server.h), which serves saga.v1.SagaOrchestrator until
// SIGTERM/SIGINT and then stops gracefully.
#include <signal.h>

#include <iostream>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "orchestrator/config/command_line.h"
#include "orchestrator/config/config_yaml.h"
#include "orchestrator/server.h"

int main(int argc, char** argv) {
  // Debian's Abseil keeps its debug-time deadlock detector on, which updates
  // a lock graph on every absl::Mutex acquisition (gRPC takes several per
  // call): ~2% of the orchestrator's CPU under load in bench/run.sh.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block termination signals in every thread; the server waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto command_line = saga::config::ParseCommandLine(argc, argv, std::cout);
  if (!command_line.ok()) {
    return saga::server::BadConfig(command_line.status());
  }
  if (command_line->help_shown) return saga::server::kExitOk;
  if (command_line->print_config) {
    std::cout << saga::config::PrintConfig(command_line->config);
    return saga::server::kExitOk;
  }
  return saga::server::RunServer(std::move(command_line->config),
                                 {.db_password = command_line->db_password,
                                  .migrate_only = command_line->migrate_only});
}
