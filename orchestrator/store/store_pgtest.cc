// One SagaStore suite run against every backend (PostgreSQL and memory),
// plus PostgreSQL-only tests of the migrator, concurrency and reconnection.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/memory/memory_store.h"
#include "orchestrator/store/postgres/pg_store.h"
#include "orchestrator/store/store.h"
#include "tests/support/test_support.h"

namespace saga::store {
namespace {

using core::Event;
using core::EventType;
using core::OutboxMessage;
using core::SagaStatus;
using ::saga::pg::ApplyMigrations;
using ::saga::testing::AdminDsn;
using ::saga::testing::PollUntil;
using ::saga::testing::SourcePath;
using ::saga::testing::TestDatabase;

using std::chrono::milliseconds;

constexpr int64_t kT0 = 1700000000123;
// Two orchestrator instances sharing the store.
constexpr char kOwnerA[] = "orch-a";
constexpr char kOwnerB[] = "orch-b";
constexpr milliseconds kLongTtl{60000};
// Expires at once (the next millisecond of the store's clock).
constexpr milliseconds kShortTtl{1};
constexpr char kType[] = "appointment_booking";
constexpr char kInput[] = R"({"patient":"p-1","slot":{"day":"mon","hour":9}})";

Event SagaStarted(const std::string& saga_type, const std::string& input,
                  int64_t at_ms) {
  Event event;
  event.type = EventType::kSagaStarted;
  event.seq = 1;
  event.at_ms = at_ms;
  event.saga_type = saga_type;
  event.definition_version = 2;
  event.input_json = input;
  return event;
}

Event StepEvent(EventType type, int64_t seq, int step, int attempt) {
  Event event;
  event.type = type;
  event.seq = seq;
  event.at_ms = kT0 + seq;
  event.step = step;
  event.attempt = attempt;
  return event;
}

OutboxMessage Message(const std::string& saga_id, int64_t seq,
                      const std::string& type) {
  OutboxMessage message;
  message.message_id = saga_id + ":" + std::to_string(seq);
  message.saga_id = saga_id;
  message.type = type;
  message.header_json =
      R"({"saga_id":")" + saga_id + R"(","seq":)" + std::to_string(seq) + "}";
  message.payload_json = R"({"n":)" + std::to_string(seq) + "}";
  message.at_ms = kT0 + seq;
  message.seq = seq;
  return message;
}

// A first batch: the saga row, SagaStarted and one outbox message, written
// by instance A.
AppendBatch CreateBatch(const std::string& saga_id,
                        const std::string& saga_type = kType,
                        const std::string& input = kInput,
                        const std::string& key = "", int64_t created_ms = kT0) {
  AppendBatch batch;
  batch.writer = kOwnerA;
  batch.lease_ttl = kLongTtl;
  batch.saga_id = saga_id;
  batch.expected_last_seq = 0;
  batch.events.push_back(SagaStarted(saga_type, input, created_ms));
  batch.summary.saga_id = saga_id;
  batch.summary.saga_type = saga_type;
  batch.summary.definition_version = 2;
  batch.summary.status = SagaStatus::kRunning;
  batch.summary.input_json = input;
  batch.summary.idempotency_key = key;
  batch.summary.last_seq = 1;
  batch.summary.created_ms = created_ms;
  batch.summary.updated_ms = created_ms;
  batch.outbox.push_back(Message(saga_id, 1, "saga.started"));
  return batch;
}

// `events` StepStarted events after `expected`, leaving the saga in
// `status`, with one outbox message per event, written by instance A.
AppendBatch AdvanceBatch(const std::string& saga_id, int64_t expected,
                         int events, SagaStatus status,
                         const std::string& current_step = "reserve") {
  AppendBatch batch;
  batch.writer = kOwnerA;
  batch.lease_ttl = kLongTtl;
  batch.saga_id = saga_id;
  batch.expected_last_seq = expected;
  for (int i = 1; i <= events; ++i) {
    batch.events.push_back(
        StepEvent(EventType::kStepStarted, expected + i, 0, i));
    batch.outbox.push_back(Message(saga_id, expected + i, "saga.step"));
  }
  batch.summary.saga_id = saga_id;
  batch.summary.status = status;
  batch.summary.current_step = current_step;
  batch.summary.last_seq = expected + events;
  batch.summary.updated_ms = kT0 + 1000 + expected + events;
  return batch;
}

void ExpectSummaryEq(const SagaSummary& want, const SagaSummary& got) {
  EXPECT_EQ(want.saga_id, got.saga_id);
  EXPECT_EQ(want.saga_type, got.saga_type);
  EXPECT_EQ(want.definition_version, got.definition_version);
  EXPECT_EQ(core::SagaStatusName(want.status),
            core::SagaStatusName(got.status));
  EXPECT_EQ(want.current_step, got.current_step);
  EXPECT_EQ(want.error, got.error);
  EXPECT_EQ(want.input_json, got.input_json);
  EXPECT_EQ(want.idempotency_key, got.idempotency_key);
  EXPECT_EQ(want.last_seq, got.last_seq);
  EXPECT_EQ(want.created_ms, got.created_ms);
  EXPECT_EQ(want.updated_ms, got.updated_ms);
}

std::vector<std::string> Ids(const std::vector<SagaSummary>& sagas) {
  std::vector<std::string> ids;
  for (const SagaSummary& saga : sagas) ids.push_back(saga.saga_id);
  return ids;
}

std::vector<std::string> Ids(const std::vector<SagaRecord>& records) {
  std::vector<std::string> ids;
  for (const SagaRecord& record : records) {
    ids.push_back(record.summary.saga_id);
  }
  return ids;
}

// AdvanceBatch written by `writer`.
AppendBatch AdvanceBatchBy(const std::string& writer,
                           const std::string& saga_id, int64_t expected,
                           SagaStatus status = SagaStatus::kRunning) {
  AppendBatch batch = AdvanceBatch(saga_id, expected, 1, status);
  batch.writer = writer;
  return batch;
}

// The single bigint that `sql` (with one text parameter) returns.
int64_t CountRows(const std::string& dsn, const std::string& sql,
                  const std::string& param) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec_params1(sql, param)[0].as<int64_t>();
}

int64_t CountRows(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

class MemoryBackend {
 public:
  static constexpr const char* kName = "Memory";
  void SetUp() { store_ = std::make_unique<MemoryStore>(); }
  SagaStore& store() { return *store_; }
  int64_t OutboxCount(const std::string& saga_id) {
    const std::vector<OutboxMessage> outbox = store_->Outbox();
    return std::count_if(outbox.begin(), outbox.end(),
                         [&](const OutboxMessage& message) {
                           return message.saga_id == saga_id;
                         });
  }

 private:
  std::unique_ptr<MemoryStore> store_;
};

class PostgresBackend {
 public:
  static constexpr const char* kName = "Postgres";
  void SetUp() {
    db_ = std::make_unique<TestDatabase>("store");
    const absl::Status migrated =
        ApplyMigrations(db_->dsn(), SourcePath("migrations/orchestrator"));
    ASSERT_TRUE(migrated.ok()) << migrated;
    absl::StatusOr<std::unique_ptr<PgStore>> store =
        PgStore::Open(db_->dsn(), 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  SagaStore& store() { return *store_; }
  int64_t OutboxCount(const std::string& saga_id) {
    return CountRows(db_->dsn(),
                     "SELECT count(*) FROM outbox WHERE saga_id = $1", saga_id);
  }

 private:
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgStore> store_;  // closed before the database is dropped
};

template <typename Backend>
class SagaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(backend_.SetUp()); }

  SagaStore& store() { return backend_.store(); }
  int64_t OutboxCount(const std::string& saga_id) {
    return backend_.OutboxCount(saga_id);
  }

  // Creates a saga and advances it to `status` with `extra_events` more.
  void MakeSaga(const std::string& saga_id, SagaStatus status, int extra_events,
                int64_t created_ms = kT0,
                const std::string& saga_type = kType) {
    absl::StatusOr<CreateResult> created =
        store().Create(CreateBatch(saga_id, saga_type, kInput, "", created_ms));
    ASSERT_TRUE(created.ok()) << created.status();
    if (extra_events > 0 || status != SagaStatus::kRunning) {
      const absl::Status appended =
          store().Append(AdvanceBatch(saga_id, 1, extra_events, status));
      ASSERT_TRUE(appended.ok()) << appended;
    }
  }

  Backend backend_;
};

// Each backend names its tests (kName).
struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

using Backends = ::testing::Types<PostgresBackend, MemoryBackend>;
TYPED_TEST_SUITE(SagaStoreTest, Backends, BackendNames);

TYPED_TEST(SagaStoreTest, LoadHistoryPagesTheEventsInSeqOrder) {
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("saga-1", SagaStatus::kRunning, 6));
  absl::StatusOr<SagaRecord> whole = this->store().Load("saga-1");
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->events.size(), 7u);

