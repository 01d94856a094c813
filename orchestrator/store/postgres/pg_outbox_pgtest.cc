// The outbox readers against a real PostgreSQL: stream order, the horizon
// that keeps a late commit from being passed over, resuming, and the
// dispatcher queue's lock and marks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/batch_checks.h"
#include "orchestrator/store/postgres/pg_outbox.h"
#include "orchestrator/store/postgres/pg_store.h"
#include "tests/support/test_support.h"

namespace saga::store {
namespace {

using ::saga::pg::ApplyMigrations;
using ::saga::testing::PollUntil;
using ::saga::testing::SourcePath;
using ::saga::testing::TestDatabase;
using std::chrono::milliseconds;

constexpr milliseconds kWait{30000};
constexpr int64_t kT0 = 1700000000000;

// An outbox row as the store writes it, inserted by hand inside a
// transaction the test controls.
void InsertMessage(pqxx::transaction_base& tx, const std::string& id) {
  tx.exec_params0(
      "INSERT INTO outbox (message_id, saga_id, type, header, payload, at_ms)"
      " VALUES ($1, 's', 'saga.started', '{\"saga_type\":\"t\"}', '{}', 0)",
      id);
}

// The first batch of a saga, with one outbox message.
AppendBatch CreateBatch(const std::string& saga_id) {
  AppendBatch batch;
  batch.saga_id = saga_id;
  core::Event started;
  started.type = core::EventType::kSagaStarted;
  started.seq = 1;
  started.at_ms = kT0;
  started.saga_type = "booking";
  started.definition_version = 1;
  started.input_json = "{}";
  batch.events.push_back(started);
  batch.summary.saga_id = saga_id;
  batch.summary.saga_type = "booking";
  batch.summary.definition_version = 1;
  batch.summary.input_json = "{}";
  batch.summary.last_seq = 1;
  batch.summary.created_ms = kT0;
  batch.summary.updated_ms = kT0;
  batch.writer = "outbox-test";
  batch.lease_ttl = std::chrono::minutes(10);
  core::OutboxMessage message;
  message.message_id = saga_id + ":1";
  message.seq = 1;
  message.saga_id = saga_id;
  message.type = "saga.started";
  message.header_json =
      R"({"saga_id":")" + saga_id + R"(","saga_type":"booking"})";
  message.payload_json = "{}";
  message.at_ms = kT0;
  batch.outbox.push_back(message);
  return batch;
}

// The next batch of a saga at `last_seq`: one event, one message.
AppendBatch NextBatch(const std::string& saga_id, int64_t last_seq) {
  AppendBatch batch;
  batch.saga_id = saga_id;
  batch.expected_last_seq = last_seq;
  core::Event event;
  event.type = core::EventType::kStepStarted;
  event.seq = last_seq + 1;
  event.at_ms = kT0 + event.seq;
  event.step = 0;
  event.attempt = 1;
  batch.events.push_back(event);
  batch.summary.saga_id = saga_id;
  batch.summary.last_seq = event.seq;
  batch.summary.updated_ms = event.at_ms;
  batch.writer = "outbox-test";
  batch.lease_ttl = std::chrono::minutes(10);
  core::OutboxMessage message;
  message.message_id = saga_id + ":" + std::to_string(event.seq);
  message.seq = event.seq;
  message.saga_id = saga_id;
  message.type = "saga.step";
  message.header_json = "{}";
  message.payload_json = "{}";
  message.at_ms = event.at_ms;
  batch.outbox.push_back(message);
  return batch;
}

class PgOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDatabase>("outbox");
    ASSERT_TRUE(
        ApplyMigrations(db_->dsn(), SourcePath("migrations/orchestrator"))
            .ok());
    log_ = std::make_unique<PgOutboxLog>(db_->dsn(), 2);
  }

