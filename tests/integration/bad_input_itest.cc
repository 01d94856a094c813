// Bad input end to end (issue 4 part 7): every malformed request to a real
// saga-orchestrator gets a precise gRPC status and message, and the
// orchestrator's database is byte for byte unchanged afterwards. Here only
// the refusals that need the real process and PostgreSQL: the server's
// receive limit and the store's own answers. Those refused before the store
// is touched are orchestrator/api/bad_request_test.cc.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using grpc::StatusCode;

constexpr char kBooking[] = "appointment_booking";
constexpr char kUnknownId[] = "00000000-0000-4000-8000-000000000000";
const std::string kValidInput =
    BookingInput("p-1001", "2026-12-03", "cardiology");

// Every row of the orchestrator's tables, hashed per table.
std::string Fingerprint(const TestCluster& cluster) {
  pqxx::connection connection(cluster.database("orchestrator").dsn());
  pqxx::nontransaction tx(connection);
  std::string fingerprint;
  for (const char* table :
       {"sagas", "saga_events", "outbox", "saga_definitions"}) {
    fingerprint += std::string(table) + "=" +
                   tx.exec1(std::string("SELECT count(*) || ':' || "
                                        "coalesce(md5(string_agg(t::text, '|' "
                                        "ORDER BY t::text)), '') FROM ") +
                            table + " t")[0]
                       .as<std::string>() +
                   " ";
  }
  return fingerprint;
}

struct Case {
  std::string what;
  std::function<grpc::Status(saga::v1::SagaOrchestrator::Stub&,
                             grpc::ClientContext&)>
      call;
  StatusCode code;
  // The exact message, or its beginning when it ends in '*'.
  std::string message;
};

template <typename Request, typename Response>
auto Call(grpc::Status (saga::v1::SagaOrchestrator::Stub::*rpc)(
              grpc::ClientContext*, const Request&, Response*),
          Request request) {
  return [rpc, request](saga::v1::SagaOrchestrator::Stub& stub,
                        grpc::ClientContext& context) {
    Response response;
    return (stub.*rpc)(&context, request, &response);
  };
}

using Stub = saga::v1::SagaOrchestrator::Stub;

auto Start(const std::string& type, const std::string& input,
           const std::string& key = "") {
  saga::v1::StartSagaRequest request;
  request.set_saga_type(type);
  request.set_input_json(input);
  request.set_idempotency_key(key);
  return Call(&Stub::StartSaga, request);
}

template <typename Request>
Request WithId(const std::string& saga_id) {
  Request request;
  request.set_saga_id(saga_id);
  return request;
}

// A WatchSaga call, read to its end.
auto Watch(const std::string& saga_id) {
  return [saga_id](Stub& stub, grpc::ClientContext& context) {
    auto reader =
        stub.WatchSaga(&context, WithId<saga::v1::WatchSagaRequest>(saga_id));
    saga::v1::SagaEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  };
}

TEST(BadInputTest, EveryBadRequestGetsAPreciseErrorAndWritesNothing) {
  TestCluster cluster;
  ASSERT_TRUE(cluster.Start());
  // One finished saga, so the tables are not empty and ids are real.
  const std::string id = cluster.StartSaga(kBooking, kValidInput, "key-1");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(cluster.AwaitTerminal(id, std::chrono::seconds(60)).status(),
            saga::v1::SAGA_STATUS_COMPLETED);
  const std::string before = Fingerprint(cluster);
  saga::v1::AwaitSagaRequest await_unknown_step =
      WithId<saga::v1::AwaitSagaRequest>(id);
  await_unknown_step.set_step("nope");
  const std::vector<Case> cases = {
      {"input past gRPC's receive limit",
       Start(kBooking, std::string(5 << 20, ' ')),
       StatusCode::RESOURCE_EXHAUSTED, "*"},
      {"idempotency key reused with another input",
       Start(kBooking, BookingInput("p-1002", "2026-12-04", "neurology"),
             "key-1"),
       StatusCode::ALREADY_EXISTS, "*"},
      {"GetSaga unknown id",
       Call(&Stub::GetSaga, WithId<saga::v1::GetSagaRequest>(kUnknownId)),
       StatusCode::NOT_FOUND, "saga " + std::string(kUnknownId) + " not found"},
      {"AwaitSaga unknown step", Call(&Stub::AwaitSaga, await_unknown_step),
       StatusCode::INVALID_ARGUMENT,
       "saga type 'appointment_booking' has no step 'nope'"},
      {"WatchSaga unknown id", Watch(kUnknownId), StatusCode::NOT_FOUND,
       "saga " + std::string(kUnknownId) + " not found"},
  };

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    const grpc::Status status = c.call(cluster.Stub(), context);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    if (!c.message.empty() && c.message.back() == '*') {
      const std::string prefix = c.message.substr(0, c.message.size() - 1);
      EXPECT_EQ(status.error_message().substr(0, prefix.size()), prefix);
      EXPECT_FALSE(status.error_message().empty());
    } else {
      EXPECT_EQ(status.error_message(), c.message);
    }
    // Still alive after each: a refusal never takes the process down.
    ASSERT_FALSE(cluster.OrchestratorExited(std::chrono::milliseconds(0)))
        << "the orchestrator exited";
  }

  EXPECT_EQ(Fingerprint(cluster), before)
      << "a refused request changed the orchestrator's database";
}

}  // namespace
}  // namespace saga::testing