  std::vector<int64_t> seqs;
  int64_t after = 0;
  int pages = 0;
  while (true) {
    absl::StatusOr<HistoryPage> page =
        this->store().LoadHistory("saga-1", after, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    EXPECT_EQ(page->summary.saga_id, "saga-1");
    ASSERT_LE(page->events.size(), 3u);
    for (const Event& event : page->events) seqs.push_back(event.seq);
    if (!page->more) break;
    after = page->events.back().seq;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(pages, 3);

  // Exactly a page left: no "more".
  absl::StatusOr<HistoryPage> last = this->store().LoadHistory("saga-1", 4, 3);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->events.size(), 3u);
  EXPECT_FALSE(last->more);
  // 0: all the rest.
  absl::StatusOr<HistoryPage> rest = this->store().LoadHistory("saga-1", 2, 0);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->events.size(), 5u);
  EXPECT_FALSE(rest->more);
  EXPECT_EQ(this->store().LoadHistory("nope", 0, 0).status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(SagaStoreTest, CreateThenLoadRoundTripsEveryField) {
  AppendBatch first = CreateBatch("saga-1", kType, kInput, "key-1");
  first.summary.definition_version = 3;
  first.summary.current_step = "reserve_doctor";
  first.summary.last_seq = 2;
  first.summary.updated_ms = kT0 + 333;
  first.events[0].definition_version = 3;
  first.events.push_back(StepEvent(EventType::kStepStarted, 2, 0, 1));
  ASSERT_TRUE(this->store().Create(first).ok());

  AppendBatch next;
  next.writer = kOwnerA;
  next.lease_ttl = kLongTtl;
  next.saga_id = "saga-1";
  next.expected_last_seq = 2;
  Event succeeded = StepEvent(EventType::kStepSucceeded, 3, 0, 1);
  succeeded.output_json = R"({"reservation_id":"r-9"})";
  Event failed = StepEvent(EventType::kStepFailed, 4, 1, 1);
  failed.error = "doctor busy";
  failed.retryable = true;
  failed.outcome_unknown = true;
  Event retry = StepEvent(EventType::kRetryScheduled, 5, 1, 2);
  retry.due_ms = kT0 + 5000;
  Event compensation = StepEvent(EventType::kCompensationStarted, 6, -1, 0);
  compensation.error = "gave up";
  next.events = {succeeded, failed, retry, compensation};
  next.summary = first.summary;
  next.summary.status = SagaStatus::kCompensating;
  next.summary.current_step = "reserve_doctor";
  next.summary.error = "gave up";
  next.summary.last_seq = 6;
  next.summary.updated_ms = kT0 + 6000;
  ASSERT_TRUE(this->store().Append(next).ok());

  absl::StatusOr<SagaRecord> record = this->store().Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  ExpectSummaryEq(next.summary, record->summary);
  std::vector<Event> events = first.events;
  events.insert(events.end(), next.events.begin(), next.events.end());
  EXPECT_EQ(events, record->events);

  absl::StatusOr<SagaSummary> summary = this->store().LoadSummary("saga-1");
  ASSERT_TRUE(summary.ok()) << summary.status();
  ExpectSummaryEq(record->summary, *summary);
}

TYPED_TEST(SagaStoreTest, AppendRecordsTheCurrentAttempt) {
  ASSERT_TRUE(this->store().Create(CreateBatch("saga-1")).ok());
  AppendBatch batch = AdvanceBatch("saga-1", 1, 1, SagaStatus::kRunning);
  batch.summary.current_attempt = 3;
  ASSERT_TRUE(this->store().Append(batch).ok());
  absl::StatusOr<SagaSummary> summary = this->store().LoadSummary("saga-1");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->current_attempt, 3);
}

TYPED_TEST(SagaStoreTest, ListFiltersByCreationTime) {
  this->MakeSaga("old", SagaStatus::kRunning, 0, kT0);
  this->MakeSaga("new", SagaStatus::kRunning, 0, kT0 + 5000);
  ListQuery query;
  query.created_after_ms = kT0 + 1000;
  absl::StatusOr<ListPage> page = this->store().List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sagas.size(), 1u);
  EXPECT_EQ(page->sagas[0].saga_id, "new");
}

// The filters of bulk repairs: the step a saga is at (any of parallel
// steps), its error ignoring case and taken literally, a creation range;
// Count applies the same filter and counts per status.
TYPED_TEST(SagaStoreTest, ListAndCountFilterByStepErrorAndCreationRange) {
  struct Row {
    std::string id;
    SagaStatus status;
    std::string step;
    std::string error;
    int64_t created_ms;
  };
  const std::vector<Row> rows = {
      {"f1", SagaStatus::kFailed, "reserve", "Doctor TIMEOUT at 9:00", kT0},
      {"f2", SagaStatus::kFailed, "charge", "card declined", kT0 + 1000},
      {"f3", SagaStatus::kFailed, "reserve", "100% _full_", kT0 + 2000},
      {"r1", SagaStatus::kRunning, "notify,reserve", "", kT0 + 3000},
      {"c1", SagaStatus::kCompensated, "", "timeout", kT0 + 4000},
  };
  for (const Row& row : rows) {
    ASSERT_TRUE(
        this->store()
            .Create(CreateBatch(row.id, kType, kInput, "", row.created_ms))
            .ok());
    AppendBatch advance = AdvanceBatch(row.id, 1, 1, row.status, row.step);
    advance.summary.error = row.error;
    ASSERT_TRUE(this->store().Append(advance).ok());
  }
  auto listed = [&](const ListQuery& query) {
    absl::StatusOr<ListPage> page = this->store().List(query);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? Ids(page->sagas) : std::vector<std::string>{};
  };
  auto counted = [&](const ListQuery& query) {
    absl::StatusOr<std::vector<StatusCount>> counts =
        this->store().Count(query);
    EXPECT_TRUE(counts.ok()) << counts.status();
    std::vector<std::pair<std::string, int64_t>> named;
    for (const StatusCount& count :
         counts.value_or(std::vector<StatusCount>{})) {
      named.emplace_back(core::SagaStatusName(count.status), count.count);
    }
    return named;
  };
  using Counts = std::vector<std::pair<std::string, int64_t>>;

  ListQuery at_reserve;
  at_reserve.step = "reserve";
  EXPECT_EQ(listed(at_reserve), (std::vector<std::string>{"r1", "f3", "f1"}));
  EXPECT_EQ(counted(at_reserve), (Counts{{"RUNNING", 1}, {"FAILED", 2}}));
  at_reserve.status = SagaStatus::kFailed;
  EXPECT_EQ(listed(at_reserve), (std::vector<std::string>{"f3", "f1"}));
  ListQuery part_of_a_name;
  part_of_a_name.step = "reserv";
  EXPECT_TRUE(listed(part_of_a_name).empty());

  ListQuery timeout;
  timeout.error_contains = "timeOut";
  EXPECT_EQ(listed(timeout), (std::vector<std::string>{"c1", "f1"}));
  EXPECT_EQ(counted(timeout), (Counts{{"COMPENSATED", 1}, {"FAILED", 1}}));
  // No wildcards: % and _ are text.
  ListQuery percent;
  percent.error_contains = "0% _f";
  EXPECT_EQ(listed(percent), (std::vector<std::string>{"f3"}));
  percent.error_contains = "1_0";
  EXPECT_TRUE(listed(percent).empty());

  ListQuery range;
  range.created_after_ms = kT0;
  range.created_before_ms = kT0 + 3000;
  EXPECT_EQ(listed(range), (std::vector<std::string>{"f3", "f2"}));
  EXPECT_EQ(counted(range), (Counts{{"FAILED", 2}}));

  EXPECT_EQ(counted(ListQuery{}),
            (Counts{{"RUNNING", 1}, {"COMPENSATED", 1}, {"FAILED", 3}}));
  ListQuery none;
  none.saga_type = "no_such_type";
  EXPECT_TRUE(counted(none).empty());
}