  // Message ids in stream order as the table has them.
  std::vector<std::string> TableOrder() {
    pqxx::connection conn(db_->dsn());
    pqxx::nontransaction tx(conn);
    std::vector<std::string> ids;
    for (const auto& row :
         tx.exec("SELECT message_id FROM outbox ORDER BY txid, position")) {
      ids.push_back(row[0].as<std::string>());
    }
    return ids;
  }

  // Reads until caught up, appending message ids to `out`.
  StreamCursor ReadAll(StreamCursor cursor, std::vector<std::string>& out,
                       int page_size = 100) {
    while (true) {
      absl::StatusOr<StreamPage> page = log_->Read(cursor, page_size);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return cursor;
      for (const auto& entry : page->entries) {
        out.push_back(entry.message.message_id);
      }
      EXPECT_GE(page->next, cursor) << "the cursor moved back";
      cursor = page->next;
      if (page->caught_up) return cursor;
    }
  }

  // Reads until `out` has `count` ids. The horizon is the whole PostgreSQL
  // server's: a transaction of another test, in another database, holds
  // the stream back for a while, so a single read may come up short.
  StreamCursor ReadUntil(StreamCursor cursor, std::vector<std::string>& out,
                         size_t count) {
    EXPECT_TRUE(PollUntil(
        [&] {
          cursor = ReadAll(cursor, out);
          return out.size() >= count;
        },
        kWait))
        << "only " << out.size() << " of " << count << " messages readable";
    return cursor;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgOutboxLog> log_;
};

// The classic outbox gap, made on purpose: transaction A begins first (the
// smaller id) but writes its row last, so B's row gets the smaller position
// and commits while A is still open. A reader of "position > P" would hand
// out B's row, move past it and never see A's. The stream holds B back
// until A has ended, then hands out A's row first (transaction order), and
// resuming after either position gives exactly what follows it.
TEST_F(PgOutboxTest, ALateCommitWithAnyPositionIsNeverPassedOver) {
  pqxx::connection a_conn(db_->dsn());
  pqxx::connection b_conn(db_->dsn());
  pqxx::work a(a_conn);
  a.exec("SELECT pg_current_xact_id()");  // A's id is now the smaller one
  {
    pqxx::work b(b_conn);
    InsertMessage(b, "b");
    b.commit();
  }
  std::vector<std::string> seen;
  StreamCursor cursor = ReadAll({}, seen);
  EXPECT_TRUE(seen.empty()) << "B is readable while the older A is open";

  InsertMessage(a, "a");
  a.commit();
  cursor = ReadUntil(cursor, seen, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen, TableOrder());

  pqxx::connection conn(db_->dsn());
  pqxx::nontransaction tx(conn);
  const int64_t a_position =
      tx.exec1("SELECT position FROM outbox WHERE message_id = 'a'")[0]
          .as<int64_t>();
  const int64_t b_position =
      tx.exec1("SELECT position FROM outbox WHERE message_id = 'b'")[0]
          .as<int64_t>();
  ASSERT_LT(b_position, a_position) << "the test did not commit out of order";
  for (const auto& [position, expected] :
       std::vector<std::pair<int64_t, std::vector<std::string>>>{
           {a_position, {"b"}}, {b_position, {}}}) {
    absl::StatusOr<StreamCursor> after = log_->CursorAfter(position);
    ASSERT_TRUE(after.ok()) << after.status();
    std::vector<std::string> rest;
    ReadAll(*after, rest);
    EXPECT_EQ(rest, expected) << "after position " << position;
  }
}

// The same through the store's own group commit: a Create held open after
// it has taken its position (a trigger waits on a lock the test holds),
// while a second Create commits with a larger position.
TEST_F(PgOutboxTest, AStoreWriteHeldOpenHoldsTheStreamBack) {
  pqxx::connection admin(db_->dsn());
  {
    pqxx::nontransaction tx(admin);
    tx.exec(R"sql(
      CREATE FUNCTION hold_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.saga_id LIKE 'held-%' THEN
          PERFORM pg_advisory_xact_lock_shared(4242);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_outbox AFTER INSERT ON outbox
        FOR EACH ROW EXECUTE FUNCTION hold_outbox();
      SELECT pg_advisory_lock(4242);
    )sql");
  }
  absl::StatusOr<std::unique_ptr<PgStore>> store = PgStore::Open(db_->dsn(), 4);
  ASSERT_TRUE(store.ok()) << store.status();
  const AppendBatch held = CreateBatch("held-1");
  auto held_create =
      std::async(std::launch::async, [&] { return (*store)->Create(held); });
  pqxx::connection probe(db_->dsn());
  ASSERT_TRUE(PollUntil(
      [&] {
        pqxx::nontransaction tx(probe);
        return tx.exec1(
                     "SELECT count(*) FROM pg_locks WHERE "
                     "locktype = 'advisory' AND objid = 4242 AND "
                     "NOT granted")[0]
                   .as<int>() == 1;
      },
      kWait))
      << "the held Create never reached the trigger";
  ASSERT_TRUE((*store)->Create(CreateBatch("free-1")).ok());

  std::vector<std::string> seen;
  StreamCursor cursor = ReadAll({}, seen);
  EXPECT_TRUE(seen.empty()) << "free-1 streamed while held-1 is open";
  {
    pqxx::nontransaction tx(probe);
    EXPECT_EQ(tx.exec1("SELECT position FROM outbox")[0].as<int64_t>(), 2)
        << "a naive 'position > 0' reader would hand out position 2 now and "
           "never position 1";
  }

  {
    pqxx::nontransaction tx(admin);
    tx.exec("SELECT pg_advisory_unlock(4242)");
  }
  ASSERT_TRUE(held_create.get().ok());
  ReadUntil(cursor, seen, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"held-1:1", "free-1:1"}));
  EXPECT_EQ(seen, TableOrder());
}

