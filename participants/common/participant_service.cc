#include "participants/common/participant_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "observability/logging.h"
#include "observability/trace_context.h"

namespace saga::participants {
namespace {

using Clock = std::chrono::system_clock;

// When a call carries no deadline at all, it still must not wait forever
// for a database connection.
constexpr std::chrono::seconds kDefaultCallBudget{30};

Clock::time_point EffectiveDeadline(const grpc::ServerContext& context,
                                    const saga::v1::StepRequest& request) {
  Clock::time_point deadline = context.deadline();
  if (request.deadline_unix_ms() > 0) {
    deadline = std::min(deadline, Clock::time_point(std::chrono::milliseconds(
                                      request.deadline_unix_ms())));
  }
  return std::min(deadline, Clock::now() + kDefaultCallBudget);
}

saga::v1::StepOutcome ToProto(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSucceeded:
      return saga::v1::STEP_OUTCOME_SUCCEEDED;
    case Outcome::kBusinessFailure:
      return saga::v1::STEP_OUTCOME_BUSINESS_FAILURE;
    case Outcome::kRetryableFailure:
      return saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE;
    case Outcome::kAccepted:
      return saga::v1::STEP_OUTCOME_ACCEPTED;
  }
  return saga::v1::STEP_OUTCOME_UNSPECIFIED;
}

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

// The caller's trace: the traceparent metadata if well formed.
observability::TraceParent IncomingTrace(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(observability::kTraceParentKey);
  if (it == metadata.end()) return {};
  auto parsed = observability::ParseTraceParent(
      std::string_view(it->second.data(), it->second.size()));
  return parsed ? *parsed : observability::TraceParent{};
}

// The calling orchestrator instance, as it names itself in the
// saga-orchestrator-instance metadata; empty when absent.
std::string CallerInstance(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("saga-orchestrator-instance");
  return it == metadata.end()
             ? std::string()
             : std::string(it->second.data(), it->second.size());
}

std::string LowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

ParticipantService::ParticipantService(IdempotentRunner* runner,
                                       const FaultInjector* faults,
                                       const ActionRegistry* actions,
                                       ParticipantMetrics* metrics)
    : runner_(runner), faults_(faults), actions_(actions), metrics_(metrics) {}

grpc::Status ParticipantService::Execute(grpc::ServerContext* context,
                                         const saga::v1::StepRequest* request,
                                         saga::v1::StepResult* response) {
  return Handle(Kind::kExecute, context, *request, response);
}

grpc::Status ParticipantService::Compensate(
    grpc::ServerContext* context, const saga::v1::StepRequest* request,
    saga::v1::StepResult* response) {
  return Handle(Kind::kCompensate, context, *request, response);
}

grpc::Status ParticipantService::Handle(Kind kind, grpc::ServerContext* context,
                                        const saga::v1::StepRequest& request,
                                        saga::v1::StepResult* response) {
  const char* rpc = kind == Kind::kExecute ? "execute" : "compensate";
  const auto started = std::chrono::steady_clock::now();
  const observability::TraceParent trace = IncomingTrace(*context);
  const std::string caller = CallerInstance(*context);
  const bool known_action =
      (kind == Kind::kExecute
           ? actions_->FindExecute(request.action())
           : actions_->FindCompensate(request.action())) != nullptr;
  auto fields = [&] {
    return std::vector<observability::LogField>{
        {"saga_id", request.saga_id()},     {"step", request.step()},
        {"action", request.action()},       {"attempt", request.attempt()},
        {"key", request.idempotency_key()}, {"trace_id", trace.trace_id},
        {"span_id", trace.span_id},         {"caller", caller}};
  };
  // Every answer: one log line and the metrics. `outcome` is the
  // participant's outcome or the gRPC code the call fails with.
  auto finish = [&](const std::string& outcome, const std::string& detail,
                    bool replayed) {
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - started;
    metrics_->RequestFinished(rpc, known_action ? request.action() : "unknown",
                              LowerCase(outcome), replayed, elapsed.count());
    std::vector<observability::LogField> line = fields();
    line.emplace_back("outcome", outcome);
    if (replayed) line.emplace_back("replayed", "true");
    if (!detail.empty()) line.emplace_back("detail", detail);
    line.emplace_back(
        "ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
    observability::Log(spdlog::level::info, rpc, line);
  };

  observability::Log(spdlog::level::debug, std::string(rpc) + " started",
                     fields());
  if (faults_->RefuseAll()) {
    finish("UNAVAILABLE", "refusing all calls (fault injection)", false);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "refusing all calls (fault injection)");
  }
  Clock::time_point deadline = EffectiveDeadline(*context, request);
  if (Clock::now() >= deadline) {
    finish("DEADLINE_EXCEEDED", "the deadline passed before the call started",
           false);
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the deadline passed before the call started");
  }

  StepCall call;
  call.saga_id = request.saga_id();
  call.step = request.step();
  call.action = request.action();
  call.idempotency_key = request.idempotency_key();
  call.original_idempotency_key = request.original_idempotency_key();
  call.attempt = request.attempt();
  call.input_json = request.input_json();
  call.original_output_json = request.original_output_json();
  call.completion_token = request.completion_token();
  absl::StatusOr<ActionResult> result =
      kind == Kind::kExecute ? runner_->Execute(call, deadline)
                             : runner_->Compensate(call, deadline);
  if (!result.ok()) {
    grpc::StatusCode code = ToGrpcCode(result.status().code());
    std::string message(result.status().message());
    finish(absl::StatusCodeToString(result.status().code()), message, false);
    return grpc::Status(code, message);
  }
  response->set_outcome(ToProto(result->outcome));
  if (result->outcome == Outcome::kSucceeded) {
    response->set_output_json(result->output.dump());
  } else {
    response->set_error(result->error);
  }
  finish(OutcomeName(result->outcome), result->error, result->replayed);
  return grpc::Status::OK;
}

}  // namespace saga::participants
