// How a gRPC status reads over HTTP: the status code (grpc-gateway's table,
// which HTTP clients of gRPC services already know) and the JSON error body
// {"code":"NOT_FOUND","message":"..."}.
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

namespace saga::console {

// INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED
// 401; PERMISSION_DENIED 403; NOT_FOUND 404; ALREADY_EXISTS, ABORTED 409;
// RESOURCE_EXHAUSTED 429; CANCELLED 499; UNIMPLEMENTED 501; UNAVAILABLE 503;
// DEADLINE_EXCEEDED 504; OK 200; anything else 500.
int HttpStatusFor(grpc::StatusCode code);

// "NOT_FOUND", as the gRPC specification spells the code.
std::string CodeName(grpc::StatusCode code);

// {"code":...,"message":...}, valid JSON whatever bytes `message` holds.
std::string ErrorBody(grpc::StatusCode code, std::string_view message);

}  // namespace saga::console
