// Participant calls: a command to call a participant passes its gate
// (Invoke), is sent when its turn comes (Send), and its result is handled
// on the engine thread like any other signal (CallEnded).
#include <utility>
//
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>

#include "observability/logging.h"
#include "observability/trace_context.h"
#include "orchestrator/core/step_request.h"
#include "orchestrator/engine/crash_points.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/engine_internal.h"

namespace saga::engine {

namespace asio = boost::asio;
using engine_internal::CallResultSignal;
using engine_internal::NowMs;
using observability::Log;
using observability::LogField;
using std::chrono::milliseconds;

// A participant call from its decision to its result.
struct Engine::OutgoingCall {
  std::string saga_id;
  core::Command command;
  core::StepRequest request;
  std::string saga_type;
  // The call's own span, a child of the saga's trace.
  core::TraceContext trace;
  std::vector<LogField> log_fields;
  // Names the call, so that a parked call can tell whether it is still its
  // saga's latest.
  uint64_t token = 0;
  int64_t decided_ms = 0;
};

namespace {

// The trace a saga's calls continue: the recorded one, or for a saga
// recorded before traces were kept, one with `fallback_trace_id` (a new id,
// not recorded, so its log lines still correlate).
observability::TraceParent TraceOf(const core::SagaState& state,
                                   const std::string& fallback_trace_id) {
  auto recorded = observability::ParseTraceParent(state.traceparent);
  if (recorded) return *recorded;
  observability::TraceParent trace = observability::NewTrace();
  trace.trace_id = fallback_trace_id;
  return trace;
}

// Records the call's latency and outcome in the metrics.
void Meter(OrchestratorMetrics& metrics, const std::string& saga_type,
           const core::StepRequest& request, const CallResult& result,
           std::chrono::steady_clock::time_point sent) {
  metrics.CallFinished(
      saga_type, request.step, request.participant, request.compensation,
      result.outcome, result.grpc_code,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent)
          .count());
}

}  // namespace

void Engine::Invoke(const std::string& saga_id, Runtime& runtime,
                    const core::Command& command) {
  // While stopping, leave the intent recorded and unanswered: the next
  // start resumes it as a call with an unknown outcome.
  if (stopping_) return;
  auto request =
      core::StepRequestFor(*runtime.definition, runtime.state, command);
  if (!request.ok()) {
    // The definition maps a field an earlier step did not return: no retry
    // can fix that, so it fails the step like a business failure.
    core::Signal failed =
        CallResultSignal(command, core::CallOutcome::kBusinessFailure, "",
                         std::string(request.status().message()));
    asio::post(threads_->io, [this, saga_id, failed]() mutable {
      Handle(saga_id, std::move(failed), nullptr);
    });
    return;
  }
  if (runtime.definition->steps[command.step].kind == core::StepKind::kSaga) {
    InvokeChild(saga_id, runtime, command, *request);
    return;
  }
  auto call = std::make_shared<OutgoingCall>();
  call->saga_id = saga_id;
  call->command = command;
  call->request = *std::move(request);
  call->saga_type = runtime.definition->name;
  const observability::TraceParent span = observability::NewChildSpan(
      TraceOf(runtime.state, runtime.fallback_trace_id));
  call->trace = {span.ToString(), runtime.state.tracestate};
  call->log_fields = engine_internal::SagaFields(saga_id, *runtime.definition,
                                                 runtime.trace_id(),
                                                 command.step, command.attempt);
  call->log_fields.emplace_back("participant", call->request.participant);
  call->log_fields.emplace_back("action", call->request.action);
  call->log_fields.emplace_back("span_id", span.span_id);
  call->token = ++last_call_token_;
  call->decided_ms = NowMs();
  auto latest = std::find_if(
      runtime.call_tokens.begin(), runtime.call_tokens.end(),
      [&](const auto& entry) { return entry.first == command.step; });
  if (latest == runtime.call_tokens.end()) {
    runtime.call_tokens.emplace_back(command.step, call->token);
  } else {
    latest->second = call->token;
  }

  if (!gates_->Submit(
          call->request.participant,
          {[this, call] { return CallWanted(*call); },
           [this, call](CircuitBreaker::Permit permit) { Send(call, permit); },
           call->request.compensation, command.attempt,
           runtime.state.created_ms})) {
    Log(spdlog::level::debug, "participant call parked", call->log_fields);
  }
}

bool Engine::CallWanted(const OutgoingCall& call) {
  // A parked call is sent only if, when its turn comes, it is still the
  // saga's latest and the saga still waits for it, and only while this
  // instance surely holds the saga's lease (else it is withheld, see
  // ConfirmWithheldLeases).
  if (stopping_) return false;
  auto it = sagas_.find(call.saga_id);
  if (it == sagas_.end()) return false;
  const Runtime& now = *it->second;
  const core::ActiveStep* active = core::ActiveOf(now.state, call.command.step);
  const bool latest =
      std::find(now.call_tokens.begin(), now.call_tokens.end(),
                std::make_pair(call.command.step, call.token)) !=
          now.call_tokens.end() &&
      active != nullptr && active->call_in_flight &&
      active->in_flight_attempt == call.command.attempt;
  if (latest && !LeaseSurelyHeld(now)) {
    Withhold(call.saga_id);
    return false;
  }
  return latest;
}

void Engine::Send(std::shared_ptr<const OutgoingCall> call,
                  CircuitBreaker::Permit permit) {
  v1::StepRequest request = ToProto(call->request);
  // The attempt's deadline runs from when the call is sent: time parked in
  // the gate does not count against it.
  request.set_deadline_unix_ms(
      call->request.deadline_ms +
      std::max<int64_t>(0, NowMs() - call->decided_ms));
  Log(spdlog::level::info,
      call->request.compensation ? "calling participant to compensate"
                                 : "calling participant",
      call->log_fields);
  CallStarted();
  const auto deadline = std::chrono::system_clock::time_point(
      milliseconds(request.deadline_unix_ms()));
  participants_->Call(
      call->request.participant, call->request.compensation, request, deadline,
      call->trace,
      [this, call, permit,
       sent = std::chrono::steady_clock::now()](CallResult result) mutable {
        MaybeCrash(CrashPoint::kAfterReplyBeforeCommit);
        Meter(*metrics_, call->saga_type, call->request, result, sent);
        asio::post(threads_->io,
                   [this, call, permit, result = std::move(result)]() mutable {
                     CallEnded(*call, permit, std::move(result));
                   });
      },
      threads_->leases->SurelyHeldUntil());
}

void Engine::CallEnded(const OutgoingCall& call, CircuitBreaker::Permit permit,
                       CallResult result) {
  gates_->Finished(call.request.participant, permit,
                   ParticipantGates::EndOf(result));
  // Counted down after Handle counted the commit of the result, so Drain
  // never sees a gap between the two.
  Handle(
      call.saga_id,
      CallResultSignal(call.command, result.outcome,
                       std::move(result.output_json), std::move(result.error)),
      nullptr);
  CallLanded();
}

}  // namespace saga::engine