// Many concurrent group commits, and a reader that tails them a small page
// at a time, resuming from the last position after every page as a
// reconnecting consumer would: every message exactly once, in table order.
TEST_F(PgOutboxTest, ATailingReaderMatchesTheTableUnderConcurrentWrites) {
  absl::StatusOr<std::unique_ptr<PgStore>> store = PgStore::Open(db_->dsn(), 4);
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kWriters = 8;
  constexpr int kSagasPerWriter = 10;
  constexpr int kBatchesPerSaga = 4;
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 0; n < kSagasPerWriter; ++n) {
        const std::string id =
            "s-" + std::to_string(w) + "-" + std::to_string(n);
        EXPECT_TRUE((*store)->Create(CreateBatch(id)).ok());
        for (int seq = 1; seq < kBatchesPerSaga; ++seq) {
          EXPECT_TRUE((*store)->Append(NextBatch(id, seq)).ok());
        }
      }
      ++done;
    });
  }
  std::vector<std::string> seen;
  int64_t last_position = 0;
  auto read_page = [&] {
    StreamCursor cursor;
    if (last_position > 0) {
      absl::StatusOr<StreamCursor> after = log_->CursorAfter(last_position);
      ASSERT_TRUE(after.ok()) << after.status();
      cursor = *after;
    }
    absl::StatusOr<StreamPage> page = log_->Read(cursor, 7);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& entry : page->entries) {
      seen.push_back(entry.message.message_id);
      last_position = entry.position;
    }
  };
  const size_t total = kWriters * kSagasPerWriter * kBatchesPerSaga;
  EXPECT_TRUE(PollUntil(
      [&] {
        read_page();
        return done == kWriters && seen.size() >= total;
      },
      kWait * 4));
  for (auto& writer : writers) writer.join();
  read_page();
  EXPECT_EQ(seen.size(), total);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size())
      << "a message was streamed twice";
  EXPECT_EQ(seen, TableOrder());
}

