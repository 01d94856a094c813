#include "orchestrator/console/api_gateway.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include "orchestrator/console/grpc_http_status.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace saga::console {
namespace {

namespace pb = google::protobuf;

ApiAnswer Error(grpc::StatusCode code, std::string_view message) {
  return {HttpStatusFor(code), ErrorBody(code, message)};
}

// The unary method `name` of the service; null for a streaming or unknown
// one.
const pb::MethodDescriptor* UnaryMethod(std::string_view name) {
  const pb::ServiceDescriptor* service =
      pb::DescriptorPool::generated_pool()->FindServiceByName(
          v1::SagaOrchestrator::service_full_name());
  if (service == nullptr) return nullptr;
  const pb::MethodDescriptor* method =
      service->FindMethodByName(std::string(name));
  if (method == nullptr || method->client_streaming() ||
      method->server_streaming()) {
    return nullptr;
  }
  return method;
}

std::unique_ptr<pb::Message> NewMessage(const pb::Descriptor* type) {
  return std::unique_ptr<pb::Message>(
      pb::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

}  // namespace

struct ApiGateway::InFlight {
  grpc::ClientContext context;
  std::string path;  // the gRPC method path; outlives the call
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  const pb::Descriptor* response_type = nullptr;
  std::function<void(ApiAnswer)> done;
};

ApiGateway::ApiGateway(std::shared_ptr<grpc::Channel> channel)
    : stub_(std::move(channel)) {}

ApiGateway::~ApiGateway() = default;

void ApiGateway::Call(std::string_view method_name, std::string_view body,
                      const std::vector<std::string>& authorization,
                      std::function<void(ApiAnswer)> done) {
  const pb::MethodDescriptor* method = UnaryMethod(method_name);
  if (method == nullptr) {
    done(Error(grpc::StatusCode::NOT_FOUND,
               "no unary method " + std::string(method_name) + " in " +
                   v1::SagaOrchestrator::service_full_name()));
    return;
  }
  std::unique_ptr<pb::Message> request = NewMessage(method->input_type());
  if (!body.empty()) {
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto parsed =
        pb::util::JsonStringToMessage(body, request.get(), options);
    if (!parsed.ok()) {
      done(Error(grpc::StatusCode::INVALID_ARGUMENT,
                 "the body is not a " + method->input_type()->full_name() +
                     " in JSON: " + parsed.ToString()));
      return;
    }
  }
  auto call = std::make_unique<InFlight>();
  call->path = "/" + std::string(v1::SagaOrchestrator::service_full_name()) +
               "/" + method->name();
  call->response_type = method->output_type();
  call->done = std::move(done);
  for (const std::string& value : authorization) {
    call->context.AddMetadata("authorization", value);
  }
  const std::string bytes = request->SerializeAsString();
  grpc::Slice slice(bytes);
  call->request = grpc::ByteBuffer(&slice, 1);
  {
    std::lock_guard lock(mu_);
    if (stopped_) {
      call->done(Error(grpc::StatusCode::UNAVAILABLE,
                       "the orchestrator is shutting down"));
      return;
    }
    in_flight_.insert(call.get());
  }
  InFlight* raw = call.release();
  stub_.UnaryCall(&raw->context, raw->path, grpc::StubOptions(), &raw->request,
                  &raw->response,
                  [this, raw](grpc::Status status) { Finish(raw, status); });
}

void ApiGateway::Finish(InFlight* raw, const grpc::Status& status) {
  std::unique_ptr<InFlight> call(raw);
  ApiAnswer answer;
  if (!status.ok()) {
    answer = Error(status.error_code(), status.error_message());
  } else {
    std::unique_ptr<pb::Message> response = NewMessage(call->response_type);
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (call->response.Dump(&slices).ok()) {
      for (const grpc::Slice& slice : slices) {
        bytes.append(reinterpret_cast<const char*>(slice.begin()),
                     slice.size());
      }
    }
    pb::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    if (!response->ParseFromString(bytes) ||
        !pb::util::MessageToJsonString(*response, &answer.json, options).ok()) {
      answer = Error(grpc::StatusCode::INTERNAL,
                     "the answer of " + call->path + " could not be read");
    }
  }
  call->done(std::move(answer));
  std::lock_guard lock(mu_);
  in_flight_.erase(raw);
  if (in_flight_.empty()) idle_.notify_all();
}

void ApiGateway::Stop() {
  std::unique_lock lock(mu_);
  stopped_ = true;
  for (InFlight* call : in_flight_) call->context.TryCancel();
  idle_.wait(lock, [this] { return in_flight_.empty(); });
}

}  // namespace saga::console
