// The retention job against PostgreSQL: ended sagas past their retention
// go (archived first when asked), everything else stays, the outbox is
// pruned by its own retention, and one instance prunes at a time.
//
// Sagas are written through the store from golden histories
// (tests/replay/), so what the archive holds must replay through the
// decider exactly as `sagactl replay` replays an export.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/core/history_file.h"
#include "orchestrator/core/replay.h"
#include "orchestrator/core/snapshot.h"
#include "orchestrator/core/state.h"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/retention/gzip_file.h"
#include "orchestrator/retention/retention_job.h"
#include "orchestrator/store/postgres/pg_retention.h"
#include "orchestrator/store/postgres/pg_store.h"
#include "tests/support/test_support.h"

namespace saga::retention {
namespace {

namespace fs = std::filesystem;
using core::SagaStatus;
using ::saga::testing::SourcePath;
using ::saga::testing::TestDatabase;
using std::chrono::milliseconds;

constexpr int64_t kDayMs = 24 * 3600 * 1000;
constexpr char kWriter[] = "orch-test";

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

core::History Golden(const std::string& name) {
  const std::string path = SourcePath("tests/replay/" + name);
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<core::History> history = core::DecodeHistory(text.str(), path);
  EXPECT_TRUE(history.ok()) << history.status();
  return *history;
}

// `history` cut after its first event of `type` (inclusive).
core::History CutAfter(core::History history, core::EventType type) {
  for (size_t i = 0; i < history.events.size(); ++i) {
    if (history.events[i].type == type) {
      history.events.resize(i + 1);
      return history;
    }
  }
  ADD_FAILURE() << "no such event in " << history.saga.saga_id;
  return history;
}

// Every line of every archive file in `dir`, decompressed.
std::vector<std::string> ArchiveLines(const std::string& dir) {
  std::vector<std::string> lines;
  for (const auto& entry : fs::directory_iterator(dir)) {
    absl::StatusOr<std::string> text =
        retention::ReadGzipFile(entry.path().string());
    EXPECT_TRUE(text.ok()) << text.status();
    std::istringstream stream(text.value_or(""));
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
  }
  return lines;
}

class RetentionPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDatabase>("retention");
    ASSERT_TRUE(
        pg::ApplyMigrations(db_->dsn(), SourcePath("migrations/orchestrator"))
            .ok());
    auto store = store::PgStore::Open(db_->dsn(), 2);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    retention_ = std::make_unique<store::PgRetention>(db_->dsn());
    char pattern[] = "/tmp/retention-archive-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    archive_dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(archive_dir_); }

  // Writes `history` as saga `saga_id` whose last write was `age_ms` ago
  // (and which started a minute before that), with the status its events
  // fold to.
  void Insert(const std::string& saga_id, const core::History& history,
              int64_t age_ms, const std::string& parent = "") {
    ASSERT_TRUE(store_
                    ->PutDefinition(history.definition.name,
                                    history.definition.version,
                                    history.definition_source)
                    .ok());
    const int64_t updated_ms = NowMs() - age_ms;
    store::AppendBatch first;
    first.saga_id = saga_id;
    first.writer = kWriter;
    first.lease_ttl = milliseconds(60000);
    first.events = {history.events.front()};
    first.summary.saga_id = saga_id;
    first.summary.saga_type = history.definition.name;
    first.summary.definition_version = history.definition.version;
    first.summary.input_json = history.saga.input_json;
    first.summary.last_seq = 1;
    first.summary.created_ms = updated_ms - 60000;
    first.summary.updated_ms = updated_ms - 60000;
    first.summary.parent_saga_id = parent;
    if (!parent.empty()) first.summary.parent_step = "hold";
    // Every saga here has a snapshot, which goes with it.
    first.snapshot = core::EncodeSnapshot(
        core::Fold(history.definition, saga_id, first.events));
    auto created = store_->Create(first);
    ASSERT_TRUE(created.ok()) << created.status();
    store::AppendBatch rest = first;
    rest.snapshot.clear();
    rest.expected_last_seq = 1;
    rest.events.assign(history.events.begin() + 1, history.events.end());
    const core::SagaState state =
        core::Fold(history.definition, saga_id, history.events);
    rest.summary.status = state.status;
    rest.summary.last_seq = static_cast<int64_t>(history.events.size());
    rest.summary.updated_ms = updated_ms;
    if (!rest.events.empty()) {
      ASSERT_TRUE(store_->Append(rest).ok());
    }
    events_[saga_id] = history.events.size();
  }