// A message whose payload is its event's data is stored from the event row
// (group_rows sends its seq instead of the text); either way the stream
// hands out the payload the batch carried.
TEST_F(PgOutboxTest,
       PayloadsReadBackAsWrittenWhetherOrNotTheyAreTheEventsData) {
  absl::StatusOr<std::unique_ptr<PgStore>> store = PgStore::Open(db_->dsn(), 2);
  ASSERT_TRUE(store.ok()) << store.status();
  AppendBatch first = CreateBatch("saga-a");
  first.outbox[0].payload_json = core::EncodeEventData(first.events[0]);
  ASSERT_TRUE((*store)->Create(first).ok());
  AppendBatch next = NextBatch("saga-a", 1);
  next.outbox[0].payload_json = R"({"not":"the event's data"})";
  ASSERT_TRUE((*store)->Append(next).ok());

  std::vector<std::string> payloads;
  absl::StatusOr<StreamPage> page;
  ASSERT_TRUE(PollUntil(
      [&] {
        page = log_->Read({}, 10);
        return page.ok() && page->entries.size() == 2;
      },
      kWait));
  for (const auto& entry : page->entries) {
    payloads.push_back(entry.message.payload_json);
  }
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_TRUE(JsonEqual(payloads[0], first.outbox[0].payload_json))
      << payloads[0];
  EXPECT_TRUE(JsonEqual(payloads[1], next.outbox[0].payload_json))
      << payloads[1];
}

TEST_F(PgOutboxTest, AnUnknownPositionIsOutOfRange) {
  absl::StatusOr<StreamCursor> cursor = log_->CursorAfter(12345);
  EXPECT_TRUE(absl::IsOutOfRange(cursor.status())) << cursor.status();
}

TEST_F(PgOutboxTest, OneQueueLeadsAtATimeAndHandsOverWhenItGoes) {
  auto first = std::make_unique<PgOutboxQueue>(db_->dsn());
  PgOutboxQueue second(db_->dsn());
  absl::StatusOr<bool> lead = first->Lead();
  ASSERT_TRUE(lead.ok()) << lead.status();
  EXPECT_TRUE(*lead);
  lead = second.Lead();
  ASSERT_TRUE(lead.ok()) << lead.status();
  EXPECT_FALSE(*lead);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.Pending(10).status()));
  first.reset();  // its session, and with it the lock, ends
  EXPECT_TRUE(PollUntil(
      [&] {
        absl::StatusOr<bool> taken = second.Lead();
        return taken.ok() && *taken;
      },
      kWait));
}

TEST_F(PgOutboxTest, PendingIsInStreamOrderAndMarkedEntriesLeaveIt) {
  pqxx::connection a_conn(db_->dsn());
  pqxx::connection b_conn(db_->dsn());
  {
    pqxx::work a(a_conn);
    a.exec("SELECT pg_current_xact_id()");
    pqxx::work b(b_conn);
    InsertMessage(b, "b");
    InsertMessage(a, "a");
    b.commit();
    a.commit();
  }
  PgOutboxQueue queue(db_->dsn());
  ASSERT_TRUE(*queue.Lead());
  absl::StatusOr<std::vector<OutboxEntry>> pending;
  // Another test's transaction may hold the server-wide horizon back.
  EXPECT_TRUE(PollUntil(
      [&] {
        pending = queue.Pending(10);
        return !pending.ok() || pending->size() == 2;
      },
      kWait));
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].message.message_id, "a");
  EXPECT_EQ((*pending)[0].saga_type, "t");
  EXPECT_EQ((*pending)[1].message.message_id, "b");

  ASSERT_TRUE(queue.MarkDispatched({(*pending)[0].position}).ok());
  pending = queue.Pending(10);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].message.message_id, "b");

  pqxx::connection conn(db_->dsn());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM outbox WHERE status = "
                     "'DISPATCHED' AND dispatched_at IS NOT NULL "
                     "AND message_id = 'a'")[0]
                .as<int>(),
            1);
}

}  // namespace
}  // namespace saga::store
