#include "orchestrator/console/grpc_http_status.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace saga::console {
namespace {

using grpc::StatusCode;

TEST(HttpStatusForTest, FollowsTheGatewayTable) {
  EXPECT_EQ(HttpStatusFor(StatusCode::OK), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::OUT_OF_RANGE), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::ALREADY_EXISTS), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::ABORTED), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusFor(StatusCode::CANCELLED), 499);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNIMPLEMENTED), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::INTERNAL), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNKNOWN), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::DATA_LOSS), 500);
}

TEST(ErrorBodyTest, IsJsonWithTheCodeNameWhateverTheMessage) {
  const auto body = nlohmann::json::parse(
      ErrorBody(StatusCode::NOT_FOUND, "saga \"x\" <b>\xff not found"));
  EXPECT_EQ(body.at("code"), "NOT_FOUND");
  EXPECT_EQ(body.at("message"), "saga \"x\" <b>\xEF\xBF\xBD not found");
  EXPECT_EQ(CodeName(StatusCode::CANCELLED), "CANCELLED");
  EXPECT_EQ(CodeName(StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace saga::console
