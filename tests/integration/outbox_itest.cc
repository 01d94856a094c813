// End-to-end tests of the outbox: WatchEvents consumers that stop, resume
// and outlive an orchestrator restart; a transaction that commits out of
// position order; the dispatcher delivering to a real webhook through
// failures and a restart; sagactl events. Every check compares with the
// outbox table itself, read in stream order.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/webhook_server.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kBooking[] = "appointment_booking";
constexpr milliseconds kSagaTimeout{60000};
constexpr milliseconds kWait{60000};

std::string Input(int n, const std::string& date = "") {
  static const std::vector<std::string> kPatients = {"p-1001", "p-1002",
                                                     "p-1004"};
  return BookingInput(
      kPatients[n % kPatients.size()],
      date.empty() ? "2027-01-" + std::to_string(10 + n % 18) : date,
      "cardiology");
}

// What a WatchEvents call returned before it ended or was cancelled.
struct Consumed {
  std::vector<v1::OutboxEvent> events;
  grpc::Status status;
};

// Reads WatchEvents from `from` until `enough(events)` holds (then cancels
// the call), the stream ends, or `deadline` passes.
Consumed Consume(v1::SagaOrchestrator::Stub& stub, int64_t from, bool follow,
                 const std::function<bool(const Consumed&)>& enough,
                 milliseconds deadline = kWait) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  v1::WatchEventsRequest request;
  request.set_from_position(from);
  request.set_follow(follow);
  auto reader = stub.WatchEvents(&context, request);
  Consumed consumed;
  v1::OutboxEvent event;
  while (!enough(consumed) && reader->Read(&event)) {
    consumed.events.push_back(event);
  }
  if (enough(consumed)) context.TryCancel();
  while (reader->Read(&event)) {
  }
  consumed.status = reader->Finish();
  return consumed;
}

std::vector<int64_t> Positions(const std::vector<v1::OutboxEvent>& events) {
  std::vector<int64_t> positions;
  for (const auto& event : events) positions.push_back(event.position());
  return positions;
}

class OutboxTest : public ::testing::Test {
 protected:
  void StartCluster(ClusterOptions options = {}) {
    cluster_ = std::make_unique<TestCluster>(std::move(options));
    ASSERT_TRUE(cluster_->Start());
  }

  pqxx::connection& Db() {
    if (!db_) {
      db_ = std::make_unique<pqxx::connection>(
          cluster_->database("orchestrator").dsn());
    }
    return *db_;
  }

  // Positions in stream order, as the table has them.
  std::vector<int64_t> TablePositions() {
    pqxx::nontransaction tx(Db());
    std::vector<int64_t> positions;
    for (const auto& row :
         tx.exec("SELECT position FROM outbox ORDER BY txid, position")) {
      positions.push_back(row[0].as<int64_t>());
    }
    return positions;
  }

  int64_t Count(const std::string& where) {
    pqxx::nontransaction tx(Db());
    return tx.exec1("SELECT count(*) FROM outbox WHERE " + where)[0]
        .as<int64_t>();
  }

  // Starts `n` bookings and waits until each has ended.
  void RunSagas(int n, int first = 0) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back(cluster_->StartSaga(kBooking, Input(first + i)));
    }
    for (const auto& id : ids) {
      auto saga = cluster_->AwaitTerminal(id, kSagaTimeout);
      ASSERT_TRUE(IsTerminal(saga.status())) << DescribeSaga(saga);
    }
  }

  // Checks a consumer's whole history against the table: every message
  // once, in stream order.
  void ExpectMatchesTable(const std::vector<v1::OutboxEvent>& events) {
    const std::vector<int64_t> seen = Positions(events);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), seen.size())
        << "a message was streamed twice";
    EXPECT_EQ(seen, TablePositions());
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<pqxx::connection> db_;
};

