// Who may call what on saga.v1.SagaOrchestrator. Pure (no gRPC): the service
// hands over the method name and the call's `authorization` metadata.
//
// With no tokens configured authentication is off and every caller is an
// unnamed operator (the demo and local runs). With tokens, every call must
// carry `authorization: Bearer <token>` with a configured token:
//   missing, malformed or unknown token -> Unauthenticated;
//   a role that may not make the call   -> PermissionDenied;
// in both cases before the call does anything. Submitters may start sagas
// and read (GetSaga) and await (AwaitSaga) the sagas they started; a saga
// started by another caller is NotFound, word for word as a saga that does
// not exist, so a submitter learns nothing of other callers' sagas, not
// even that an id exists. Submitters may also call CompleteStep (the
// callback of a participant, which holds a submitter token): the completion
// token authorizes the one step, whoever started the saga, and every
// refusal reads the same. Operators may call everything. Health checking and
// reflection are other services and stay open (see README "Security").
//
// Thread-safety: immutable after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "security/tokens.h"

namespace saga::api {

enum class Access {
  kSubmitter,  // submitters too (on saga-level calls: their own sagas only)
  kOperator,   // operators only
};

// The access each method of saga.v1.SagaOrchestrator needs, by its name
// ("StartSaga"); nullopt for a name not in the table, which Authorize
// refuses, so a new RPC stays closed until it is classified here.
std::optional<Access> RequiredAccess(std::string_view method);

// The answer for a saga that does not exist, or that the caller may not
// see: NotFound "saga <id> not found".
absl::Status SagaNotFound(std::string_view saga_id);

struct Caller {
  // The token's name; empty when authentication is off.
  std::string name;
  security::Role role = security::Role::kOperator;
};

// The operator recorded with a repair. With authentication, the token's
// name, followed by the name the caller gives when that differs (several
// people may share an operator token): "ops (ann)". Without, the name the
// caller gives, or "unnamed operator at <peer>" (the peer address backs it
// up in the logs).
std::string OperatorName(const Caller& caller, std::string_view given,
                         std::string_view peer);

class Authorizer {
 public:
  // Authentication off: every call is allowed, as an unnamed operator.
  Authorizer() = default;
  explicit Authorizer(security::TokenTable tokens);

  bool enabled() const { return !tokens_.empty(); }

  // `authorization`: every value of the call's `authorization` metadata
  // (more than one is refused). Errors: Unauthenticated, PermissionDenied
  // (see above); messages never contain the token.
  absl::StatusOr<Caller> Authorize(
      std::string_view method,
      const std::vector<std::string_view>& authorization) const;

  // SagaNotFound(saga_id) when `caller` is a submitter and the saga was
  // started by someone else (`started_by`, recorded with the saga).
  static absl::Status CheckOwner(const Caller& caller, std::string_view saga_id,
                                 std::string_view started_by);

 private:
  security::TokenTable tokens_;
};

}  // namespace saga::api