  bool Exists(const std::string& saga_id) {
    return store_->LoadSummary(saga_id).ok();
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection conn(db_->dsn());
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  // The retention of the tests: ended sagas a day, FAILED ones forever,
  // checkout sagas a month; batches of 2 so that a pass takes several.
  RetentionOptions Options() {
    RetentionOptions options;
    options.defaults.ended_ms = kDayMs;
    options.types["checkout"] = {30 * kDayMs, 0};
    options.batch = 2;
    options.pause = milliseconds(0);
    options.instance_id = "orch-test";
    return options;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<store::PgStore> store_;
  std::unique_ptr<store::PgRetention> retention_;
  std::string archive_dir_;
  std::map<std::string, size_t> events_;  // per saga written
};

double CounterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& table = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool matches = table.empty();
      for (const auto& label : metric.label) {
        if (label.name == "table" && label.value == table) matches = true;
      }
      if (matches) return metric.counter.value;
    }
  }
  return -1;
}

TEST_F(RetentionPgTest, PrunesOnlyEndedSagasPastTheirRetentionAndArchivesThem) {
  const core::History success = Golden("success.json");
  const core::History compensated = Golden("reserve_doctor_fails.json");
  const core::History failed =
      CutAfter(Golden("operator_retry.json"), core::EventType::kSagaFailed);
  const core::History running =
      CutAfter(success, core::EventType::kStepSucceeded);
  Insert("old-completed-1", success, 10 * kDayMs);
  Insert("old-completed-2", success, 3 * kDayMs);
  Insert("old-completed-3", success, 2 * kDayMs);
  Insert("old-compensated", compensated, 10 * kDayMs);
  Insert("recent-completed", success, 3600 * 1000);
  Insert("old-running", running, 10 * kDayMs);
  Insert("old-failed", failed, 10 * kDayMs);
  Insert("old-checkout", Golden("async_completion.json"), 10 * kDayMs);
  // Its parent still runs and may read it.
  Insert("old-child-of-running", success, 10 * kDayMs, "old-running");
  // Its parent is gone: nothing reads it any more.
  Insert("old-orphan-child", success, 10 * kDayMs, "pruned-long-ago");
  ASSERT_EQ(store_->Load("old-failed")->summary.status, SagaStatus::kFailed);
  ASSERT_EQ(store_->Load("old-running")->summary.status, SagaStatus::kRunning);
  {
    pqxx::connection conn(db_->dsn());
    pqxx::nontransaction tx(conn);
    tx.exec(
        "INSERT INTO outbox (message_id, saga_id, type, header, payload, "
        "at_ms, status, dispatched_at) VALUES"
        " ('a:1', 'a', 'saga.started', '{}', '{}', 0, 'DISPATCHED',"
        "  now() - interval '3 days'),"
        " ('b:1', 'b', 'saga.started', '{}', '{}', 0, 'DISPATCHED', now()),"
        " ('c:1', 'c', 'saga.started', '{}', '{}', 0, 'PENDING', NULL)");
    tx.exec("UPDATE outbox SET created_at = now() - interval '3 days'");
  }

  auto registry = std::make_shared<prometheus::Registry>();
  RetentionOptions options = Options();
  options.outbox_dispatched_ms = kDayMs;
  options.archive_dir = archive_dir_;
  options.metrics = registry;
  RetentionJob job(retention_.get(), store_.get(), options);
  absl::StatusOr<PassReport> report = job.RunPass();
  ASSERT_TRUE(report.ok()) << report.status();

  const std::set<std::string> pruned = {"old-completed-1", "old-completed-2",
                                        "old-completed-3", "old-compensated",
                                        "old-orphan-child"};
  int64_t pruned_events = 0;
  for (const std::string& id : pruned) {
    EXPECT_FALSE(Exists(id)) << id;
    pruned_events += static_cast<int64_t>(events_[id]);
  }
  for (const char* kept : {"recent-completed", "old-running", "old-failed",
                           "old-checkout", "old-child-of-running"}) {
    ASSERT_TRUE(Exists(kept)) << kept;
    EXPECT_EQ(store_->Load(kept)->events.size(), events_[kept]) << kept;
  }
  EXPECT_EQ(report->sagas, 5);
  EXPECT_EQ(report->events, pruned_events);
  EXPECT_EQ(Count("SELECT count(*) FROM saga_events WHERE saga_id IN "
                  "('old-completed-1', 'old-compensated', 'old-orphan-child')"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM saga_snapshots WHERE saga_id IN "
                  "('old-completed-1', 'old-compensated', 'old-orphan-child')"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM saga_snapshots WHERE saga_id IN "
                  "('old-running', 'old-failed')"),
            2);
  EXPECT_EQ(report->outbox, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE message_id = 'a:1'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox"), 2);
  EXPECT_FALSE(report->lock_taken);

  // The archive: one line per pruned saga, each an export document that
  // replays through the decider.
  EXPECT_EQ(report->archived, 5);
  EXPECT_EQ(report->archive_files, 3);  // batches of 2
  std::set<std::string> archived;
  for (const std::string& line : ArchiveLines(archive_dir_)) {
    absl::StatusOr<core::History> history =
        core::DecodeHistory(line, "archive line");
    ASSERT_TRUE(history.ok()) << history.status();
    archived.insert(history->saga.saga_id);
    EXPECT_EQ(history->events.size(), events_[history->saga.saga_id]);
    const core::ReplayReport replay = core::ReplayHistory(*history);
    EXPECT_TRUE(replay.ok())
        << history->saga.saga_id << ": " << replay.divergence->reason;
  }
  EXPECT_EQ(archived, pruned);

  EXPECT_EQ(
      CounterValue(*registry, "saga_retention_pruned_rows_total", "sagas"), 5);
  EXPECT_EQ(CounterValue(*registry, "saga_retention_pruned_rows_total",
                         "saga_events"),
            static_cast<double>(pruned_events));
  EXPECT_EQ(
      CounterValue(*registry, "saga_retention_pruned_rows_total", "outbox"), 1);
  EXPECT_EQ(CounterValue(*registry, "saga_retention_archived_sagas_total"), 5);

  // A second pass finds nothing more.
  absl::StatusOr<PassReport> again = job.RunPass();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sagas, 0);
  EXPECT_EQ(again->outbox, 0);
}

