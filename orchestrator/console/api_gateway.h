// The console's HTTP/JSON API: POST /api/v1/<Method> with the request
// message in proto3 JSON calls that unary method of saga.v1.SagaOrchestrator
// through a gRPC channel to the orchestrator's own server (in process), so
// validation, errors, authentication and roles are exactly the gRPC ones.
// Methods are found by name in the protobuf descriptor pool: a new unary RPC
// is served without code here.
//
// Answers: 200 with the response message in proto3 JSON (lowerCamelCase
// names, every primitive field printed, enums by name, 64-bit integers as
// strings); otherwise the gRPC status as HTTP (grpc_http_status.h). A
// streaming or unknown method is NOT_FOUND and a body that is not the
// request message in JSON (unknown fields included) is INVALID_ARGUMENT,
// both without a call. An empty body is the empty message.
//
// Thread-safety: Call may be called from any thread; `done` runs on a gRPC
// thread, or on the caller's when nothing was called.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace saga::console {

struct ApiAnswer {
  int http_status = 200;
  std::string json;
};

class ApiGateway {
 public:
  explicit ApiGateway(std::shared_ptr<grpc::Channel> channel);
  // REQUIRES: Stop() has returned, or no call was made.
  ~ApiGateway();
  ApiGateway(const ApiGateway&) = delete;
  ApiGateway& operator=(const ApiGateway&) = delete;

  // `authorization`: the HTTP request's Authorization values, passed on as
  // `authorization` metadata (the service refuses more than one). `done` is
  // called exactly once.
  void Call(std::string_view method, std::string_view body,
            const std::vector<std::string>& authorization,
            std::function<void(ApiAnswer)> done);

  // Cancels the calls in flight and waits until each has called `done`;
  // later calls answer UNAVAILABLE without calling.
  void Stop();

 private:
  struct InFlight;
  void Finish(InFlight* call, const grpc::Status& status);

  grpc::GenericStub stub_;
  std::mutex mu_;
  std::condition_variable idle_;
  bool stopped_ = false;           // GUARDED_BY(mu_)
  std::set<InFlight*> in_flight_;  // GUARDED_BY(mu_)
};

}  // namespace saga::console
