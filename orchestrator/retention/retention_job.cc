#include "orchestrator/retention/retention_job.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <vector>

#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/history_file.h"
#include "orchestrator/core/state.h"
#include "orchestrator/retention/gzip_file.h"

namespace saga::retention {

struct RetentionJob::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : pruned(prometheus::BuildCounter()
                   .Name("saga_retention_pruned_rows_total")
                   .Help("Rows the retention job deleted, by table")
                   .Register(registry)),
        sagas(pruned.Add({{"table", "sagas"}})),
        events(pruned.Add({{"table", "saga_events"}})),
        outbox(pruned.Add({{"table", "outbox"}})),
        archived(prometheus::BuildCounter()
                     .Name("saga_retention_archived_sagas_total")
                     .Help("Sagas written to an archive file before they "
                           "were deleted")
                     .Register(registry)
                     .Add({})),
        last_run(prometheus::BuildGauge()
                     .Name("saga_retention_last_run_seconds")
                     .Help("How long the retention job's last pass took")
                     .Register(registry)
                     .Add({})),
        failures(prometheus::BuildCounter()
                     .Name("saga_retention_failed_runs_total")
                     .Help("Retention passes that ended with an error")
                     .Register(registry)
                     .Add({})) {}

  prometheus::Family<prometheus::Counter>& pruned;
  prometheus::Counter& sagas;
  prometheus::Counter& events;
  prometheus::Counter& outbox;
  prometheus::Counter& archived;
  prometheus::Gauge& last_run;
  prometheus::Counter& failures;
};

SagaRetention RetentionFor(const RetentionOptions& options,
                           const std::string& saga_type) {
  auto own = options.types.find(saga_type);
  return own != options.types.end() ? own->second : options.defaults;
}

bool PrunesAnything(const RetentionOptions& options) {
  auto prunes = [](const SagaRetention& r) {
    return r.ended_ms > 0 || r.failed_ms > 0;
  };
  if (prunes(options.defaults) || options.outbox_dispatched_ms > 0 ||
      options.outbox_pending_ms > 0) {
    return true;
  }
  for (const auto& [type, retention] : options.types) {
    if (prunes(retention)) return true;
  }
  return false;
}

RetentionJob::RetentionJob(store::RetentionStore* retention,
                           store::SagaStore* sagas, RetentionOptions options)
    : retention_(retention), sagas_(sagas), options_(std::move(options)) {
  if (options_.metrics) metrics_ = std::make_unique<Metrics>(*options_.metrics);
}

RetentionJob::~RetentionJob() { Stop(); }

void RetentionJob::Start() {
  Schedule();
  thread_ = std::thread([this] { io_.run(); });
}

void RetentionJob::Stop() {
  {
    sync::MutexLock lock(&rest_mu_);
    stopping_ = true;
  }
  stopped_.SignalAll();
  boost::asio::post(io_, [this] { timer_.cancel(); });
  if (thread_.joinable()) thread_.join();
}

bool RetentionJob::Rest() {
  const auto until = std::chrono::steady_clock::now() + options_.pause;
  sync::MutexLock lock(&rest_mu_);
  while (!stopping_ && std::chrono::steady_clock::now() < until) {
    stopped_.WaitUntil(&rest_mu_, until);
  }
  return !stopping_;
}

void RetentionJob::Schedule() {
  if (stopping_) return;
  timer_.expires_after(options_.interval);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || stopping_) return;
    absl::StatusOr<PassReport> report = RunPass();
    if (!report.ok()) {
      spdlog::warn("retention: {}", report.status().ToString());
    } else if (report->sagas > 0 || report->outbox > 0) {
      spdlog::info(
          "retention: pruned {} sagas ({} events, {} archived) and {} outbox "
          "rows in {:.1f} s",
          report->sagas, report->events, report->archived, report->outbox,
          report->took.count());
    }
    Schedule();
  });
}

absl::StatusOr<PassReport> RetentionJob::RunPass() {
  const auto began = std::chrono::steady_clock::now();
  PassReport report;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::vector<std::string>> types = retention_->SagaTypes();
    if (!types.ok()) return types.status();
    for (const std::string& type : *types) {
      if (absl::Status pruned = PruneType(type, report);
          !pruned.ok() || report.lock_taken) {
        return pruned;
      }
    }
    store::OldOutboxRows rows;
    rows.dispatched_older_than_ms = options_.outbox_dispatched_ms;
    rows.pending_older_than_ms = options_.outbox_pending_ms;
    rows.limit = options_.batch;
    if (rows.dispatched_older_than_ms == 0 && rows.pending_older_than_ms == 0) {
      return absl::OkStatus();
    }
    while (!stopping_) {
      absl::StatusOr<std::optional<int64_t>> deleted =
          retention_->PruneOutbox(rows);
      if (!deleted.ok()) return deleted.status();
      if (!deleted->has_value()) {
        report.lock_taken = true;
        break;
      }
      report.outbox += **deleted;
      if (metrics_) metrics_->outbox.Increment(static_cast<double>(**deleted));
      if (**deleted < rows.limit || !Rest()) break;
    }
    return absl::OkStatus();
  }();
  report.took = std::chrono::steady_clock::now() - began;
  if (metrics_) {
    metrics_->last_run.Set(report.took.count());
    if (!status.ok()) metrics_->failures.Increment();
  }
  if (!status.ok()) return status;
  return report;
}

