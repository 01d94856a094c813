// TestCluster beyond the booking saga: any set of participants and
// definitions.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/cluster.h"
#include "tests/support/definitions.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

TEST(TestClusterTest, RunsTheParticipantsAndDefinitionsItIsGiven) {
  ClusterOptions options;
  for (const ClusterParticipant& spec : BookingParticipants()) {
    if (spec.name == "patient") options.participants = {spec};
  }
  options.definitions_dir = TestDefinitionDir("patient_check");
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  const std::string id =
      cluster.StartSaga("patient_check", R"({"patient_id":"p-1001"})");
  ASSERT_FALSE(id.empty());
  saga::v1::Saga saga =
      cluster.AwaitTerminal(id, std::chrono::milliseconds(60000));
  EXPECT_EQ(saga.status(), saga::v1::SAGA_STATUS_COMPLETED)
      << DescribeSaga(saga);
  EXPECT_EQ(saga.saga_type(), "patient_check");
  // Only the participants asked for run, and the demo's saga is unknown.
  EXPECT_TRUE(WaitForPort(cluster.participant_port("patient"),
                          std::chrono::milliseconds(1000)));
  EXPECT_THROW(cluster.participant_port("doctor"), std::out_of_range);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::StartSagaRequest request;
  request.set_saga_type("appointment_booking");
  request.set_input_json(BookingInput("p-1001", "2027-01-10", "cardiology"));
  saga::v1::StartSagaResponse response;
  grpc::Status status = cluster.Stub().StartSaga(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
      << status.error_message();
}

}  // namespace
}  // namespace saga::testing
