// The one place where internal errors become gRPC statuses. absl and gRPC
// status codes share their numbering, so the mapping is 1:1.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace saga::api {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace saga::api
