// The orchestrator service in one process, for its unit tests: the real
// OrchestratorService behind a real gRPC server on 127.0.0.1:0, over a real
// engine, the in-memory store and a fake participant (a real gRPC server
// too). Nothing here needs a database.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/engine/definition_registry.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/participant_client.h"
#include "orchestrator/outbox/commit_signal.h"
#include "orchestrator/store/memory/memory_pauses.h"
#include "orchestrator/store/memory/memory_store.h"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "saga/v1/participant.grpc.pb.h"

namespace saga::api::testing {

// Serves every action (of the participants patient, doctor, email and
// payment): SUCCEEDED (with the outputs the booking saga maps onward)
// unless told otherwise; an Execute of a blocked action waits.
class FakeParticipant final : public v1::Participant::Service {
 public:
  FakeParticipant();
  ~FakeParticipant() override;

  std::string Address() const;
  // Execute or Compensate of `action` answers `outcome` from now on.
  void SetOutcome(const std::string& action, v1::StepOutcome outcome);
  // An Execute of `action` waits until Unblock().
  void Block(const std::string& action);
  void Unblock();
  // The completion token of the last Execute of `action` ("" if none).
  std::string CompletionToken(const std::string& action);
  // Waits until an Execute of `action` has arrived.
  bool WaitForCall(const std::string& action,
                   std::chrono::milliseconds timeout);

  grpc::Status Execute(grpc::ServerContext* context,
                       const v1::StepRequest* request,
                       v1::StepResult* result) override;
  grpc::Status Compensate(grpc::ServerContext* context,
                          const v1::StepRequest* request,
                          v1::StepResult* result) override;

 private:
  v1::StepResult Answer(const std::string& action);

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::string blocked_;                              // GUARDED_BY(mu_)
  std::map<std::string, v1::StepOutcome> outcomes_;  // GUARDED_BY(mu_)
  std::set<std::string> called_;                     // GUARDED_BY(mu_)
  std::map<std::string, std::string> tokens_;        // GUARDED_BY(mu_)
};

// An OutboxLog over MemoryStore::Outbox(): position n is the n-th message.
class MemoryOutboxLog final : public store::OutboxLog {
 public:
  explicit MemoryOutboxLog(store::MemoryStore* store) : store_(store) {}
  absl::StatusOr<store::StreamCursor> CursorAfter(int64_t position) override;
  absl::StatusOr<store::StreamPage> Read(const store::StreamCursor& after,
                                         int limit) override;

 private:
  store::MemoryStore* store_;
};

struct ServiceHarnessOptions {
  // Authentication off when empty.
  security::TokenTable tokens;
  // Extra definition directories, besides tests/testdata/booking_v1.
  std::vector<std::string> definition_dirs;
};

class ServiceHarness {
 public:
  explicit ServiceHarness(ServiceHarnessOptions options = {});
  ~ServiceHarness();

  v1::SagaOrchestrator::Stub& Stub() { return *stub_; }
  FakeParticipant& participant() { return participant_; }
  store::MemoryStore& store() { return store_; }
  store::MemoryPauses& pauses() { return pauses_; }
  // The gRPC server (e.g. for its InProcessChannel).
  grpc::Server& server() { return *server_; }

  // A second orchestrator instance over the same store and participant,
  // started; stop it before the harness goes.
  std::unique_ptr<engine::Engine> OtherInstance(const std::string& id);

 private:
  FakeParticipant participant_;
  store::MemoryStore store_;
  store::MemoryPauses pauses_;
  engine::DefinitionRegistry definitions_{&store_};
  engine::ParticipantClients clients_;
  std::unique_ptr<engine::Engine> engine_;
  outbox::CommitSignal commits_;
  MemoryOutboxLog outbox_{&store_};
  std::unique_ptr<EventStreams> events_;
  std::unique_ptr<OrchestratorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::SagaOrchestrator::Stub> stub_;
};

// A client context with a 30 s deadline and, unless empty, the bearer token.
std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "");

// One call of an RPC, for tables of calls and their expected answers.
using RpcCall = std::function<grpc::Status(v1::SagaOrchestrator::Stub&,
                                           grpc::ClientContext&)>;

template <typename Request, typename Response>
RpcCall Call(grpc::Status (v1::SagaOrchestrator::Stub::*rpc)(
                 grpc::ClientContext*, const Request&, Response*),
             Request request) {
  return [rpc, request](v1::SagaOrchestrator::Stub& stub,
                        grpc::ClientContext& context) {
    Response response;
    return (stub.*rpc)(&context, request, &response);
  };
}

// The streams, read to their end.
RpcCall WatchSagaCall(const std::string& saga_id);
RpcCall WatchEventsCall(const v1::WatchEventsRequest& request);

// The booking saga's input.
inline constexpr char kBookingInput[] =
    R"({"patient_id":"p-1001","preferred_date":"2026-12-03",)"
    R"("specialty":"cardiology"})";

}  // namespace saga::api::testing
