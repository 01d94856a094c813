#include "orchestrator/engine/participant_client.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/status/status.h"
#include "observability/trace_context.h"

namespace saga::engine {

ParticipantClients::ParticipantClients(
    const std::map<std::string, std::string>& addresses,
    const std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>&
        credentials) {
  for (const auto& [name, address] : addresses) {
    auto tls = credentials.find(name);
    grpc::ChannelArguments args;
    // Reconnect quickly after a participant restarts: the default backoff
    // grows to minutes, which would stall every saga waiting on it.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    auto channel = grpc::CreateCustomChannel(
        address,
        tls == credentials.end() ? grpc::InsecureChannelCredentials()
                                 : tls->second,
        args);
    stubs_[name] = v1::Participant::NewStub(channel);
  }
}

bool ParticipantClients::Has(const std::string& participant) const {
  return stubs_.count(participant) > 0;
}

namespace {

// Owns everything an asynchronous call needs until its callback runs.
struct PendingCall {
  grpc::ClientContext context;
  v1::StepRequest request;
  v1::StepResult response;
  std::function<void(CallResult)> done;
};

}  // namespace

void ParticipantClients::Call(const std::string& participant, bool compensation,
                              const v1::StepRequest& request,
                              std::chrono::system_clock::time_point deadline,
                              const core::TraceContext& trace,
                              std::function<void(CallResult)> done) {
  auto* call = new PendingCall;
  call->request = request;
  call->done = std::move(done);
  call->context.set_deadline(deadline);
  if (!trace.traceparent.empty()) {
    call->context.AddMetadata(observability::kTraceParentKey,
                              trace.traceparent);
  }
  if (!trace.tracestate.empty()) {
    call->context.AddMetadata(observability::kTraceStateKey, trace.tracestate);
  }
  // Fail fast while a participant is down instead of queueing until the
  // deadline: the decider's backoff decides when to try again.
  call->context.set_wait_for_ready(false);
  auto on_done = [call](grpc::Status status) {
    CallResult result = ToCallResult(status, call->response);
    auto finish = std::move(call->done);
    delete call;
    finish(std::move(result));
  };
  auto* stub = stubs_.at(participant).get();
  if (compensation) {
    stub->async()->Compensate(&call->context, &call->request, &call->response,
                              std::move(on_done));
  } else {
    stub->async()->Execute(&call->context, &call->request, &call->response,
                           std::move(on_done));
  }
}

CallResult ToCallResult(const grpc::Status& status,
                        const v1::StepResult& result) {
  if (!status.ok()) {
    // gRPC and absl share their codes and names.
    std::string code = absl::StatusCodeToString(
        static_cast<absl::StatusCode>(status.error_code()));
    return {core::CallOutcome::kUnknown, "",
            "participant call failed: " + code + ": " + status.error_message(),
            code};
  }
  switch (result.outcome()) {
    case v1::STEP_OUTCOME_SUCCEEDED:
      return {core::CallOutcome::kSucceeded,
              result.output_json().empty() ? "{}" : result.output_json(), "",
              ""};
    case v1::STEP_OUTCOME_BUSINESS_FAILURE:
      return {core::CallOutcome::kBusinessFailure, "", result.error(), ""};
    case v1::STEP_OUTCOME_RETRYABLE_FAILURE:
      return {core::CallOutcome::kRetryableFailure, "", result.error(), ""};
    default:
      return {core::CallOutcome::kUnknown, "",
              "participant answered without an outcome", ""};
  }
}

}  // namespace saga::engine