// A child saga's row names its parent and the parent's step; the list of
// one parent's children holds them and nothing else.
TYPED_TEST(SagaStoreTest, ChildSagasKeepTheirParentAndListByIt) {
  this->MakeSaga("parent", SagaStatus::kRunning, 0, kT0);
  for (const char* child : {"child-a", "child-b"}) {
    AppendBatch batch = CreateBatch(child, kType, kInput, "", kT0 + 10);
    batch.summary.parent_saga_id = "parent";
    batch.summary.parent_step = "pay";
    ASSERT_TRUE(this->store().Create(batch).ok());
  }
  absl::StatusOr<SagaRecord> loaded = this->store().Load("child-a");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->summary.parent_saga_id, "parent");
  EXPECT_EQ(loaded->summary.parent_step, "pay");
  // An append does not touch the link.
  ASSERT_TRUE(this->store()
                  .Append(AdvanceBatch("child-a", 1, 1, SagaStatus::kRunning))
                  .ok());
  EXPECT_EQ(this->store().LoadSummary("child-a")->parent_saga_id, "parent");
  EXPECT_EQ(this->store().LoadSummary("parent")->parent_saga_id, "");
  ListQuery query;
  query.parent_saga_id = "parent";
  absl::StatusOr<ListPage> page = this->store().List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Ids(page->sagas), (std::vector<std::string>{"child-b", "child-a"}));
}

// A saga's business key and rerun link are kept from its creation on and
// filter the list, alone or together.
TYPED_TEST(SagaStoreTest, BusinessKeysAndRerunLinksAreKeptAndListBy) {
  this->MakeSaga("first", SagaStatus::kCompleted, 0, kT0);
  const std::vector<std::pair<const char*, const char*>> sagas = {
      {"keyed", ""}, {"rerun", "first"}, {"other", ""}};
  int64_t at = kT0 + 10;
  for (const auto& [id, rerun_of] : sagas) {
    AppendBatch batch = CreateBatch(id, kType, kInput, "", at++);
    batch.summary.business_key = std::string(id) == "other" ? "p-2" : "p-1";
    batch.summary.rerun_of = rerun_of;
    ASSERT_TRUE(this->store().Create(batch).ok());
  }
  ASSERT_TRUE(this->store()
                  .Append(AdvanceBatch("rerun", 1, 1, SagaStatus::kRunning))
                  .ok());
  absl::StatusOr<SagaSummary> rerun = this->store().LoadSummary("rerun");
  ASSERT_TRUE(rerun.ok()) << rerun.status();
  EXPECT_EQ(rerun->business_key, "p-1");
  EXPECT_EQ(rerun->rerun_of, "first");
  EXPECT_EQ(this->store().LoadSummary("first")->business_key, "");

  ListQuery by_key;
  by_key.business_key = "p-1";
  absl::StatusOr<ListPage> page = this->store().List(by_key);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Ids(page->sagas), (std::vector<std::string>{"rerun", "keyed"}));
  ListQuery reruns;
  reruns.rerun_of = "first";
  page = this->store().List(reruns);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Ids(page->sagas), (std::vector<std::string>{"rerun"}));
  reruns.business_key = "p-2";
  EXPECT_TRUE(this->store().List(reruns)->sagas.empty());
}

