// A gRPC client that knows no service in advance, only gRPC's standard
// reflection protocol (grpc.reflection.v1alpha), as generic tools such as
// grpcurl do: it lists a server's services, fetches their descriptors and
// calls a unary method with a request written in protobuf text format.
//
// Not thread-safe.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace saga::testing {

class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel);

  // The full names of the services the server offers.
  absl::StatusOr<std::vector<std::string>> ListServices();

  // Calls unary `method` ("package.Service.Method") with `request_text`
  // (text format) and returns the response in text format; the method's
  // descriptors come from the server.
  absl::StatusOr<std::string> Call(const std::string& method,
                                   const std::string& request_text);

 private:
  using Request = grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = grpc::reflection::v1alpha::ServerReflectionResponse;

  absl::StatusOr<Response> Ask(const Request& request);
  // Adds the file defining `symbol` and its dependencies to the database.
  absl::Status LoadSymbol(const std::string& symbol);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::reflection::v1alpha::ServerReflection::Stub> stub_;
  google::protobuf::SimpleDescriptorDatabase database_;
  std::set<std::string> loaded_files_;
  google::protobuf::DescriptorPool pool_{&database_};
  google::protobuf::DynamicMessageFactory factory_{&pool_};
};

}  // namespace saga::testing