TEST_F(RetentionPgTest, FailedSagasArePrunedOnlyWhenConfigured) {
  const core::History failed =
      CutAfter(Golden("operator_retry.json"), core::EventType::kSagaFailed);
  Insert("old-failed", failed, 10 * kDayMs);
  Insert("recent-failed", failed, 3600 * 1000);

  RetentionJob keeps(retention_.get(), store_.get(), Options());
  ASSERT_TRUE(keeps.RunPass().ok());
  EXPECT_TRUE(Exists("old-failed"));

  RetentionOptions options = Options();
  options.defaults.failed_ms = 2 * kDayMs;
  RetentionJob prunes(retention_.get(), store_.get(), options);
  absl::StatusOr<PassReport> report = prunes.RunPass();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->sagas, 1);
  EXPECT_FALSE(Exists("old-failed"));
  EXPECT_TRUE(Exists("recent-failed"));
}

TEST_F(RetentionPgTest, OnlyOneInstancePrunesAtATime) {
  Insert("old-completed", Golden("success.json"), 10 * kDayMs);
  RetentionJob job(retention_.get(), store_.get(), Options());
  {
    // Another instance's batch holds the lock.
    pqxx::connection other(db_->dsn());
    pqxx::work tx(other);
    ASSERT_TRUE(
        tx.exec1("SELECT pg_try_advisory_xact_lock(x'5a6a0012'::bigint)")[0]
            .as<bool>());
    absl::StatusOr<PassReport> report = job.RunPass();
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->lock_taken);
    EXPECT_EQ(report->sagas, 0);
    EXPECT_TRUE(Exists("old-completed"));
  }
  absl::StatusOr<PassReport> report = job.RunPass();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->lock_taken);
  EXPECT_FALSE(Exists("old-completed"));
}

// What keeps a crash between archive and delete from losing a saga: the
// rows go in the transaction that locked them, only after the archive was
// accepted; a refused (or interrupted) archive deletes nothing.
TEST_F(RetentionPgTest, NothingIsDeletedUnlessTheArchiveAcceptedIt) {
  Insert("old-completed", Golden("success.json"), 10 * kDayMs);
  store::EndedSagas which{"appointment_booking", SagaStatus::kCompleted, kDayMs,
                          10};
  std::vector<std::string> offered;
  auto refused = retention_->PruneSagas(
      which, [&](const std::vector<store::SagaRecord>& records) {
        for (const auto& record : records) {
          offered.push_back(record.summary.saga_id);
          EXPECT_EQ(record.events.size(), events_["old-completed"]);
        }
        return absl::InternalError("disk full");
      });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(offered, std::vector<std::string>{"old-completed"});
  EXPECT_TRUE(Exists("old-completed"));
  EXPECT_EQ(store_->Load("old-completed")->events.size(),
            events_["old-completed"]);

  // An archive directory that cannot be written fails the pass the same way.
  RetentionOptions options = Options();
  options.archive_dir = archive_dir_ + "/missing";
  RetentionJob job(retention_.get(), store_.get(), options);
  EXPECT_FALSE(job.RunPass().ok());
  EXPECT_TRUE(Exists("old-completed"));
}

}  // namespace
}  // namespace saga::retention
