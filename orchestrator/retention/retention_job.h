// Retention: deletes ended sagas and old outbox rows so the database does
// not grow forever, optionally archiving each saga first.
//
// What is pruned:
// - COMPLETED and COMPENSATED sagas whose last write is older than their
//   type's retention (or the default), with their events;
// - FAILED sagas only when a retention for FAILED sagas is configured (they
//   wait for an operator; by default they are kept forever);
// - never a RUNNING or COMPENSATING saga, nor a child saga whose parent has
//   not ended COMPLETED or COMPENSATED (retention_store.h);
// - DISPATCHED outbox rows delivered longer ago than the outbox retention,
//   and, when configured, PENDING ones written longer ago (databases
//   without a dispatcher). A saga's outbox rows follow the outbox retention,
//   not the saga's: they are the consumers' stream.
//
// Archive: with an archive directory, each batch's sagas are first written
// as one gzip file of JSON lines, one `sagactl export` document
// (core::EncodeHistoryLine) per saga, and the file is fsynced and renamed
// into place before the batch's rows are deleted in the same transaction
// that locked them. A crash between the two leaves the sagas in the
// database and in an archive file: the next pass archives them again (a
// duplicate line in another file), and no saga is ever deleted unarchived.
//
// Batches of `batch` sagas (or outbox rows), one transaction each, with a
// rest of `pause` between two; one
// instance prunes at a time (the store's retention lock), the others find
// it taken and wait for their next pass.
//
// Threading: a pass runs every `interval` on the job's own thread (an Asio
// timer on an io_context of its own), away from the engine's thread and
// its database pool; RunPass may also be called directly (tests, tools)
// while the job is not started.
#pragma once

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/store/retention_store.h"
#include "orchestrator/store/store.h"
#include "orchestrator/sync/mutex.h"

namespace prometheus {
class Registry;
}

namespace saga::retention {

// How long one saga type's ended sagas are kept after their last write;
// 0: forever.
struct SagaRetention {
  int64_t ended_ms = 0;   // COMPLETED and COMPENSATED
  int64_t failed_ms = 0;  // FAILED (waiting for an operator)
  bool operator==(const SagaRetention&) const = default;
};

struct RetentionOptions {
  SagaRetention defaults;
  // Per saga type, replacing the defaults.
  std::map<std::string, SagaRetention> types;
  int64_t outbox_dispatched_ms = 0;  // 0: keep
  int64_t outbox_pending_ms = 0;     // 0: keep
  // Where archive files go; empty: no archive.
  std::string archive_dir;
  std::chrono::milliseconds interval{60000};
  int batch = 500;
  // Rest between two batches, so that a long pass leaves the database and
  // the cores to the sagas that run (0: none).
  std::chrono::milliseconds pause{100};
  // Part of each archive file's name, so instances never collide.
  std::string instance_id = "orchestrator";
  // Where to register the saga_retention_* metrics; null: none.
  std::shared_ptr<prometheus::Registry> metrics;
};

// `saga_type`'s retention: its own, else the defaults.
SagaRetention RetentionFor(const RetentionOptions& options,
                           const std::string& saga_type);

// Whether the options prune anything at all.
bool PrunesAnything(const RetentionOptions& options);

// What one pass did.
struct PassReport {
  int64_t sagas = 0;
  int64_t events = 0;
  int64_t outbox = 0;
  int64_t archived = 0;
  int64_t archive_files = 0;
  // Another instance held the retention lock: this pass stopped early.
  bool lock_taken = false;
  std::chrono::duration<double> took{0};
};

class RetentionJob {
 public:
  // `retention` and `sagas` (for the definitions an archive needs) must
  // outlive the job.
  RetentionJob(store::RetentionStore* retention, store::SagaStore* sagas,
               RetentionOptions options);
  ~RetentionJob();
  RetentionJob(const RetentionJob&) = delete;
  RetentionJob& operator=(const RetentionJob&) = delete;

  // Runs a pass every interval, the first one interval after Start.
  void Start();
  // Ends the pass in progress after its current batch and joins the thread.
  void Stop();

  // One pass over every saga type and the outbox, until nothing is left to
  // prune, the lock is taken, or Stop. The first error ends the pass (what
  // was committed before it stays pruned).
  absl::StatusOr<PassReport> RunPass();

 private:
  struct Metrics;
  struct Definition {
    std::string source;
    core::SagaDefinition parsed;
  };

  void Schedule();
  // Waits `pause` before the next batch; false once Stop was called.
  bool Rest();
  absl::Status PruneType(const std::string& saga_type, PassReport& report);
  absl::Status Archive(const std::vector<store::SagaRecord>& records,
                       PassReport& report);
  absl::StatusOr<const Definition*> DefinitionOf(const std::string& saga_type,
                                                 int version);
  std::string NextArchivePath();

  store::RetentionStore* const retention_;
  store::SagaStore* const sagas_;
  const RetentionOptions options_;
  std::unique_ptr<Metrics> metrics_;
  // Definitions already read, by (type, version); the job's thread only.
  std::map<std::pair<std::string, int>, Definition> definitions_;
  uint64_t archive_files_ = 0;

  std::atomic<bool> stopping_{false};
  sync::Mutex rest_mu_;
  sync::CondVar stopped_;
  boost::asio::io_context io_;
  boost::asio::steady_timer timer_{io_};
  std::thread thread_;
};

}  // namespace saga::retention
