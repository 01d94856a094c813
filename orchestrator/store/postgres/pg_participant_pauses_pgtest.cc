// PgParticipantPauses against a real PostgreSQL: pausing is idempotent and
// keeps the first pause, resuming ends it once, and each change commits one
// audit message that the outbox stream (WatchEvents) reads.
#include <chrono>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/postgres/pg_outbox.h"
#include "orchestrator/store/postgres/pg_participant_pauses.h"
#include "tests/support/test_support.h"

namespace saga::store {
namespace {

using ::saga::testing::SourcePath;
using ::saga::testing::TestDatabase;

class PgParticipantPausesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDatabase>("pauses");
    ASSERT_TRUE(
        pg::ApplyMigrations(db_->dsn(), SourcePath("migrations/orchestrator"))
            .ok());
    pauses_ = std::make_unique<PgParticipantPauses>(db_->dsn());
  }

  // The outbox messages, in stream order, once `count` are readable: the
  // stream shows a row only when every older transaction of the PostgreSQL
  // cluster has ended (other tests' too).
  std::vector<OutboxEntry> Audit(size_t count) {
    PgOutboxLog log(db_->dsn(), 1);
    std::vector<OutboxEntry> entries;
    EXPECT_TRUE(::saga::testing::PollUntil(
        [&] {
          absl::StatusOr<StreamPage> page = log.Read({}, 100);
          if (page.ok()) entries = page->entries;
          return entries.size() >= count;
        },
        std::chrono::milliseconds(30000)));
    return entries;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgParticipantPauses> pauses_;
};

TEST_F(PgParticipantPausesTest, PausingTwiceKeepsTheFirstPause) {
  absl::StatusOr<PauseChange> first =
      pauses_->Pause("doctor", "ops (ann)", "db failover");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->changed);
  ASSERT_TRUE(first->pause.has_value());
  EXPECT_EQ(first->pause->participant, "doctor");
  EXPECT_EQ(first->pause->paused_by, "ops (ann)");
  EXPECT_EQ(first->pause->reason, "db failover");
  EXPECT_GT(first->pause->since_ms, 0);

  absl::StatusOr<PauseChange> again =
      pauses_->Pause("doctor", "ops (bob)", "still down");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->pause, first->pause);

  absl::StatusOr<std::vector<ParticipantPause>> listed = pauses_->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, std::vector<ParticipantPause>{*first->pause});
  EXPECT_EQ(Audit(1).size(), 1u);
}

TEST_F(PgParticipantPausesTest, ResumingEndsThePauseOnceAndAuditsBoth) {
  ASSERT_TRUE(pauses_->Pause("doctor", "ann", "db failover").ok());
  ASSERT_TRUE(pauses_->Pause("email", "ann", "smtp relay down").ok());

  absl::StatusOr<PauseChange> resumed =
      pauses_->Resume("doctor", "bob", "failover done");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->changed);
  ASSERT_TRUE(resumed->pause.has_value());
  EXPECT_EQ(resumed->pause->reason, "db failover");
  absl::StatusOr<PauseChange> again = pauses_->Resume("doctor", "bob", "");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->changed);
  EXPECT_FALSE(again->pause.has_value());

  absl::StatusOr<std::vector<ParticipantPause>> listed = pauses_->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].participant, "email");

  const std::vector<OutboxEntry> audit = Audit(3);
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].message.type, "participant.paused");
  EXPECT_EQ(audit[1].message.type, "participant.paused");
  EXPECT_EQ(audit[2].message.type, "participant.resumed");
  EXPECT_EQ(audit[2].message.saga_id, "");
  EXPECT_NE(audit[0].message.message_id, audit[1].message.message_id);
  const auto header = nlohmann::json::parse(audit[2].message.header_json);
  EXPECT_EQ(header["participant"], "doctor");
  const auto payload = nlohmann::json::parse(audit[2].message.payload_json);
  EXPECT_EQ(payload["by"], "bob");
  EXPECT_EQ(payload["reason"], "failover done");
  EXPECT_EQ(payload["paused_by"], "ann");
  EXPECT_EQ(payload["paused_reason"], "db failover");
}

// The orchestrator opens the session at start-up, beside the store's, so
// the engine's first read of the pauses does not log in first.
TEST_F(PgParticipantPausesTest, ConnectOpensTheSessionTheFirstReadUses) {
  pqxx::connection observer(db_->dsn());
  auto sessions = [&] {
    pqxx::nontransaction tx(observer);
    return tx
        .exec1(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid()")[0]
        .as<int>();
  };
  EXPECT_EQ(sessions(), 0);
  ASSERT_TRUE(pauses_->Connect().ok());
  EXPECT_EQ(sessions(), 1);
  ASSERT_TRUE(pauses_->List().ok());
  EXPECT_EQ(sessions(), 1);
}

TEST_F(PgParticipantPausesTest, AnUnreachableDatabaseIsUnavailable) {
  PgParticipantPauses nowhere(
      "host=127.0.0.1 port=1 dbname=none connect_timeout=2");
  EXPECT_EQ(nowhere.Connect().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(nowhere.List().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(nowhere.Pause("doctor", "ann", "x").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace saga::store
