// Calls participant services (saga.v1.Participant) asynchronously over one
// shared gRPC channel per participant.
//
// Thread-safety: Call may be invoked from any thread; `done` runs on a gRPC
// thread, exactly once per call.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "orchestrator/core/decider.h"
#include "saga/v1/participant.grpc.pb.h"

namespace saga::engine {

struct CallResult {
  core::CallOutcome outcome = core::CallOutcome::kUnknown;
  std::string output_json;
  std::string error;
  // The gRPC status code name (e.g. "UNAVAILABLE") when the call failed
  // before the participant answered; empty when it answered.
  std::string grpc_code;
};

class ParticipantClients {
 public:
  // `addresses`: participant name -> "host:port". `credentials`: the
  // channel credentials (TLS) per participant name; a participant without
  // an entry is called over plaintext.
  explicit ParticipantClients(
      const std::map<std::string, std::string>& addresses,
      const std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>&
          credentials = {});

  bool Has(const std::string& participant) const;

  // Execute (or Compensate) `request` on `participant` with `deadline`,
  // sending `trace` as the W3C traceparent / tracestate metadata (each only
  // when non-empty). REQUIRES: Has(participant).
  void Call(const std::string& participant, bool compensation,
            const v1::StepRequest& request,
            std::chrono::system_clock::time_point deadline,
            const core::TraceContext& trace,
            std::function<void(CallResult)> done);

 private:
  std::map<std::string, std::unique_ptr<v1::Participant::Stub>> stubs_;
};

// How a finished call maps onto the decider's outcomes. Any transport or
// server error (UNAVAILABLE, DEADLINE_EXCEEDED, ...) is kUnknown: the
// participant may or may not have applied the effect, so the step is
// retried with the same key and compensated if the saga rolls back.
CallResult ToCallResult(const grpc::Status& status,
                        const v1::StepResult& result);

}  // namespace saga::engine
