// StartSaga's request read from its wire bytes. gRPC's protobuf runtime
// refuses a proto3 `string` field that is not UTF-8 before any handler
// runs, with a bare status and no message; StartSaga is therefore served as
// a raw method and decoded here, so such a request gets INVALID_ARGUMENT
// naming the field like every other malformed one. The public message keeps
// its `string` fields, so clients, JSON transcoding (grpcurl) and the
// protocol stay exactly as they were.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/statusor.h"
#include "saga/v1/orchestrator.pb.h"

namespace saga::api {

// InvalidArgument: a field is not UTF-8 ("input_json is not valid UTF-8
// (at byte N: ...)"), or the bytes are not a StartSagaRequest at all.
absl::StatusOr<v1::StartSagaRequest> DecodeStartSagaRequest(
    const grpc::ByteBuffer& wire);

// `response` as the raw method's reply.
grpc::ByteBuffer EncodeStartSagaResponse(const v1::StartSagaResponse& response);

}  // namespace saga::api