TEST_F(OutboxTest, AConsumerResumesAcrossStopsAndARestartWithoutGapOrRepeat) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(RunSagas(3));

  // Reads part of what is there, then goes away.
  Consumed first =
      Consume(cluster_->Stub(), 0, /*follow=*/true,
              [](const Consumed& c) { return c.events.size() >= 7; });
  ASSERT_EQ(first.events.size(), 7u) << first.status.error_message();
  std::vector<v1::OutboxEvent> history = first.events;

  // More sagas while it is away; it comes back and catches up.
  ASSERT_NO_FATAL_FAILURE(RunSagas(3, 3));
  const size_t total = TablePositions().size();
  Consumed second = Consume(cluster_->Stub(), history.back().position(),
                            /*follow=*/true, [&](const Consumed& c) {
                              return history.size() + c.events.size() >= total;
                            });
  history.insert(history.end(), second.events.begin(), second.events.end());
  ASSERT_NO_FATAL_FAILURE(ExpectMatchesTable(history));

  // Following live when the orchestrator dies mid-saga.
  auto follower =
      std::async(std::launch::async, [&, from = history.back().position()] {
        return Consume(cluster_->Stub(), from, /*follow=*/true,
                       [](const Consumed&) { return false; });
      });
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(cluster_->StartSaga(kBooking, Input(6 + i)));
  cluster_->KillOrchestrator(SIGKILL);
  Consumed cut = follower.get();
  EXPECT_FALSE(cut.status.ok()) << "the stream outlived its orchestrator";
  history.insert(history.end(), cut.events.begin(), cut.events.end());

  // Positions survive the restart: resume where the follower stopped.
  ASSERT_TRUE(cluster_->StartOrchestrator());
  for (const auto& id : ids) {
    auto saga = cluster_->AwaitTerminal(id, kSagaTimeout);
    ASSERT_TRUE(IsTerminal(saga.status())) << DescribeSaga(saga);
  }
  // Followed up to the table's end: another database's transaction on the
  // same server may hold the stream back for a moment.
  const size_t all = TablePositions().size();
  Consumed rest = Consume(cluster_->Stub(), history.back().position(),
                          /*follow=*/true, [&](const Consumed& c) {
                            return history.size() + c.events.size() >= all;
                          });
  history.insert(history.end(), rest.events.begin(), rest.events.end());
  ExpectMatchesTable(history);

  // Each message as the table holds it.
  pqxx::nontransaction tx(Db());
  const auto row = tx.exec_params1(
      "SELECT message_id, saga_id, type, header->>'saga_type' FROM outbox "
      "WHERE position = $1",
      history.front().position());
  EXPECT_EQ(history.front().message_id(), row[0].as<std::string>());
  EXPECT_EQ(history.front().saga_id(), row[1].as<std::string>());
  EXPECT_EQ(history.front().type(), row[2].as<std::string>());
  EXPECT_EQ(history.front().saga_type(), row[3].as<std::string>());
  EXPECT_EQ(history.front().type(), "saga.started");
  EXPECT_TRUE(
      nlohmann::json::parse(history.front().payload_json()).is_object());

  // A position the table does not hold, and one that cannot be.
  auto never = [](const Consumed&) { return false; };
  EXPECT_EQ(
      Consume(cluster_->Stub(), 1 << 30, false, never).status.error_code(),
      grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(Consume(cluster_->Stub(), -1, false, never).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A StartSaga whose transaction is held open (a trigger waits on a lock the
// test holds) after its outbox row took a position, while another saga
// runs to its end and commits messages with larger positions. A reader of
// "position > last" would hand those out and then pass over the held one
// for good; the stream holds them back and then delivers everything.
TEST_F(OutboxTest, AMessageCommittedLateWithASmallerPositionIsNotSkipped) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  pqxx::connection lock_holder(cluster_->database("orchestrator").dsn());
  {
    pqxx::nontransaction tx(lock_holder);
    tx.exec(R"sql(
      CREATE FUNCTION hold_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.type = 'saga.started' AND NEW.payload::text LIKE '%2027-02-14%'
        THEN
          PERFORM pg_advisory_xact_lock_shared(4242);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_outbox AFTER INSERT ON outbox
        FOR EACH ROW EXECUTE FUNCTION hold_outbox();
      SELECT pg_advisory_lock(4242);
    )sql");
  }
  auto follower = std::async(std::launch::async, [&] {
    return Consume(
        cluster_->Stub(), 0, /*follow=*/true,
        [](const Consumed& c) {
          int completed = 0;
          for (const auto& event : c.events) {
            completed += event.type() == "saga.completed";
          }
          return completed == 2;
        },
        kWait * 2);
  });
  auto held = std::async(std::launch::async, [&] {
    auto channel = grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(cluster_->orchestrator_port()),
        grpc::InsecureChannelCredentials());
    auto stub = v1::SagaOrchestrator::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait * 2);
    v1::StartSagaRequest request;
    request.set_saga_type(kBooking);
    request.set_input_json(Input(0, "2027-02-14"));
    v1::StartSagaResponse response;
    grpc::Status status = stub->StartSaga(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.saga_id();
  });
  ASSERT_TRUE(PollUntil(
      [&] {
        pqxx::nontransaction tx(Db());
        return tx.exec1(
                     "SELECT count(*) FROM pg_locks WHERE locktype = "
                     "'advisory' AND objid = 4242 AND NOT granted")[0]
                   .as<int>() == 1;
      },
      kWait))
      << "the held StartSaga never reached the trigger";

  const std::string free_id = cluster_->StartSaga(kBooking, Input(1));
  auto free_saga = cluster_->AwaitTerminal(free_id, kSagaTimeout);
  ASSERT_EQ(free_saga.status(), v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(free_saga);
  EXPECT_GE(Count("saga_id = '" + free_id + "'"), 5)
      << "the free saga's messages are committed";

  {
    pqxx::nontransaction tx(lock_holder);
    tx.exec("SELECT pg_advisory_unlock(4242)");
  }
  const std::string held_id = held.get();
  ASSERT_FALSE(held_id.empty());
  auto held_saga = cluster_->AwaitTerminal(held_id, kSagaTimeout);
  ASSERT_EQ(held_saga.status(), v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(held_saga);

  Consumed consumed = follower.get();
  ASSERT_NO_FATAL_FAILURE(ExpectMatchesTable(consumed.events));
  // The held message took its position before the free saga's messages
  // but committed after them: the stream still has it, first.
  pqxx::nontransaction tx(Db());
  const int64_t held_position =
      tx.exec_params1(
            "SELECT position FROM outbox WHERE saga_id = $1 AND "
            "type = 'saga.started'",
            held_id)[0]
          .as<int64_t>();
  const int64_t free_first =
      tx.exec_params1("SELECT min(position) FROM outbox WHERE saga_id = $1",
                      free_id)[0]
          .as<int64_t>();
  EXPECT_LT(held_position, free_first)
      << "the test did not make a late commit with a smaller position";
  ASSERT_FALSE(consumed.events.empty());
  EXPECT_EQ(consumed.events.front().position(), held_position);
}

TEST_F(OutboxTest, TheDispatcherDeliversInOrderThroughFailuresAndARestart) {
  WebhookServer hook;
  hook.SetFailing(true);
  ClusterOptions options;
  options.orchestrator_flags = {"--outbox-sink", hook.url(), "--outbox-poll-ms",
                                "200"};
  ASSERT_NO_FATAL_FAILURE(StartCluster(options));
  ASSERT_NO_FATAL_FAILURE(RunSagas(2));

  // While the webhook refuses, the dispatcher retries and marks nothing.
  ASSERT_TRUE(PollUntil([&] { return hook.Refused() >= 2; }, kWait))
      << "no retry reached the webhook";
  EXPECT_TRUE(hook.Accepted().empty());
  EXPECT_EQ(Count("status = 'DISPATCHED'"), 0);

  hook.SetFailing(false);
  ASSERT_TRUE(
      PollUntil([&] { return Count("status = 'PENDING'") == 0; }, kWait))
      << "messages left PENDING after the webhook recovered";

  // A restart with messages still pending: the next dispatcher delivers
  // them.
  hook.SetFailing(true);
  const int refused = hook.Refused();
  ASSERT_NO_FATAL_FAILURE(RunSagas(2, 2));
  ASSERT_TRUE(PollUntil([&] { return hook.Refused() > refused; }, kWait));
  cluster_->KillOrchestrator(SIGKILL);
  EXPECT_GT(Count("status = 'PENDING'"), 0);
  hook.SetFailing(false);
  ASSERT_TRUE(cluster_->StartOrchestrator());
  ASSERT_TRUE(
      PollUntil([&] { return Count("status = 'PENDING'") == 0; }, kWait))
      << "messages left PENDING after the restart";

  // Everything delivered, in stream order (a repeat is allowed only for a
  // batch delivered but not yet marked when the orchestrator died: none
  // here, since nothing was accepted before the kill), and marked with a
  // time.
  std::vector<int64_t> delivered;
  for (const auto& message : hook.Accepted()) {
    delivered.push_back(message["position"].get<int64_t>());
    EXPECT_TRUE(message["header"].is_object());
    EXPECT_FALSE(message["message_id"].get<std::string>().empty());
  }
  EXPECT_EQ(delivered, TablePositions());
  EXPECT_EQ(Count("status = 'DISPATCHED' AND dispatched_at IS NOT NULL"),
            static_cast<int64_t>(delivered.size()));
}

TEST_F(OutboxTest, SagactlEventsPrintsTheStream) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(RunSagas(2));
  const std::vector<int64_t> table = TablePositions();
  ASSERT_GE(table.size(), 4u);
  // Readable through the stream (another database's transaction on the
  // same server may hold it back for a moment).
  Consumed all = Consume(
      cluster_->Stub(), 0, /*follow=*/true,
      [&](const Consumed& c) { return c.events.size() >= table.size(); });
  ASSERT_EQ(Positions(all.events), table);

  const std::string out = cluster_->log_dir() + "/sagactl-events.jsonl";
  {
    ChildProcess sagactl(
        {BinaryPath("sagactl"), "--address",
         "127.0.0.1:" + std::to_string(cluster_->orchestrator_port()), "events",
         "--from", std::to_string(table[1]), "-o", "json"},
        {}, out);
    EXPECT_EQ(sagactl.Wait(), 0);
  }
  std::ifstream in(out);
  std::vector<int64_t> printed;
  std::string line;
  while (std::getline(in, line)) {
    auto event = nlohmann::json::parse(line);
    printed.push_back(std::stoll(event["position"].get<std::string>()));
    EXPECT_TRUE(event["payload_json"].is_object()) << line;
  }
  EXPECT_EQ(printed, std::vector<int64_t>(table.begin() + 2, table.end()));
}

}  // namespace
}  // namespace saga::testing
