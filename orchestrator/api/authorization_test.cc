#include "orchestrator/api/authorization.h"

#include "gtest/gtest.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace saga::api {
namespace {

using security::Role;

constexpr char kSubmitterToken[] = "submitter-token-1";
constexpr char kOperatorToken[] = "operator-token-1";

Authorizer WithTokens() {
  auto tokens = security::TokenTable::Create(
      {{"booking-service", Role::kSubmitter,
        security::Sha256Hex(kSubmitterToken)},
       {"ops", Role::kOperator, security::Sha256Hex(kOperatorToken)}});
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return Authorizer(*std::move(tokens));
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

const google::protobuf::ServiceDescriptor* Service() {
  return v1::StartSagaRequest::descriptor()->file()->FindServiceByName(
      "SagaOrchestrator");
}

TEST(RequiredAccessTest, EveryOrchestratorMethodIsClassified) {
  const auto* service = Service();
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 0);
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_TRUE(RequiredAccess(service->method(i)->name()).has_value())
        << service->method(i)->name()
        << " has no entry in the role table (authorization.cc)";
  }
  EXPECT_FALSE(RequiredAccess("NoSuchMethod").has_value());
}

TEST(RequiredAccessTest, SubmittersStartReadAwaitSignalCompleteAndAskWhoOnly) {
  const auto* service = Service();
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    const bool submitter = name == "StartSaga" || name == "GetSaga" ||
                           name == "AwaitSaga" || name == "SignalSaga" ||
                           name == "CompleteStep" || name == "WhoAmI";
    EXPECT_EQ(RequiredAccess(name),
              submitter ? Access::kSubmitter : Access::kOperator)
        << name;
  }
}

TEST(AuthorizerTest, WithoutTokensEveryCallerIsAnUnnamedOperator) {
  Authorizer open;
  EXPECT_FALSE(open.enabled());
  auto caller = open.Authorize("CancelSaga", {});
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->name, "");
  EXPECT_EQ(caller->role, Role::kOperator);
  // A token sent anyway changes nothing.
  const std::string header = Bearer("whatever");
  EXPECT_TRUE(open.Authorize("RetrySaga", {header}).ok());
  EXPECT_EQ(open.Authorize("NoSuchMethod", {}).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, EachRoleIsAllowedAndRefusedPerMethod) {
  const Authorizer authorizer = WithTokens();
  ASSERT_TRUE(authorizer.enabled());
  const std::string submitter = Bearer(kSubmitterToken);
  const std::string op = Bearer(kOperatorToken);
  const auto* service = Service();
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& method = service->method(i)->name();
    auto as_operator = authorizer.Authorize(method, {op});
    ASSERT_TRUE(as_operator.ok()) << method << ": " << as_operator.status();
    EXPECT_EQ(as_operator->name, "ops");
    EXPECT_EQ(as_operator->role, Role::kOperator);

    auto as_submitter = authorizer.Authorize(method, {submitter});
    if (*RequiredAccess(method) == Access::kSubmitter) {
      ASSERT_TRUE(as_submitter.ok()) << method << ": " << as_submitter.status();
      EXPECT_EQ(as_submitter->name, "booking-service");
      EXPECT_EQ(as_submitter->role, Role::kSubmitter);
    } else {
      EXPECT_EQ(as_submitter.status().code(),
                absl::StatusCode::kPermissionDenied)
          << method;
      EXPECT_EQ(as_submitter.status().message(),
                "token 'booking-service' (submitter) may not call " + method +
                    ": it needs the operator role");
    }
  }
}

TEST(AuthorizerTest, MissingMalformedOrUnknownTokensAreUnauthenticated) {
  const Authorizer authorizer = WithTokens();
  const std::string unknown = Bearer("not-a-configured-token");
  const std::string basic = "Basic dXNlcjpwYXNz";
  const std::string raw = kOperatorToken;  // no scheme
  const std::string empty = "Bearer ";
  const std::string op = Bearer(kOperatorToken);
  const std::vector<std::vector<std::string_view>> refused = {
      {}, {unknown}, {basic}, {raw}, {empty}, {op, op}};
  for (const auto& headers : refused) {
    auto caller = authorizer.Authorize("GetSaga", headers);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated)
        << caller.status();
    // The refusal never repeats a token.
    EXPECT_EQ(caller.status().message().find("token-1"), std::string::npos);
    EXPECT_EQ(caller.status().message().find("not-a-configured"),
              std::string::npos);
  }
}

TEST(AuthorizerTest, SubmittersOnlyReachTheirOwnSagas) {
  const Caller submitter{"booking-service", Role::kSubmitter};
  const Caller op{"ops", Role::kOperator};
  EXPECT_TRUE(Authorizer::CheckOwner(submitter, "s-1", "booking-service").ok());
  // Another caller's saga is "not found", word for word as a missing one.
  absl::Status other =
      Authorizer::CheckOwner(submitter, "s-1", "billing-service");
  EXPECT_EQ(other, SagaNotFound("s-1"));
  EXPECT_EQ(other.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(other.message(), "saga s-1 not found");
  // Sagas started without authentication belong to no submitter.
  EXPECT_EQ(Authorizer::CheckOwner(submitter, "s-2", "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(Authorizer::CheckOwner(op, "s-1", "anyone").ok());
  EXPECT_TRUE(Authorizer::CheckOwner(Caller{}, "s-1", "x").ok());
}

TEST(OperatorNameTest, TheTokenNameComesFirstAndTheGivenNameAfterIt) {
  const Caller ops{"ops", Role::kOperator};
  EXPECT_EQ(OperatorName(ops, "", "ipv4:10.0.0.1:5000"), "ops");
  EXPECT_EQ(OperatorName(ops, "ops", "ipv4:10.0.0.1:5000"), "ops");
  EXPECT_EQ(OperatorName(ops, "ann", "ipv4:10.0.0.1:5000"), "ops (ann)");
}

TEST(OperatorNameTest, WithoutAuthenticationTheGivenNameOrThePeer) {
  const Caller unnamed;
  EXPECT_EQ(OperatorName(unnamed, "ann", "ipv4:10.0.0.1:5000"), "ann");
  EXPECT_EQ(OperatorName(unnamed, "", "ipv4:10.0.0.1:5000"),
            "unnamed operator at ipv4:10.0.0.1:5000");
}

}  // namespace
}  // namespace saga::api