absl::Status RetentionJob::PruneType(const std::string& saga_type,
                                     PassReport& report) {
  const SagaRetention retention = RetentionFor(options_, saga_type);
  const std::pair<core::SagaStatus, int64_t> kinds[] = {
      {core::SagaStatus::kCompleted, retention.ended_ms},
      {core::SagaStatus::kCompensated, retention.ended_ms},
      {core::SagaStatus::kFailed, retention.failed_ms}};
  store::RetentionStore::BeforeDelete archive;
  if (!options_.archive_dir.empty()) {
    archive = [this, &report](const std::vector<store::SagaRecord>& records) {
      return Archive(records, report);
    };
  }
  for (const auto& [status, age_ms] : kinds) {
    if (age_ms <= 0) continue;
    store::EndedSagas which{saga_type, status, age_ms, options_.batch};
    while (!stopping_) {
      absl::StatusOr<std::optional<store::PrunedSagas>> pruned =
          retention_->PruneSagas(which, archive);
      if (!pruned.ok()) return pruned.status();
      if (!pruned->has_value()) {
        report.lock_taken = true;
        return absl::OkStatus();
      }
      const store::PrunedSagas& batch = **pruned;
      report.sagas += batch.sagas;
      report.events += batch.events;
      if (metrics_) {
        metrics_->sagas.Increment(static_cast<double>(batch.sagas));
        metrics_->events.Increment(static_cast<double>(batch.events));
      }
      if (batch.sagas < which.limit || !Rest()) break;
    }
  }
  return absl::OkStatus();
}

absl::Status RetentionJob::Archive(
    const std::vector<store::SagaRecord>& records, PassReport& report) {
  std::string lines;
  for (const store::SagaRecord& record : records) {
    const store::SagaSummary& summary = record.summary;
    absl::StatusOr<const Definition*> definition =
        DefinitionOf(summary.saga_type, summary.definition_version);
    if (!definition.ok()) return definition.status();
    core::History history;
    history.saga = {summary.saga_id, summary.saga_type,
                    summary.definition_version,
                    core::SagaStatusName(summary.status), summary.input_json};
    history.definition_source = (*definition)->source;
    history.definition = (*definition)->parsed;
    history.events = record.events;
    absl::StatusOr<std::string> line = core::EncodeHistoryLine(history);
    if (!line.ok()) {
      return absl::InternalError("archiving saga " + summary.saga_id + ": " +
                                 std::string(line.status().message()));
    }
    lines += *line;
  }
  absl::StatusOr<std::unique_ptr<GzipFile>> file =
      GzipFile::Create(NextArchivePath());
  if (!file.ok()) return file.status();
  if (absl::Status written = (*file)->Append(lines); !written.ok()) {
    return written;
  }
  if (absl::Status committed = (*file)->Commit(); !committed.ok()) {
    return committed;
  }
  report.archived += static_cast<int64_t>(records.size());
  ++report.archive_files;
  if (metrics_)
    metrics_->archived.Increment(static_cast<double>(records.size()));
  return absl::OkStatus();
}

absl::StatusOr<const RetentionJob::Definition*> RetentionJob::DefinitionOf(
    const std::string& saga_type, int version) {
  const auto key = std::make_pair(saga_type, version);
  auto known = definitions_.find(key);
  if (known != definitions_.end()) return &known->second;
  absl::StatusOr<std::string> source =
      sagas_->GetDefinition(saga_type, version);
  if (!source.ok()) return source.status();
  absl::StatusOr<core::SagaDefinition> parsed = core::ParseDefinition(
      *source, saga_type + " version " + std::to_string(version));
  if (!parsed.ok()) return parsed.status();
  return &definitions_
              .emplace(key, Definition{*std::move(source), *std::move(parsed)})
              .first->second;
}

// DIR/sagas-20261206T171500Z-<instance>-<n>.jsonl.gz: sorts by time, and
// never collides between instances or within one.
std::string RetentionJob::NextArchivePath() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  std::string instance = options_.instance_id;
  std::replace(instance.begin(), instance.end(), '/', '_');
  return options_.archive_dir + "/sagas-" + stamp + "-" + instance + "-" +
         std::to_string(++archive_files_) + ".jsonl.gz";
}

}  // namespace saga::retention
