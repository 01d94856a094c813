#include "participants/common/participant_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

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
  }
  return saga::v1::STEP_OUTCOME_UNSPECIFIED;
}

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

}  // namespace

ParticipantService::ParticipantService(IdempotentRunner* runner,
                                       const FaultInjector* faults)
    : runner_(runner), faults_(faults) {}

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
  auto started = std::chrono::steady_clock::now();
  auto log = [&](const std::string& outcome, const std::string& detail) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    spdlog::info(
        "{} saga={} step={} action={} attempt={} key={} outcome={}{}{} "
        "({} ms)",
        rpc, request.saga_id(), request.step(), request.action(),
        request.attempt(), request.idempotency_key(), outcome,
        detail.empty() ? "" : ": ", detail, elapsed.count());
  };

  spdlog::debug("{} saga={} step={} action={} attempt={} key={} started", rpc,
                request.saga_id(), request.step(), request.action(),
                request.attempt(), request.idempotency_key());
  if (faults_->RefuseAll()) {
    log("UNAVAILABLE", "refusing all calls (fault injection)");
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "refusing all calls (fault injection)");
  }
  Clock::time_point deadline = EffectiveDeadline(*context, request);
  if (Clock::now() >= deadline) {
    log("DEADLINE_EXCEEDED", "the deadline passed before the call started");
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the deadline passed before the call started");
  }
  if (auto latency = faults_->LatencyFor(request.action());
      latency.count() > 0) {
    std::this_thread::sleep_for(latency);
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
  absl::StatusOr<ActionResult> result =
      kind == Kind::kExecute ? runner_->Execute(call, deadline)
                             : runner_->Compensate(call, deadline);
  if (!result.ok()) {
    grpc::StatusCode code = ToGrpcCode(result.status().code());
    std::string message(result.status().message());
    log(absl::StatusCodeToString(result.status().code()), message);
    return grpc::Status(code, message);
  }
  response->set_outcome(ToProto(result->outcome));
  if (result->outcome == Outcome::kSucceeded) {
    response->set_output_json(result->output.dump());
  } else {
    response->set_error(result->error);
  }
  log(std::string(OutcomeName(result->outcome)) +
          (result->replayed ? " (replayed)" : ""),
      result->error);
  return grpc::Status::OK;
}

}  // namespace saga::participants
