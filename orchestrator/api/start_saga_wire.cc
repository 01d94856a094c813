#include "orchestrator/api/start_saga_wire.h"

#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "orchestrator/api/request_checks.h"

namespace saga::api {

absl::StatusOr<v1::StartSagaRequest> DecodeStartSagaRequest(
    const grpc::ByteBuffer& wire) {
  std::vector<grpc::Slice> slices;
  if (!wire.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("the request could not be read");
  }
  std::string bytes;
  bytes.reserve(wire.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  const absl::Status malformed = absl::InvalidArgumentError(
      "the request is not a saga.v1.StartSagaRequest");
  // Read first without the UTF-8 check, to name the field that fails it.
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return malformed;
  }
  const google::protobuf::Descriptor* descriptor =
      v1::StartSagaRequest::descriptor();
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    const google::protobuf::FieldDescriptor* known =
        descriptor->FindFieldByNumber(field.number());
    if (known == nullptr ||
        known->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
        field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    if (absl::Status utf8 = CheckUtf8(known->name(), field.length_delimited());
        !utf8.ok()) {
      return utf8;
    }
  }
  v1::StartSagaRequest request;
  if (!request.ParseFromString(bytes)) return malformed;
  return request;
}

grpc::ByteBuffer EncodeStartSagaResponse(
    const v1::StartSagaResponse& response) {
  grpc::Slice slice(response.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace saga::api
