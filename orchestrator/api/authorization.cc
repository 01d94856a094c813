#include "orchestrator/api/authorization.h"

#include <array>
#include <utility>

namespace saga::api {
namespace {

constexpr std::array<std::pair<std::string_view, Access>, 21> kAccess = {{
    {"StartSaga", Access::kSubmitter},
    {"GetSaga", Access::kSubmitter},
    {"AwaitSaga", Access::kSubmitter},
    // A service signals the sagas it started; an operator any saga (a
    // person approving through sagactl).
    {"SignalSaga", Access::kSubmitter},
    {"ListSagas", Access::kOperator},
    // Counts over every caller's sagas: a submitter sees only its own.
    {"CountSagas", Access::kOperator},
    {"GetSagaHistory", Access::kOperator},
    {"WatchSaga", Access::kOperator},
    {"WatchEvents", Access::kOperator},
    {"CancelSaga", Access::kOperator},
    {"RetrySaga", Access::kOperator},
    {"SkipStep", Access::kOperator},
    {"MarkCompensated", Access::kOperator},
    {"RerunSaga", Access::kOperator},
    {"ListDefinitions", Access::kOperator},
    {"GetDefinition", Access::kOperator},
    {"ListParticipants", Access::kOperator},
    {"PauseParticipant", Access::kOperator},
    {"ResumeParticipant", Access::kOperator},
    // A participant's callback: its completion token, not the role, says
    // which step it may complete, so it needs no more than a submitter.
    {"CompleteStep", Access::kSubmitter},
    // Every caller may learn its own name and role (the web console).
    {"WhoAmI", Access::kSubmitter},
}};

std::string Describe(const Caller& caller) {
  return "token '" + caller.name + "' (" + security::RoleName(caller.role) +
         ")";
}

}  // namespace

std::optional<Access> RequiredAccess(std::string_view method) {
  for (const auto& [name, access] : kAccess) {
    if (name == method) return access;
  }
  return std::nullopt;
}

Authorizer::Authorizer(security::TokenTable tokens)
    : tokens_(std::move(tokens)) {}

absl::StatusOr<Caller> Authorizer::Authorize(
    std::string_view method,
    const std::vector<std::string_view>& authorization) const {
  const std::optional<Access> access = RequiredAccess(method);
  if (!enabled()) {
    if (!access) {
      return absl::PermissionDeniedError(std::string(method) +
                                         " is not open to any caller");
    }
    return Caller{};
  }
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing bearer token: send metadata 'authorization: Bearer <token>'");
  }
  if (authorization.size() > 1) {
    return absl::UnauthenticatedError(
        "more than one authorization header: send exactly one bearer token");
  }
  const std::optional<std::string_view> token =
      security::ParseBearer(authorization.front());
  if (!token) {
    return absl::UnauthenticatedError(
        "malformed authorization header: expected 'Bearer <token>'");
  }
  const std::optional<security::Principal> principal = tokens_.Find(*token);
  if (!principal) return absl::UnauthenticatedError("unknown bearer token");
  Caller caller{principal->name, principal->role};
  if (!access) {
    return absl::PermissionDeniedError(std::string(method) +
                                       " is not open to any caller");
  }
  if (*access == Access::kOperator &&
      caller.role != security::Role::kOperator) {
    return absl::PermissionDeniedError(Describe(caller) + " may not call " +
                                       std::string(method) +
                                       ": it needs the operator role");
  }
  return caller;
}

absl::Status SagaNotFound(std::string_view saga_id) {
  return absl::NotFoundError("saga " + std::string(saga_id) + " not found");
}

std::string OperatorName(const Caller& caller, std::string_view given,
                         std::string_view peer) {
  if (caller.name.empty()) {
    return given.empty() ? "unnamed operator at " + std::string(peer)
                         : std::string(given);
  }
  if (given.empty() || given == caller.name) return caller.name;
  return caller.name + " (" + std::string(given) + ")";
}

absl::Status Authorizer::CheckOwner(const Caller& caller,
                                    std::string_view saga_id,
                                    std::string_view started_by) {
  if (caller.role == security::Role::kOperator || caller.name == started_by) {
    return absl::OkStatus();
  }
  return SagaNotFound(saga_id);
}

}  // namespace saga::api