TYPED_TEST(SagaStoreTest, LoadOfAnUnknownSagaIsNotFound) {
  EXPECT_EQ(this->store().Load("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store().LoadSummary("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(SagaStoreTest, InputIsReturnedAsCanonicalJson) {
  ASSERT_TRUE(this->store()
                  .Create(CreateBatch("saga-1", kType,
                                      R"({ "b" : [1, 2],  "a" : "x" })"))
                  .ok());
  absl::StatusOr<SagaSummary> summary = this->store().LoadSummary("saga-1");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->input_json, R"({"a":"x","b":[1,2]})");
}

TYPED_TEST(SagaStoreTest, RepeatedIdempotencyKeyReturnsTheFirstSaga) {
  absl::StatusOr<CreateResult> first = this->store().Create(
      CreateBatch("saga-a", kType, R"({"a":1,"b":2})", "key"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->saga_id, "saga-a");
  EXPECT_TRUE(first->created);

  // Same type and the same input as JSON (key order, spacing differ).
  absl::StatusOr<CreateResult> again = this->store().Create(
      CreateBatch("saga-b", kType, R"({ "b": 2, "a": 1 })", "key"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->saga_id, "saga-a");
  EXPECT_FALSE(again->created);

  absl::StatusOr<CreateResult> other_input = this->store().Create(
      CreateBatch("saga-c", kType, R"({"a":1,"b":3})", "key"));
  EXPECT_EQ(other_input.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(other_input.status().message().find(
                "idempotency key 'key' was used for saga saga-a with a "
                "different input"),
            std::string::npos)
      << other_input.status();
  // The holder travels as data too, so the API can check who owns it.
  EXPECT_EQ(KeyHolder(other_input.status()), "saga-a");
  absl::StatusOr<CreateResult> other_type = this->store().Create(
      CreateBatch("saga-d", "other_type", R"({"a":1,"b":2})", "key"));
  EXPECT_EQ(other_type.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(KeyHolder(other_type.status()), "saga-a");
  EXPECT_EQ(KeyHolder(absl::AlreadyExistsError("saga saga-a")), std::nullopt);

  for (const char* refused : {"saga-b", "saga-c", "saga-d"}) {
    EXPECT_EQ(this->store().Load(refused).status().code(),
              absl::StatusCode::kNotFound)
        << refused;
    EXPECT_EQ(this->OutboxCount(refused), 0) << refused;
  }
  absl::StatusOr<SagaRecord> record = this->store().Load("saga-a");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->events.size(), 1u);
  EXPECT_EQ(this->OutboxCount("saga-a"), 1);
}

TYPED_TEST(SagaStoreTest, CreatingAnExistingSagaIdIsAlreadyExists) {
  ASSERT_TRUE(this->store().Create(CreateBatch("saga-1")).ok());
  EXPECT_EQ(this->store().Create(CreateBatch("saga-1")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(this->OutboxCount("saga-1"), 1);
}

TYPED_TEST(SagaStoreTest, MalformedBatchesAreInvalidArgument) {
  AppendBatch no_events = CreateBatch("saga-1");
  no_events.events.clear();
  EXPECT_EQ(this->store().Create(no_events).status().code(),
            absl::StatusCode::kInvalidArgument);
  AppendBatch bad_input = CreateBatch("saga-1", kType, "{not json");
  EXPECT_EQ(this->store().Create(bad_input).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(this->store().Create(CreateBatch("saga-1")).ok());
  AppendBatch gap = AdvanceBatch("saga-1", 1, 2, SagaStatus::kRunning);
  gap.events[1].seq = 4;
  EXPECT_EQ(this->store().Append(gap).code(),
            absl::StatusCode::kInvalidArgument);
  AppendBatch wrong_last = AdvanceBatch("saga-1", 1, 2, SagaStatus::kRunning);
  wrong_last.summary.last_seq = 2;
  EXPECT_EQ(this->store().Append(wrong_last).code(),
            absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(SagaStoreTest, StaleExpectedSeqIsFencedAndWritesNothing) {
  ASSERT_TRUE(this->store().Create(CreateBatch("saga-1")).ok());
  ASSERT_TRUE(this->store()
                  .Append(AdvanceBatch("saga-1", 1, 2, SagaStatus::kRunning))
                  .ok());

  // A zombie that still believes the saga is at seq 1.
  const absl::Status stale =
      this->store().Append(AdvanceBatch("saga-1", 1, 1, SagaStatus::kFailed));
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_NE(stale.message().find("fenced"), std::string::npos) << stale;
  const absl::Status ahead =
      this->store().Append(AdvanceBatch("saga-1", 7, 1, SagaStatus::kFailed));
  EXPECT_EQ(ahead.code(), absl::StatusCode::kAborted) << ahead;

  absl::StatusOr<SagaRecord> record = this->store().Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->events.size(), 3u);
  EXPECT_EQ(record->summary.last_seq, 3);
  EXPECT_EQ(record->summary.status, SagaStatus::kRunning);
  EXPECT_EQ(this->OutboxCount("saga-1"), 3);

  EXPECT_EQ(this->store()
                .Append(AdvanceBatch("missing", 1, 1, SagaStatus::kRunning))
                .code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(SagaStoreTest, AppendCommitsEventsSummaryAndOutboxTogether) {
  ASSERT_TRUE(this->store().Create(CreateBatch("saga-1")).ok());
  AppendBatch batch =
      AdvanceBatch("saga-1", 1, 3, SagaStatus::kCompensating, "notify");
  batch.outbox.pop_back();
  batch.summary.error = "declined";
  ASSERT_TRUE(this->store().Append(batch).ok());

  absl::StatusOr<SagaRecord> record = this->store().Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->events.size(), 4u);
  EXPECT_EQ(record->summary.last_seq, 4);
  EXPECT_EQ(record->summary.status, SagaStatus::kCompensating);
  EXPECT_EQ(record->summary.current_step, "notify");
  EXPECT_EQ(record->summary.error, "declined");
  EXPECT_EQ(record->summary.updated_ms, batch.summary.updated_ms);
  EXPECT_EQ(this->OutboxCount("saga-1"), 3);

  // A batch that cannot be written entirely (its outbox message is named
  // after an earlier event, not one of its own) leaves no event and no
  // summary change behind.
  AppendBatch clash = AdvanceBatch("saga-1", 4, 1, SagaStatus::kFailed);
  clash.outbox[0].message_id = "saga-1:2";
  clash.outbox[0].seq = 2;
  EXPECT_EQ(this->store().Append(clash).code(),
            absl::StatusCode::kInvalidArgument);
  // Nor two messages about one event (they would share an id).
  AppendBatch twice = AdvanceBatch("saga-1", 4, 1, SagaStatus::kFailed);
  twice.outbox.push_back(twice.outbox[0]);
  EXPECT_EQ(this->store().Append(twice).code(),
            absl::StatusCode::kInvalidArgument);
  record = this->store().Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->events.size(), 4u);
  EXPECT_EQ(record->summary.last_seq, 4);
  EXPECT_EQ(record->summary.status, SagaStatus::kCompensating);
  EXPECT_EQ(this->OutboxCount("saga-1"), 3);
}

// The group forms give each batch exactly what Create/Append would have
// given it alone, in order: refusals (fenced by seq or by lease, unknown
// saga, malformed, key reused with another input) stay with their batch,
// and two batches of one saga apply in the order given.
TYPED_TEST(SagaStoreTest, GroupFormsKeepEachBatchsOutcome) {
  AppendBatch bad_create = CreateBatch("c-bad");
  bad_create.events[0].seq = 7;
  const std::vector<AppendBatch> creates = {
      CreateBatch("c-1"), CreateBatch("c-2", kType, kInput, "k"), bad_create,
      CreateBatch("c-3", kType, kInput, "k"),
      CreateBatch("c-4", kType, R"({"other":1})", "k")};
  std::vector<const AppendBatch*> create_group;
  for (const AppendBatch& batch : creates) create_group.push_back(&batch);
  const std::vector<absl::StatusOr<CreateResult>> created =
      this->store().CreateGroup(create_group);
  ASSERT_EQ(created.size(), creates.size());
  ASSERT_TRUE(created[0].ok()) << created[0].status();
  EXPECT_TRUE(created[0]->created);
  ASSERT_TRUE(created[1].ok()) << created[1].status();
  EXPECT_TRUE(created[1]->created);
  EXPECT_EQ(created[2].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(created[3].ok()) << created[3].status();
  EXPECT_FALSE(created[3]->created);
  EXPECT_EQ(created[3]->saga_id, "c-2");
  EXPECT_EQ(created[4].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(this->store().Load("c-bad").status().code(),
            absl::StatusCode::kNotFound);

  AppendBatch bad_append = AdvanceBatch("c-2", 1, 1, SagaStatus::kRunning);
  bad_append.summary.last_seq = 9;
  const std::vector<AppendBatch> appends = {
      AdvanceBatch("c-1", 1, 1, SagaStatus::kRunning),
      AdvanceBatch("c-1", 2, 2, SagaStatus::kCompleted),
      AdvanceBatch("c-2", 4, 1, SagaStatus::kRunning),  // stale
      AdvanceBatch("ghost", 1, 1, SagaStatus::kRunning),
      bad_append,
      AdvanceBatchBy(kOwnerB, "c-2", 1)};  // not the lease holder
  std::vector<const AppendBatch*> append_group;
  for (const AppendBatch& batch : appends) append_group.push_back(&batch);
  const std::vector<absl::Status> appended =
      this->store().AppendGroup(append_group);
  ASSERT_EQ(appended.size(), appends.size());
  EXPECT_TRUE(appended[0].ok()) << appended[0];
  EXPECT_TRUE(appended[1].ok()) << appended[1];
  EXPECT_EQ(appended[2].code(), absl::StatusCode::kAborted) << appended[2];
  EXPECT_EQ(appended[3].code(), absl::StatusCode::kNotFound) << appended[3];
  EXPECT_EQ(appended[4].code(), absl::StatusCode::kInvalidArgument)
      << appended[4];
  EXPECT_EQ(appended[5].code(), absl::StatusCode::kAborted) << appended[5];
  EXPECT_NE(appended[5].message().find("leased to"), std::string::npos)
      << appended[5];

  absl::StatusOr<SagaRecord> c1 = this->store().Load("c-1");
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->summary.last_seq, 4);
  EXPECT_EQ(c1->events.size(), 4u);
  EXPECT_EQ(core::SagaStatusName(c1->summary.status),
            core::SagaStatusName(SagaStatus::kCompleted));
  absl::StatusOr<SagaRecord> c2 = this->store().Load("c-2");
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->summary.last_seq, 1);
  EXPECT_EQ(this->OutboxCount("c-1"), 4);
  EXPECT_EQ(this->OutboxCount("c-2"), 1);
}

TYPED_TEST(SagaStoreTest, ClaimTakesFreeLeasesInBatchesWithHistories) {
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("d-done", SagaStatus::kCompleted, 2));
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("r-run", SagaStatus::kRunning, 3));
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("f-fail", SagaStatus::kFailed, 1));
  ASSERT_NO_FATAL_FAILURE(
      this->MakeSaga("c-comp", SagaStatus::kCompensating, 2));
  ASSERT_NO_FATAL_FAILURE(
      this->MakeSaga("x-back", SagaStatus::kCompensated, 1));
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("a-new", SagaStatus::kRunning, 0));

  // A holds live leases on everything it created.
  absl::StatusOr<std::vector<SagaRecord>> none =
      this->store().Claim(kOwnerB, kLongTtl, 10, "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty()) << none->front().summary.saga_id;
  absl::StatusOr<int64_t> released = this->store().ReleaseLeases(kOwnerA);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(*released, 3);  // the unfinished ones

  std::vector<std::string> claimed;
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<std::vector<SagaRecord>> batch =
        this->store().Claim(kOwnerB, kLongTtl, 2, "");
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_LE(batch->size(), 2u);
    for (const SagaRecord& record : *batch) {
      claimed.push_back(record.summary.saga_id);
      EXPECT_EQ(record.summary.lease_owner, kOwnerB);
      EXPECT_GT(record.summary.lease_expires_ms, 0);
      absl::StatusOr<SagaRecord> loaded =
          this->store().Load(record.summary.saga_id);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ExpectSummaryEq(loaded->summary, record.summary);
      EXPECT_EQ(loaded->summary.lease_owner, kOwnerB);
      EXPECT_EQ(loaded->events, record.events) << claimed.back();
      EXPECT_EQ(static_cast<int64_t>(record.events.size()),
                record.summary.last_seq);
    }
  }
  EXPECT_EQ(claimed, (std::vector<std::string>{"a-new", "c-comp", "r-run"}));
}

// A claim reads a saga from its last snapshot on: the snapshot and the
// events after it, or the whole history when it has none. The store keeps
// the snapshot's text as it is; every other read has the whole history.
TYPED_TEST(SagaStoreTest, ClaimStartsFromTheLastSnapshotWithTheEventsAfterIt) {
  const std::string first = R"({"n":1})";
  const std::string second = "{\"note\":\"caf\u00e9 \\\"x\\\"\\n\"}";
  const std::string resting = R"({"n":3})";
  SagaStore& store = this->store();

  AppendBatch created = CreateBatch("s-snap");
  created.snapshot = first;
  ASSERT_TRUE(store.Create(created).ok());
  ASSERT_TRUE(
      store.Append(AdvanceBatch("s-snap", 1, 2, SagaStatus::kRunning)).ok());
  AppendBatch snapped = AdvanceBatch("s-snap", 3, 1, SagaStatus::kRunning);
  snapped.snapshot = second;
  ASSERT_TRUE(store.Append(snapped).ok());
  ASSERT_TRUE(
      store.Append(AdvanceBatch("s-snap", 4, 2, SagaStatus::kRunning)).ok());

  ASSERT_TRUE(store.Create(CreateBatch("s-none")).ok());
  ASSERT_TRUE(
      store.Append(AdvanceBatch("s-none", 1, 2, SagaStatus::kRunning)).ok());

  ASSERT_TRUE(store.Create(CreateBatch("s-rest")).ok());
  AppendBatch rests = AdvanceBatch("s-rest", 1, 1, SagaStatus::kCompensating);
  rests.snapshot = resting;
  ASSERT_TRUE(store.Append(rests).ok());

  ASSERT_TRUE(store.ReleaseLeases(kOwnerA).ok());
  absl::StatusOr<std::vector<SagaRecord>> claimed =
      store.Claim(kOwnerB, kLongTtl, 10, "");
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(Ids(*claimed),
            (std::vector<std::string>{"s-none", "s-rest", "s-snap"}));
  auto seqs = [](const SagaRecord& record) {
    std::vector<int64_t> seqs;
    for (const core::Event& event : record.events) seqs.push_back(event.seq);
    return seqs;
  };
  const SagaRecord& none = (*claimed)[0];
  EXPECT_EQ(none.snapshot, "");
  EXPECT_EQ(none.snapshot_seq, 0);
  EXPECT_EQ(seqs(none), (std::vector<int64_t>{1, 2, 3}));
  const SagaRecord& rest = (*claimed)[1];
  EXPECT_EQ(rest.snapshot, resting);
  EXPECT_EQ(rest.snapshot_seq, 2);
  EXPECT_TRUE(rest.events.empty());
  const SagaRecord& snap = (*claimed)[2];
  EXPECT_EQ(snap.snapshot, second);
  EXPECT_EQ(snap.snapshot_seq, 4);
  EXPECT_EQ(seqs(snap), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(snap.summary.last_seq, 6);

  absl::StatusOr<SagaRecord> loaded = store.Load("s-snap");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->snapshot, "");
  EXPECT_EQ(seqs(*loaded), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  absl::StatusOr<SagaRecord> taken =
      store.ClaimSaga("s-snap", kOwnerB, kLongTtl);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->snapshot, "");
  EXPECT_EQ(taken->events.size(), 6u);
}

TYPED_TEST(SagaStoreTest, ClaimAfterAnIdTakesOnlyTheSagasPastIt) {
  for (const char* id : {"a-1", "b-2", "c-3"}) {
    ASSERT_NO_FATAL_FAILURE(this->MakeSaga(id, SagaStatus::kRunning, 1));
  }
  ASSERT_TRUE(this->store().ReleaseLeases(kOwnerA).ok());

  absl::StatusOr<std::vector<SagaRecord>> past_a =
      this->store().Claim(kOwnerB, kLongTtl, 10, "a-1");
  ASSERT_TRUE(past_a.ok()) << past_a.status();
  EXPECT_EQ(Ids(*past_a), (std::vector<std::string>{"b-2", "c-3"}));
  absl::StatusOr<std::vector<SagaRecord>> past_c =
      this->store().Claim(kOwnerB, kLongTtl, 10, "c-3");
  ASSERT_TRUE(past_c.ok()) << past_c.status();
  EXPECT_TRUE(past_c->empty());
  absl::StatusOr<std::vector<SagaRecord>> from_start =
      this->store().Claim(kOwnerB, kLongTtl, 10, "");
  ASSERT_TRUE(from_start.ok()) << from_start.status();
  EXPECT_EQ(Ids(*from_start), std::vector<std::string>{"a-1"});
}

TYPED_TEST(SagaStoreTest, ExpiredLeaseMovesAndFencesTheOldHolder) {
  AppendBatch first = CreateBatch("saga-1");
  first.lease_ttl = kShortTtl;
  ASSERT_TRUE(this->store().Create(first).ok());
  absl::StatusOr<SagaSummary> created = this->store().LoadSummary("saga-1");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->lease_owner, kOwnerA);

  std::vector<SagaRecord> claimed;
  ASSERT_TRUE(PollUntil(
      [&] {
        absl::StatusOr<std::vector<SagaRecord>> batch =
            this->store().Claim(kOwnerB, kLongTtl, 10, "");
        if (batch.ok()) claimed = *std::move(batch);
        return !claimed.empty();
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(Ids(claimed), std::vector<std::string>{"saga-1"});

  // A, paused past its expiry, wakes up and writes at the right seq.
  const absl::Status zombie =
      this->store().Append(AdvanceBatchBy(kOwnerA, "saga-1", 1));
  EXPECT_EQ(zombie.code(), absl::StatusCode::kAborted) << zombie;
  EXPECT_NE(zombie.message().find("leased to 'orch-b'"), std::string::npos)
      << zombie;
  const absl::Status holder =
      this->store().Append(AdvanceBatchBy(kOwnerB, "saga-1", 1));
  EXPECT_TRUE(holder.ok()) << holder;
  absl::StatusOr<SagaRecord> record = this->store().Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->summary.last_seq, 2);
  EXPECT_EQ(record->summary.lease_owner, kOwnerB);
  EXPECT_EQ(this->OutboxCount("saga-1"), 2);
}

TYPED_TEST(SagaStoreTest, RenewAndAppendKeepLeasesReleaseFreesThem) {
  AppendBatch renewed = CreateBatch("renewed");
  renewed.lease_ttl = kShortTtl;
  ASSERT_TRUE(this->store().Create(renewed).ok());
  absl::StatusOr<int64_t> count = this->store().RenewLeases(kOwnerA, kLongTtl);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1);

  AppendBatch appended = CreateBatch("appended");
  appended.lease_ttl = kShortTtl;
  ASSERT_TRUE(this->store().Create(appended).ok());
  ASSERT_TRUE(
      this->store().Append(AdvanceBatchBy(kOwnerA, "appended", 1)).ok());

  absl::StatusOr<std::vector<SagaRecord>> none =
      this->store().Claim(kOwnerB, kLongTtl, 10, "");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  count = this->store().ReleaseLeases(kOwnerA);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 2);
  const absl::Status released = this->store().Append(
      AdvanceBatchBy(kOwnerA, "appended", 2, SagaStatus::kCompleted));
  EXPECT_EQ(released.code(), absl::StatusCode::kAborted) << released;
  absl::StatusOr<std::vector<SagaRecord>> all =
      this->store().Claim(kOwnerB, kLongTtl, 10, "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{"appended", "renewed"}));
  count = this->store().RenewLeases(kOwnerA, kLongTtl);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 0);

  ASSERT_TRUE(this->store().ReleaseLease("renewed", kOwnerA).ok());
  ASSERT_TRUE(this->store().ReleaseLease("renewed", kOwnerB).ok());
  absl::StatusOr<SagaSummary> summary = this->store().LoadSummary("renewed");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->lease_owner, "");
  summary = this->store().LoadSummary("appended");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->lease_owner, kOwnerB);
}

TYPED_TEST(SagaStoreTest, ClaimSagaRespectsLiveLeasesOfUnfinishedSagas) {
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("running", SagaStatus::kRunning, 1));
  ASSERT_NO_FATAL_FAILURE(this->MakeSaga("failed", SagaStatus::kFailed, 1));

  absl::StatusOr<SagaRecord> held =
      this->store().ClaimSaga("running", kOwnerB, kLongTtl);
  EXPECT_EQ(held.status().code(), absl::StatusCode::kFailedPrecondition)
      << held.status();
  EXPECT_NE(held.status().message().find("'orch-a'"), std::string::npos)
      << held.status();
  absl::StatusOr<SagaRecord> own =
      this->store().ClaimSaga("running", kOwnerA, kLongTtl);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->events.size(), 2u);

  // Nobody drives an ended saga: an operator's repair may take it anywhere.
  absl::StatusOr<SagaRecord> ended =
      this->store().ClaimSaga("failed", kOwnerB, kLongTtl);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->summary.lease_owner, kOwnerB);
  EXPECT_EQ(ended->summary.status, SagaStatus::kFailed);
  EXPECT_TRUE(this->store()
                  .Append(AdvanceBatchBy(kOwnerB, "failed", 2,
                                         SagaStatus::kCompensating))
                  .ok());

  EXPECT_EQ(this->store().ClaimSaga("nope", kOwnerB, kLongTtl).status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(SagaStoreTest, LeasesNeedAnOwnerAndAPositiveTtl) {
  EXPECT_EQ(this->store().Claim("", kLongTtl, 1, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      this->store().Claim(kOwnerA, milliseconds(0), 1, "").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store().Claim(kOwnerA, kLongTtl, 0, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      this->store().RenewLeases(kOwnerA, milliseconds(-5)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store().ReleaseLeases("").status().code(),
            absl::StatusCode::kInvalidArgument);
  AppendBatch anonymous = CreateBatch("saga-1");
  anonymous.writer.clear();
  EXPECT_EQ(this->store().Create(anonymous).status().code(),
            absl::StatusCode::kInvalidArgument);
  AppendBatch no_ttl = CreateBatch("saga-1");
  no_ttl.lease_ttl = milliseconds(0);
  EXPECT_EQ(this->store().Create(no_ttl).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store().Load("saga-1").status().code(),
            absl::StatusCode::kNotFound);
}

TYPED_TEST(SagaStoreTest, ListPagesNewestFirstWithFilters) {
  struct Row {
    std::string id;
    int64_t created_ms;
    std::string type;
    SagaStatus status;
  };
  std::vector<Row> rows;
  for (int i = 0; i < 13; ++i) {
    // Groups of three share a creation time, so the id breaks ties.
    rows.push_back(
        {"s" + std::to_string(100 + i), kT0 + (i / 3) * 1000,
         i % 2 == 0 ? "alpha" : "beta",
         i % 3 == 0 ? SagaStatus::kCompleted : SagaStatus::kRunning});
  }
  for (const Row& row : rows) {
    ASSERT_NO_FATAL_FAILURE(
        this->MakeSaga(row.id, row.status, 1, row.created_ms, row.type));
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.created_ms, a.id) > std::tie(b.created_ms, b.id);
  });

  // Pages through `query` and checks the result against the rows `keep`
  // selects, in order, without gaps or repeats.
  auto check = [&](ListQuery query, auto keep) {
    std::vector<std::string> want;
    for (const Row& row : rows) {
      if (keep(row)) want.push_back(row.id);
    }
    std::vector<std::string> got;
    for (int page_number = 0; page_number < 20; ++page_number) {
      absl::StatusOr<ListPage> page = this->store().List(query);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_LE(page->sagas.size(), static_cast<size_t>(query.limit));
      const std::vector<std::string> ids = Ids(page->sagas);
      got.insert(got.end(), ids.begin(), ids.end());
      if (!page->more) break;
      ASSERT_EQ(page->sagas.size(), static_cast<size_t>(query.limit));
      query.after = {page->sagas.back().created_ms, page->sagas.back().saga_id};
    }
    EXPECT_EQ(got, want);
  };

  ListQuery all;
  all.limit = 4;
  check(all, [](const Row&) { return true; });
  all.limit = 13;
  check(all, [](const Row&) { return true; });
  all.limit = 100;
  check(all, [](const Row&) { return true; });

  ListQuery alpha;
  alpha.saga_type = "alpha";
  alpha.limit = 2;
  check(alpha, [](const Row& row) { return row.type == "alpha"; });

  ListQuery completed;
  completed.status = SagaStatus::kCompleted;
  completed.limit = 3;
  check(completed,
        [](const Row& row) { return row.status == SagaStatus::kCompleted; });

  ListQuery beta_running;
  beta_running.saga_type = "beta";
  beta_running.status = SagaStatus::kRunning;
  beta_running.limit = 1;
  check(beta_running, [](const Row& row) {
    return row.type == "beta" && row.status == SagaStatus::kRunning;
  });

  ListQuery exact;
  exact.limit = 13;
  absl::StatusOr<ListPage> page = this->store().List(exact);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_FALSE(page->more);
  exact.limit = 12;
  page = this->store().List(exact);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->more);

  ListQuery zero;
  zero.limit = 0;
  EXPECT_EQ(this->store().List(zero).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(SagaStoreTest, DefinitionsAreImmutablePerVersion) {
  const std::string v1 = "name: booking\nversion: 1\n";
  const std::string v2 = "name: booking\nversion: 2\n";
  ASSERT_TRUE(this->store().PutDefinition("booking", 1, v1).ok());
  EXPECT_TRUE(this->store().PutDefinition("booking", 1, v1).ok());
  EXPECT_EQ(this->store().PutDefinition("booking", 1, v2).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(this->store().PutDefinition("booking", 2, v2).ok());

  absl::StatusOr<std::string> got = this->store().GetDefinition("booking", 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, v1);
  got = this->store().GetDefinition("booking", 2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, v2);
  EXPECT_EQ(this->store().GetDefinition("booking", 3).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store().GetDefinition("other", 1).status().code(),
            absl::StatusCode::kNotFound);
}

// PostgreSQL only: the migrator, concurrency and reconnection.
class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDatabase>("pgstore");
    const absl::Status migrated =
        ApplyMigrations(db_->dsn(), SourcePath("migrations/orchestrator"));
    ASSERT_TRUE(migrated.ok()) << migrated;
  }

  std::unique_ptr<PgStore> OpenStore(int pool_size,
                                     GroupCommitOptions options = {}) {
    absl::StatusOr<std::unique_ptr<PgStore>> store =
        PgStore::Open(db_->dsn(), pool_size, std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  int64_t Count(const std::string& sql) { return CountRows(db_->dsn(), sql); }
  int64_t Count(const std::string& sql, const std::string& param) {
    return CountRows(db_->dsn(), sql, param);
  }

  void Admin(const std::string& sql) {
    pqxx::connection admin(AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec(sql);
  }

  // Ends every session of the test database and waits until they are gone.
  void TerminateSessions() {
    {
      pqxx::connection admin(AdminDsn());
      pqxx::nontransaction tx(admin);
      const pqxx::result killed = tx.exec_params(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE datname = $1 AND pid <> pg_backend_pid()",
          db_->name());
      ASSERT_GE(killed.size(), 1u);
    }
    ASSERT_TRUE(PollUntil(
        [&] {
          pqxx::connection admin(AdminDsn());
          pqxx::nontransaction tx(admin);
          return tx.exec_params1(
                       "SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = $1",
                       db_->name())[0]
                     .as<int64_t>() == 0;
        },
        std::chrono::seconds(10)));
  }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(PgStoreTest, UnreachableDatabaseIsUnavailable) {
  const std::string dsn =
      "host=127.0.0.1 port=" + std::to_string(saga::testing::FreePort()) +
      " user=saga dbname=postgres connect_timeout=5";
  EXPECT_EQ(ApplyMigrations(dsn, SourcePath("migrations/orchestrator")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(PgStore::Open(dsn, 2).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(PgStoreTest, ConcurrentCreatesWithOneKeyMakeOneSaga) {
  constexpr int kThreads = 8;
  std::unique_ptr<PgStore> store = OpenStore(kThreads);
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 5; ++round) {
    const std::string key = "key-" + std::to_string(round);
    std::vector<absl::StatusOr<CreateResult>> results(
        kThreads, absl::UnknownError("not run"));
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        const std::string id = key + "-saga-" + std::to_string(i);
        const AppendBatch batch = CreateBatch(id, kType, kInput, key);
        start.arrive_and_wait();
        results[i] = store->Create(batch);
      });
    }
    for (std::thread& thread : threads) thread.join();

    int created = 0;
    std::string winner;
    for (const absl::StatusOr<CreateResult>& result : results) {
      ASSERT_TRUE(result.ok()) << result.status();
      if (result->created) {
        ++created;
        winner = result->saga_id;
      }
    }
    ASSERT_EQ(created, 1);
    for (const absl::StatusOr<CreateResult>& result : results) {
      EXPECT_EQ(result->saga_id, winner);
    }
    EXPECT_EQ(
        Count("SELECT count(*) FROM sagas WHERE idempotency_key = $1", key), 1);
    EXPECT_EQ(
        Count("SELECT count(*) FROM outbox WHERE saga_id LIKE $1", key + "-%"),
        1);
  }
}

// A group is committed together, and each batch keeps its own outcome: a
// fenced batch and a batch for an unknown saga are refused without refusing
// the others, and two batches of one saga in the same group apply in the
// order they were given.
TEST_F(PgStoreTest, AGroupKeepsEachBatchsOutcome) {
  std::mutex groups_mu;
  std::vector<size_t> groups;
  GroupCommitOptions options;
  options.observer = [&](size_t batches, std::chrono::duration<double>) {
    std::lock_guard<std::mutex> lock(groups_mu);
    groups.push_back(batches);
  };
  std::unique_ptr<PgStore> store = OpenStore(4, std::move(options));
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->Create(CreateBatch("g-" + std::to_string(i))).ok());
  }
  groups.clear();

  const std::vector<AppendBatch> writes = {
      AdvanceBatch("g-0", 1, 1, SagaStatus::kRunning),
      AdvanceBatch("g-1", 1, 2, SagaStatus::kRunning),
      AdvanceBatch("g-2", 5, 1, SagaStatus::kRunning),  // stale
      AdvanceBatch("ghost", 1, 1, SagaStatus::kRunning),
      AdvanceBatch("g-3", 1, 1, SagaStatus::kRunning),
      AdvanceBatch("g-3", 2, 1, SagaStatus::kCompleted),
      AdvanceBatch("g-4", 1, 1, SagaStatus::kCompleted)};
  std::vector<const AppendBatch*> group;
  for (const AppendBatch& batch : writes) group.push_back(&batch);
  const std::vector<absl::Status> statuses = store->AppendGroup(group);

  EXPECT_EQ(groups, (std::vector<size_t>{writes.size()}));
  ASSERT_EQ(statuses.size(), writes.size());
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kAborted) << statuses[2];
  EXPECT_EQ(statuses[3].code(), absl::StatusCode::kNotFound) << statuses[3];
  EXPECT_TRUE(statuses[4].ok()) << statuses[4];
  EXPECT_TRUE(statuses[5].ok()) << statuses[5];
  EXPECT_TRUE(statuses[6].ok()) << statuses[6];

  const std::vector<std::pair<std::string, int64_t>> last_seqs = {
      {"g-0", 2}, {"g-1", 3}, {"g-2", 1}, {"g-3", 3}, {"g-4", 2}};
  for (const auto& [saga_id, last_seq] : last_seqs) {
    absl::StatusOr<SagaRecord> record = store->Load(saga_id);
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->summary.last_seq, last_seq) << saga_id;
    EXPECT_EQ(static_cast<int64_t>(record->events.size()), last_seq) << saga_id;
    EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE saga_id = $1", saga_id),
              last_seq)
        << saga_id;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM saga_events WHERE saga_id = 'ghost'"),
            0);
}

// A group is one transaction, so one durable commit, however many batches
// it carries: every row it wrote has the same creating transaction (xmin).
TEST_F(PgStoreTest, AGroupIsOneTransaction) {
  std::unique_ptr<PgStore> store = OpenStore(2);
  ASSERT_NE(store, nullptr);
  std::vector<AppendBatch> creates;
  for (int i = 0; i < 20; ++i) {
    creates.push_back(CreateBatch("x-" + std::to_string(i)));
  }
  std::vector<const AppendBatch*> group;
  for (const AppendBatch& batch : creates) group.push_back(&batch);
  for (const auto& result : store->CreateGroup(group)) {
    ASSERT_TRUE(result.ok()) << result.status();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM sagas"), 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT xmin::text) FROM ("
                  " SELECT xmin FROM sagas UNION ALL"
                  " SELECT xmin FROM saga_events UNION ALL"
                  " SELECT xmin FROM outbox) AS rows"),
            1);

  std::vector<AppendBatch> appends;
  for (int i = 0; i < 20; ++i) {
    appends.push_back(
        AdvanceBatch("x-" + std::to_string(i), 1, 2, SagaStatus::kRunning));
  }
  group.clear();
  for (const AppendBatch& batch : appends) group.push_back(&batch);
  for (const absl::Status& status : store->AppendGroup(group)) {
    ASSERT_TRUE(status.ok()) << status;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM saga_events WHERE seq > 1"), 40);
  EXPECT_EQ(Count("SELECT count(DISTINCT xmin::text) FROM ("
                  " SELECT xmin FROM sagas UNION ALL"
                  " SELECT xmin FROM saga_events WHERE seq > 1 UNION ALL"
                  " SELECT xmin FROM outbox WHERE message_id NOT LIKE '%:1')"
                  " AS rows"),
            1);
}

// Creates in one group commit together; a reused key inside the group
// resolves like one across groups, and a key held by an uncommitted
// transaction is waited for.
TEST_F(PgStoreTest, GroupedCreatesResolveKeysInsideTheGroup) {
  std::unique_ptr<PgStore> store = OpenStore(4);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(CreateBatch("c-0")).ok());
  pqxx::connection blocker_conn(db_->dsn());
  pqxx::work blocker(blocker_conn);
  // The group waits on this uncommitted key.
  blocker.exec(
      "INSERT INTO sagas (saga_id, saga_type, definition_version, status, "
      "input, idempotency_key, last_seq, created_at, updated_at) VALUES "
      "('blocker', 't', 1, 'RUNNING', '{}', 'k-blocked', 0, now(), now())");

  const std::vector<AppendBatch> writes = {
      CreateBatch("c-1", kType, kInput, "k-blocked"),
      CreateBatch("c-2", kType, kInput, "k-shared"),
      CreateBatch("c-3", kType, kInput, "k-shared"),
      CreateBatch("c-4", kType, R"({"other":1})", "k-shared"),
      CreateBatch("c-5")};
  std::vector<const AppendBatch*> group;
  for (const AppendBatch& batch : writes) group.push_back(&batch);
  std::vector<absl::StatusOr<CreateResult>> results;
  std::thread creating([&] { results = store->CreateGroup(group); });
  ASSERT_TRUE(PollUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND wait_event_type = 'Lock'") > 0;
      },
      std::chrono::seconds(10)));
  blocker.abort();
  creating.join();

  ASSERT_EQ(results.size(), writes.size());
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_TRUE(results[0]->created);
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_TRUE(results[1]->created);
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_FALSE(results[2]->created);
  EXPECT_EQ(results[2]->saga_id, "c-2");
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kAlreadyExists)
      << results[3].status();
  ASSERT_TRUE(results[4].ok()) << results[4].status();
  EXPECT_TRUE(results[4]->created);
  EXPECT_EQ(Count("SELECT count(*) FROM sagas"), 4);  // c-0, c-1, c-2, c-5
  EXPECT_EQ(Count("SELECT count(*) FROM saga_events"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox"), 4);
}

// Every event names the instance that wrote it, so that "one driver at a
// time" can be checked from the database.
TEST_F(PgStoreTest, EventsRecordTheirWriter) {
  std::unique_ptr<PgStore> store = OpenStore(2);
  ASSERT_NE(store, nullptr);
  AppendBatch first = CreateBatch("saga-1");
  first.lease_ttl = kShortTtl;
  ASSERT_TRUE(store->Create(first).ok());
  ASSERT_TRUE(store->Append(AdvanceBatchBy(kOwnerA, "saga-1", 1)).ok());
  ASSERT_TRUE(store->ReleaseLeases(kOwnerA).ok());
  absl::StatusOr<std::vector<SagaRecord>> claimed =
      store->Claim(kOwnerB, kLongTtl, 1, "");
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_TRUE(store->Append(AdvanceBatchBy(kOwnerB, "saga-1", 2)).ok());

  pqxx::connection conn(db_->dsn());
  pqxx::nontransaction tx(conn);
  std::vector<std::string> writers;
  for (const pqxx::row& row :
       tx.exec("SELECT written_by FROM saga_events WHERE saga_id = 'saga-1' "
               "ORDER BY seq")) {
    writers.push_back(row[0].as<std::string>());
  }
  EXPECT_EQ(writers, (std::vector<std::string>{kOwnerA, kOwnerA, kOwnerB}));
}

// Instances claiming at the same time split the free sagas between them:
// every saga goes to exactly one of them.
TEST_F(PgStoreTest, ConcurrentClaimersNeverShareASaga) {
  constexpr int kSagas = 60;
  constexpr int kClaimers = 4;
  std::unique_ptr<PgStore> store = OpenStore(kClaimers + 1);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < kSagas; ++i) {
    ASSERT_TRUE(
        store->Create(CreateBatch("s-" + std::to_string(100 + i))).ok());
  }
  ASSERT_TRUE(store->ReleaseLeases(kOwnerA).ok());

  std::vector<std::vector<std::string>> claimed(kClaimers);
  std::vector<absl::Status> errors(kClaimers);
  std::latch start(kClaimers);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClaimers; ++c) {
    threads.emplace_back([&, c] {
      const std::string owner = "claimer-" + std::to_string(c);
      start.arrive_and_wait();
      while (true) {
        absl::StatusOr<std::vector<SagaRecord>> batch =
            store->Claim(owner, kLongTtl, 3, "");
        if (!batch.ok()) {
          errors[c] = batch.status();
          return;
        }
        if (batch->empty()) return;
        for (const SagaRecord& record : *batch) {
          claimed[c].push_back(record.summary.saga_id);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<std::string> all;
  for (int c = 0; c < kClaimers; ++c) {
    EXPECT_TRUE(errors[c].ok()) << errors[c];
    all.insert(all.end(), claimed[c].begin(), claimed[c].end());
    EXPECT_EQ(Count("SELECT count(*) FROM sagas WHERE lease_owner = $1",
                    "claimer-" + std::to_string(c)),
              static_cast<int64_t>(claimed[c].size()));
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end())
      << "a saga was claimed twice";
  EXPECT_EQ(all.size(), static_cast<size_t>(kSagas));
}

// Open connects a few sessions at once (a restart's first resumed step
// waits for them) and the rest of the pool as the load needs them.
TEST_F(PgStoreTest, OpensAFewSessionsAndTheRestWhenNeeded) {
  std::unique_ptr<PgStore> store = OpenStore(8);
  ASSERT_NE(store, nullptr);
  const std::string others =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = "
      "current_database() AND pid <> pg_backend_pid()";
  EXPECT_EQ(Count(others), 3);

  // Six appends at once, each holding a session while it waits for a lock.
  ASSERT_TRUE(store->Create(CreateBatch("saga-1")).ok());
  pqxx::connection blocker_session(db_->dsn());
  pqxx::work blocker(blocker_session);
  blocker.exec("SELECT 1 FROM sagas WHERE saga_id = 'saga-1' FOR UPDATE");
  std::vector<std::thread> appending;
  for (int i = 0; i < 6; ++i) {
    appending.emplace_back([&] {
      (void)store->Append(AdvanceBatch("saga-1", 1, 1, SagaStatus::kCompleted));
    });
  }
  EXPECT_TRUE(PollUntil([&] { return Count(others) == 1 + 6; },
                        std::chrono::seconds(10)));
  blocker.abort();
  for (std::thread& thread : appending) thread.join();
}

TEST_F(PgStoreTest, RecoversAfterItsConnectionsAreKilled) {
  std::unique_ptr<PgStore> store = OpenStore(2);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(CreateBatch("saga-1")).ok());
  ASSERT_NO_FATAL_FAILURE(TerminateSessions());

  // The first calls may meet a dead connection; they fail cleanly.
  absl::StatusOr<SagaSummary> first = store->LoadSummary("saga-1");
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable)
        << first.status();
  }
  ASSERT_TRUE(PollUntil([&] { return store->LoadSummary("saga-1").ok(); },
                        std::chrono::seconds(10)));
  absl::Status appended = absl::UnknownError("not run");
  ASSERT_TRUE(PollUntil(
      [&] {
        appended =
            store->Append(AdvanceBatch("saga-1", 1, 1, SagaStatus::kCompleted));
        return appended.code() != absl::StatusCode::kUnavailable;
      },
      std::chrono::seconds(10)));
  EXPECT_TRUE(appended.ok()) << appended;
  absl::StatusOr<SagaRecord> record = store->Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->summary.status, SagaStatus::kCompleted);
  EXPECT_EQ(record->events.size(), 2u);
}

