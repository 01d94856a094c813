// Calls participant services (saga.v1.Participant) asynchronously over one
// shared gRPC channel per participant.
//
// A call is sent only over a channel that is READY (connected): a call to a
// participant that cannot be reached (connection refused, no address, the
// channel does not become ready before the call's deadline or its send-by
// time) is never sent, and its result says so with certainty. Once sent,
// only an answer is definite (see ToCallResult).
//
// Thread-safety: Call may be invoked from any thread; `done` runs on a gRPC
// thread or this object's watcher thread, exactly once per call. Destroy
// the object only after every call's `done` ran.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "orchestrator/core/decider.h"
#include "orchestrator/core/step_request.h"
#include "saga/v1/participant.grpc.pb.h"

namespace saga::engine {

struct CallResult {
  core::CallOutcome outcome = core::CallOutcome::kUnknown;
  std::string output_json;
  std::string error;
  // The gRPC status code name (e.g. "UNAVAILABLE") when the call failed
  // before the participant answered; empty when it answered.
  std::string grpc_code;
  // Whether the request left this process. False only when it provably did
  // not (the channel was never ready): then nothing was applied.
  bool sent = true;
};

class ParticipantClients {
 public:
  // `addresses`: participant name -> "host:port". `credentials`: the
  // channel credentials (TLS) per participant name; a participant without
  // an entry is called over plaintext. `instance_id` is sent with every
  // call as the `saga-orchestrator-instance` metadata, so participants can
  // log which orchestrator instance called them.
  explicit ParticipantClients(
      const std::map<std::string, std::string>& addresses,
      const std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>&
          credentials = {},
      const std::string& instance_id = "");
  ~ParticipantClients();
  ParticipantClients(const ParticipantClients&) = delete;
  ParticipantClients& operator=(const ParticipantClients&) = delete;

  bool Has(const std::string& participant) const;
  // Participant name -> "host:port", as configured.
  std::map<std::string, std::string> Addresses() const;

  // Execute (or Compensate) `request` on `participant` with `deadline`,
  // sending `trace` as the W3C traceparent / tracestate metadata (each only
  // when non-empty). The request is sent only if the participant's channel
  // is ready before both `deadline` and `send_by` (e.g. the time this
  // instance's leases may lapse); otherwise `done` gets a result with
  // sent=false. REQUIRES: Has(participant).
  void Call(const std::string& participant, bool compensation,
            const v1::StepRequest& request,
            std::chrono::system_clock::time_point deadline,
            const core::TraceContext& trace,
            std::function<void(CallResult)> done,
            std::chrono::steady_clock::time_point send_by =
                std::chrono::steady_clock::time_point::max());

 private:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Participant::Stub> stub;
  };
  struct PendingCall;
  void Send(PendingCall* call);
  void WaitUntilReady(PendingCall* call, grpc_connectivity_state last_seen);
  void WatchChannels();

  std::map<std::string, Endpoint> endpoints_;
  std::string instance_id_;
  // Channel state changes for calls waiting for a connection.
  grpc::CompletionQueue state_changes_;
  std::thread watcher_;
};

// The wire form of `request` (its deadline as it stands).
v1::StepRequest ToProto(const core::StepRequest& request);

// The metadata key naming the calling orchestrator instance.
inline constexpr char kOrchestratorInstanceKey[] = "saga-orchestrator-instance";

// How a call that was sent maps onto the decider's outcomes. The answer's
// outcome when the participant answered. A gRPC error is, by its code:
//   INVALID_ARGUMENT, FAILED_PRECONDITION, UNIMPLEMENTED, UNAUTHENTICATED,
//   PERMISSION_DENIED: the participant (or its gRPC server) refused the
//     request before acting on it, so nothing applied: kNotApplied.
//   everything else (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN,
//     INTERNAL, RESOURCE_EXHAUSTED, ABORTED, DATA_LOSS, ...): the request
//     left and no answer came back, so it may or may not have applied:
//     kUnknown (the step is asked again with the same key, and compensated
//     if the saga rolls back).
// A call that was never sent is a kNotApplied built by Call itself.
CallResult ToCallResult(const grpc::Status& status,
                        const v1::StepResult& result);

}  // namespace saga::engine
