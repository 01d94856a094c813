#include "orchestrator/engine/participant_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "observability/trace_context.h"

namespace saga::engine {

using std::chrono::steady_clock;
using std::chrono::system_clock;

// Owns everything an asynchronous call needs until its callback runs.
struct ParticipantClients::PendingCall {
  const Endpoint* endpoint = nullptr;
  std::string participant;
  bool compensation = false;
  grpc::ClientContext context;
  v1::StepRequest request;
  v1::StepResult response;
  // The latest moment the request may be sent: the earlier of the call's
  // deadline and its send-by time.
  system_clock::time_point send_by;
  std::function<void(CallResult)> done;

  void Finish(CallResult result) {
    auto finish = std::move(done);
    delete this;
    finish(std::move(result));
  }
};

ParticipantClients::ParticipantClients(
    const std::map<std::string, std::string>& addresses,
    const std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>&
        credentials,
    const std::string& instance_id)
    : instance_id_(instance_id) {
  for (const auto& [name, address] : addresses) {
    auto tls = credentials.find(name);
    grpc::ChannelArguments args;
    // Reconnect quickly after a participant restarts: the default backoff
    // grows to minutes, which would stall every saga waiting on it.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    Endpoint& endpoint = endpoints_[name];
    endpoint.address = address;
    endpoint.channel = grpc::CreateCustomChannel(
        address,
        tls == credentials.end() ? grpc::InsecureChannelCredentials()
                                 : tls->second,
        args);
    endpoint.stub = v1::Participant::NewStub(endpoint.channel);
    // Connect now, in the background: a channel otherwise connects at its
    // first call, and a restart's first resumed step would wait for the TCP
    // and HTTP/2 handshakes (about 35 ms here). A participant that is down
    // costs only gRPC's reconnect attempts.
    endpoint.channel->GetState(/*try_to_connect=*/true);
  }
  watcher_ = std::thread([this] { WatchChannels(); });
}

ParticipantClients::~ParticipantClients() {
  state_changes_.Shutdown();
  watcher_.join();
}

bool ParticipantClients::Has(const std::string& participant) const {
  return endpoints_.count(participant) > 0;
}

std::map<std::string, std::string> ParticipantClients::Addresses() const {
  std::map<std::string, std::string> addresses;
  for (const auto& [name, endpoint] : endpoints_) {
    addresses.emplace(name, endpoint.address);
  }
  return addresses;
}

void ParticipantClients::Call(const std::string& participant, bool compensation,
                              const v1::StepRequest& request,
                              system_clock::time_point deadline,
                              const core::TraceContext& trace,
                              std::function<void(CallResult)> done,
                              steady_clock::time_point send_by) {
  auto* call = new PendingCall;
  call->endpoint = &endpoints_.at(participant);
  call->participant = participant;
  call->compensation = compensation;
  call->request = request;
  call->done = std::move(done);
  call->send_by = deadline;
  if (send_by != steady_clock::time_point::max()) {
    call->send_by = std::min(
        deadline, system_clock::now() +
                      std::chrono::duration_cast<system_clock::duration>(
                          send_by - steady_clock::now()));
  }
  call->context.set_deadline(deadline);
  if (!trace.traceparent.empty()) {
    call->context.AddMetadata(observability::kTraceParentKey,
                              trace.traceparent);
  }
  if (!trace.tracestate.empty()) {
    call->context.AddMetadata(observability::kTraceStateKey, trace.tracestate);
  }
  if (!instance_id_.empty()) {
    call->context.AddMetadata(kOrchestratorInstanceKey, instance_id_);
  }
  // The request goes out only over a ready channel, so that a failure to
  // reach the participant is known not to have sent anything; once sent,
  // the call must not wait for a reconnection either.
  call->context.set_wait_for_ready(false);
  const grpc_connectivity_state state =
      call->endpoint->channel->GetState(/*try_to_connect=*/true);
  if (state == GRPC_CHANNEL_READY) {
    Send(call);
  } else {
    WaitUntilReady(call, state);
  }
}

void ParticipantClients::Send(PendingCall* call) {
  auto on_done = [call](grpc::Status status) {
    call->Finish(ToCallResult(status, call->response));
  };
  auto* stub = call->endpoint->stub.get();
  if (call->compensation) {
    stub->async()->Compensate(&call->context, &call->request, &call->response,
                              std::move(on_done));
  } else {
    stub->async()->Execute(&call->context, &call->request, &call->response,
                           std::move(on_done));
  }
}

void ParticipantClients::WaitUntilReady(PendingCall* call,
                                        grpc_connectivity_state last_seen) {
  const bool gone = last_seen == GRPC_CHANNEL_TRANSIENT_FAILURE ||
                    last_seen == GRPC_CHANNEL_SHUTDOWN;
  if (gone || system_clock::now() >= call->send_by) {
    const std::string why =
        gone ? "its connection failed (refused, no address, or lost)"
             : "its channel did not become ready in time";
    CallResult result;
    result.outcome = core::CallOutcome::kNotApplied;
    result.error = "not sent: participant '" + call->participant + "' at " +
                   call->endpoint->address + " is unreachable: " + why;
    result.grpc_code = "UNAVAILABLE";
    result.sent = false;
    call->Finish(std::move(result));
    return;
  }
  // The tag comes back on the watcher thread when the state leaves
  // `last_seen` or at send_by, whichever is first.
  call->endpoint->channel->NotifyOnStateChange(last_seen, call->send_by,
                                               &state_changes_, call);
}

void ParticipantClients::WatchChannels() {
  void* tag = nullptr;
  bool changed = false;
  while (state_changes_.Next(&tag, &changed)) {
    auto* call = static_cast<PendingCall*>(tag);
    const grpc_connectivity_state state =
        call->endpoint->channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY && system_clock::now() < call->send_by) {
      Send(call);
    } else {
      WaitUntilReady(call, state);
    }
  }
}

v1::StepRequest ToProto(const core::StepRequest& request) {
  v1::StepRequest proto;
  proto.set_saga_id(request.saga_id);
  proto.set_step(request.step);
  proto.set_action(request.action);
  proto.set_idempotency_key(request.idempotency_key);
  proto.set_attempt(request.attempt);
  proto.set_deadline_unix_ms(request.deadline_ms);
  proto.set_input_json(request.input_json);
  proto.set_original_idempotency_key(request.original_idempotency_key);
  proto.set_original_output_json(request.original_output_json);
  proto.set_completion_token(request.completion_token);
  return proto;
}

CallResult ToCallResult(const grpc::Status& status,
                        const v1::StepResult& result) {
  if (!status.ok()) {
    // gRPC and absl share their codes and names.
    std::string code = absl::StatusCodeToString(
        static_cast<absl::StatusCode>(status.error_code()));
    std::string error =
        "participant call failed: " + code + ": " + status.error_message();
    switch (status.error_code()) {
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::FAILED_PRECONDITION:
      case grpc::StatusCode::UNIMPLEMENTED:
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        return {core::CallOutcome::kNotApplied, "", std::move(error), code};
      default:
        return {core::CallOutcome::kUnknown, "", std::move(error), code};
    }
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
    case v1::STEP_OUTCOME_ACCEPTED:
      return {core::CallOutcome::kAccepted, "", "", ""};
    default:
      return {core::CallOutcome::kUnknown, "",
              "participant answered without an outcome", ""};
  }
}

}  // namespace saga::engine
