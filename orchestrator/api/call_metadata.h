// What the service reads from a call's metadata (the bearer token, the W3C
// trace context), and the log line of a refused call.
#pragma once

#include <grpcpp/server_context.h>

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "orchestrator/core/decider.h"

namespace saga::api {

// Every value of the call's `authorization` metadata, for
// Authorizer::Authorize.
std::vector<std::string_view> AuthorizationValues(
    const grpc::ServerContextBase& context);

// The caller's W3C trace context; empty when there is none or it is
// malformed (ignored, as the specification asks: the saga then starts a new
// trace instead of failing the request).
core::TraceContext IncomingTrace(const grpc::ServerContextBase& context);

// One warning per refused call: what was called, from where, and why (the
// reason names the token's name, never the token).
void LogRefusal(const grpc::ServerContextBase& context, std::string_view method,
                const absl::Status& refusal);

}  // namespace saga::api
