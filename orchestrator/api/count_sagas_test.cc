// CountSagas and the ListSagas filters of bulk repairs (step, error text,
// creation range) through the service in process: both RPCs take the same
// filter, checked the same way.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "orchestrator/api/service_test_fixture.h"

namespace saga::api::testing {
namespace {

using grpc::StatusCode;

// Its rollback gives up at once, so a saga ends FAILED at `reserve` quickly.
constexpr char kRepairable[] = R"(name: repairable
version: 1
input:
  required:
    order_id: string
steps:
  - name: reserve
    kind: compensatable
    participant: doctor
    action: reserve
    compensation: release
    compensation_retry: {max_attempts: 1}
    input:
      order_id: input.order_id
  - name: confirm
    kind: pivot
    participant: email
    action: confirm
    retry: {max_attempts: 1}
    input:
      order_id: input.order_id
)";

class CountSagasTest : public ::testing::Test {
 protected:
  static std::filesystem::path Dir() {
    return std::filesystem::path(::testing::TempDir()) /
           ("count-sagas-" + std::to_string(::getpid()));
  }
  static ServiceHarnessOptions WithRepairable() {
    std::filesystem::create_directories(Dir());
    std::ofstream(Dir() / "repairable.yaml") << kRepairable;
    ServiceHarnessOptions options;
    options.definition_dirs = {Dir().string()};
    return options;
  }
  // The harness has loaded the definition.
  CountSagasTest() { std::filesystem::remove_all(Dir()); }

  // Starts a saga of `type` and waits for its end; its id.
  std::string Ended(const std::string& type, const std::string& input,
                    v1::SagaStatus expected) {
    v1::StartSagaRequest start;
    start.set_saga_type(type);
    start.set_input_json(input);
    v1::StartSagaResponse started;
    EXPECT_TRUE(
        harness_.Stub().StartSaga(Context().get(), start, &started).ok());
    v1::AwaitSagaRequest await;
    await.set_saga_id(started.saga_id());
    await.set_timeout_ms(30000);
    v1::AwaitSagaResponse awaited;
    EXPECT_TRUE(
        harness_.Stub().AwaitSaga(Context().get(), await, &awaited).ok());
    EXPECT_EQ(awaited.saga().status(), expected);
    return started.saga_id();
  }

  // status name -> count, and the total.
  std::pair<std::map<std::string, int64_t>, int64_t> Count(
      const v1::CountSagasRequest& request) {
    v1::CountSagasResponse response;
    const grpc::Status status =
        harness_.Stub().CountSagas(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, int64_t> counts;
    for (const v1::SagaStatusCount& count : response.counts()) {
      counts[v1::SagaStatus_Name(count.status())] = count.count();
    }
    return {counts, response.total()};
  }

  ServiceHarness harness_{WithRepairable()};
};

TEST_F(CountSagasTest, CountsPerStatusWithTheFiltersOfListSagas) {
  harness_.participant().SetOutcome("confirm",
                                    v1::STEP_OUTCOME_BUSINESS_FAILURE);
  harness_.participant().SetOutcome("release",
                                    v1::STEP_OUTCOME_BUSINESS_FAILURE);
  constexpr char kOrder[] = R"({"order_id":"o-1"})";
  Ended("repairable", kOrder, v1::SAGA_STATUS_FAILED);
  Ended("repairable", kOrder, v1::SAGA_STATUS_FAILED);
  Ended("appointment_booking", kBookingInput, v1::SAGA_STATUS_COMPLETED);

  const auto [all, total] = Count(v1::CountSagasRequest());
  EXPECT_EQ(all, (std::map<std::string, int64_t>{{"SAGA_STATUS_COMPLETED", 1},
                                                 {"SAGA_STATUS_FAILED", 2}}));
  EXPECT_EQ(total, 3);

  // A FAILED saga is at the step whose compensation gave up.
  v1::CountSagasRequest at_reserve;
  at_reserve.set_step("reserve");
  EXPECT_EQ(Count(at_reserve).first,
            (std::map<std::string, int64_t>{{"SAGA_STATUS_FAILED", 2}}));
  v1::ListSagasRequest list;
  list.set_step("reserve");
  list.set_status(v1::SAGA_STATUS_FAILED);
  v1::ListSagasResponse listed;
  ASSERT_TRUE(harness_.Stub().ListSagas(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.sagas_size(), 2);
  EXPECT_EQ(listed.sagas(0).current_step(), "reserve");

  // The error text, ignoring case.
  const std::string error = listed.sagas(0).error();
  ASSERT_GE(error.size(), 4u);
  std::string shouted = error.substr(0, 4);
  for (char& c : shouted) c = static_cast<char>(std::toupper(c));
  v1::CountSagasRequest by_error;
  by_error.set_error_contains(shouted);
  EXPECT_EQ(Count(by_error).second, 2) << error;

  // A creation range that ends before the sagas began holds none.
  v1::CountSagasRequest before;
  before.set_created_before_unix_ms(listed.sagas(1).created_unix_ms());
  EXPECT_EQ(Count(before).second, 0);
  before.set_created_before_unix_ms(listed.sagas(0).created_unix_ms() + 1);
  before.set_status(v1::SAGA_STATUS_FAILED);
  EXPECT_EQ(Count(before).second, 2);
}

TEST_F(CountSagasTest, ABadFilterIsRefusedByBothRpcs) {
  v1::CountSagasRequest count;
  count.set_created_before_unix_ms(-1);
  v1::CountSagasResponse counted;
  grpc::Status status =
      harness_.Stub().CountSagas(Context().get(), count, &counted);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "created_before_unix_ms -1 must not be negative");

  v1::ListSagasRequest list;
  list.set_step(std::string("re\0serve", 8));
  v1::ListSagasResponse listed;
  status = harness_.Stub().ListSagas(Context().get(), list, &listed);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("step contains a NUL byte", 0), 0u)
      << status.error_message();

  count = v1::CountSagasRequest();
  count.set_status(static_cast<v1::SagaStatus>(42));
  status = harness_.Stub().CountSagas(Context().get(), count, &counted);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace saga::api::testing
