// The storage an orchestrator runs on, built in one place from its
// connection string: the saga store, the outbox read as a stream and as the
// dispatcher's queue, the health probe and the schema migrator. The
// connection string's URI scheme selects the backend (a keyword/value
// string is PostgreSQL's). Adding a backend is one entry in BackendKinds()
// plus its library, CMake lines and tests: docs/extending.md lists them.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/outbox_store.h"
#include "orchestrator/store/participant_pauses.h"
#include "orchestrator/store/retention_store.h"
#include "orchestrator/store/store.h"

namespace saga::server {

struct BackendOptions {
  // The connection string, password included.
  std::string dsn;
  // Connections of the saga store's pool (>= 1).
  int connections = 8;
  // Whether to build the dispatcher's queue (only when a sink is set).
  bool outbox_queue = false;
  // Called after each committed group of writes with its size and commit
  // latency, on the committing thread; may be empty.
  std::function<void(size_t batches, std::chrono::duration<double> latency)>
      on_commit;
};

struct Backend {
  std::unique_ptr<store::SagaStore> store;
  // The outbox as a stream, for WatchEvents.
  std::unique_ptr<store::OutboxLog> outbox_log;
  // The dispatcher's queue; null unless BackendOptions::outbox_queue.
  std::unique_ptr<store::OutboxQueue> outbox_queue;
  // Operators' pauses of participants (sagactl pause / resume).
  std::unique_ptr<store::ParticipantPauses> pauses;
  // Deletes ended sagas and old outbox rows for the retention job;
  // connects when first used.
  std::unique_ptr<store::RetentionStore> retention;
  // "Is the database there?" for health reporting: OK or Unavailable.
  // Called from one thread at a time.
  std::function<absl::Status()> probe;
};

struct BackendKind {
  std::string name;
  // URI schemes it serves; "" stands for a connection string without one.
  std::vector<std::string> schemes;
  // Brings the schema up to date from the migration files in `dir`; safe
  // to run from several processes at once. Unavailable while the database
  // cannot be reached.
  absl::Status (*migrate)(const std::string& dsn, const std::string& dir);
  // Connects the store (Unavailable while the database cannot be reached);
  // the other parts connect when first used.
  absl::StatusOr<Backend> (*open)(const BackendOptions& options);
};

// Every backend this build knows.
const std::vector<BackendKind>& BackendKinds();

// The backend for `dsn`, by its URI scheme. InvalidArgument naming the
// scheme and the known ones if no backend serves it.
absl::StatusOr<const BackendKind*> BackendFor(const std::string& dsn);

}  // namespace saga::server