// A session on a server that does not accept writes (a standby, or a
// primary demoted under it; here a database whose sessions start read-only)
// is dropped and the write answered UNAVAILABLE, so that a later call
// reconnects, and with a multi-host DSN finds the primary. Kept, the
// session refused every write until it broke.
TEST_F(PgStoreTest, DropsASessionThatLandedOnAReadOnlyServer) {
  std::unique_ptr<PgStore> store = OpenStore(1);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(CreateBatch("saga-1")).ok());
  const std::string database = "\"" + db_->name() + "\"";
  Admin("ALTER DATABASE " + database +
        " SET default_transaction_read_only = on");
  ASSERT_NO_FATAL_FAILURE(TerminateSessions());

  auto complete = [&] {
    return store->Append(AdvanceBatch("saga-1", 1, 1, SagaStatus::kCompleted));
  };
  absl::Status refused;
  ASSERT_TRUE(PollUntil(
      [&] {
        refused = complete();
        return refused.message().find("read-only") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << refused;
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;

  // The server accepts writes again: sessions opened from now on may write,
  // the one that was refused may not.
  Admin("ALTER DATABASE " + database + " RESET default_transaction_read_only");
  absl::Status appended;
  EXPECT_TRUE(PollUntil(
      [&] {
        appended = complete();
        return appended.ok();
      },
      std::chrono::seconds(10)))
      << appended;
  absl::StatusOr<SagaRecord> record = store->Load("saga-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->summary.status, SagaStatus::kCompleted);
}

}  // namespace
}  // namespace saga::store
