#include "tests/integration/generic_client.h"

#include <google/protobuf/text_format.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <future>

#include "absl/status/status.h"

namespace saga::testing {
namespace {

constexpr std::chrono::seconds kRpcTimeout{10};

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      what + ": " + status.error_message());
}

}  // namespace

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(grpc::reflection::v1alpha::ServerReflection::NewStub(channel_)) {}

absl::StatusOr<ReflectionClient::Response> ReflectionClient::Ask(
    const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  auto stream = stub_->ServerReflectionInfo(&context);
  Response response;
  const bool answered =
      stream->Write(request) && stream->WritesDone() && stream->Read(&response);
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpc(status, "ServerReflectionInfo");
  if (!answered) return absl::UnknownError("reflection gave no answer");
  if (response.has_error_response()) {
    return absl::Status(
        static_cast<absl::StatusCode>(response.error_response().error_code()),
        response.error_response().error_message());
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  Request request;
  request.set_list_services("");
  auto response = Ask(request);
  if (!response.ok()) return response.status();
  std::vector<std::string> names;
  for (const auto& service : response->list_services_response().service()) {
    names.push_back(service.name());
  }
  return names;
}

absl::Status ReflectionClient::LoadSymbol(const std::string& symbol) {
  Request request;
  request.set_file_containing_symbol(symbol);
  auto response = Ask(request);
  if (!response.ok()) return response.status();
  // The answer holds the file and every file it imports.
  for (const std::string& bytes :
       response->file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) {
      return absl::DataLossError("unreadable FileDescriptorProto");
    }
    if (loaded_files_.insert(file.name()).second && !database_.Add(file)) {
      return absl::InternalError("cannot add " + file.name());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReflectionClient::Call(
    const std::string& method, const std::string& request_text) {
  const auto dot = method.rfind('.');
  if (dot == std::string::npos) {
    return absl::InvalidArgumentError("not Service.Method: " + method);
  }
  const std::string service = method.substr(0, dot);
  if (pool_.FindServiceByName(service) == nullptr) {
    if (absl::Status loaded = LoadSymbol(service); !loaded.ok()) return loaded;
  }
  const google::protobuf::MethodDescriptor* descriptor =
      pool_.FindMethodByName(method);
  if (descriptor == nullptr) {
    return absl::NotFoundError("the server describes no method " + method);
  }
  std::unique_ptr<google::protobuf::Message> request(
      factory_.GetPrototype(descriptor->input_type())->New());
  if (!google::protobuf::TextFormat::ParseFromString(request_text,
                                                     request.get())) {
    return absl::InvalidArgumentError("bad request text: " + request_text);
  }
  std::string serialized;
  request->SerializeToString(&serialized);
  grpc::Slice slice(serialized);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;

  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/" + service + "/" + descriptor->name(),
                 grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return FromGrpc(status, method);

  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) {
    return absl::DataLossError("unreadable response");
  }
  std::string bytes;
  for (const grpc::Slice& part : slices) {
    bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  std::unique_ptr<google::protobuf::Message> response(
      factory_.GetPrototype(descriptor->output_type())->New());
  if (!response->ParseFromString(bytes)) {
    return absl::DataLossError("response does not parse as " +
                               descriptor->output_type()->full_name());
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(*response, &text);
  return text;
}

}  // namespace saga::testing
