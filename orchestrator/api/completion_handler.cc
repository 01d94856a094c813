// CompleteStep: a participant reports the result of an asynchronous step's
// call it accepted. Authorize, check the request, hand it to the engine,
// convert the answer. The completion token is a secret: it is never logged
// and never echoed.
#include <spdlog/spdlog.h>

#include "orchestrator/api/orchestrator_service.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/status_mapping.h"
#include "orchestrator/core/input.h"

namespace saga::api {
namespace {

// Longest completion token accepted; the orchestrator hands out 32 hex
// digits.
constexpr size_t kMaxTokenLength = 128;

// The one answer to a token that completes nothing, whatever the reason
// (unknown saga or step, wrong, spent or expired token), so a caller
// learns nothing about sagas it holds no token for.
grpc::Status NotAccepted(const v1::CompleteStepRequest& request) {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "completion token not accepted for saga " +
                          request.saga_id() + " step '" + request.step() +
                          "': unknown, already used, or its attempt has ended");
}

// The result as the engine takes it: outcome, canonical output, error.
struct Completion {
  core::CallOutcome outcome = core::CallOutcome::kSucceeded;
  std::string output_json;
  std::string error;
};

absl::StatusOr<Completion> CheckResult(const v1::StepResult& result,
                                       size_t max_output_bytes) {
  Completion completion;
  switch (result.outcome()) {
    case v1::STEP_OUTCOME_SUCCEEDED: {
      if (!result.error().empty()) {
        return absl::InvalidArgumentError(
            "result.error must be empty when the outcome is SUCCEEDED");
      }
      auto output = core::ValidateJsonObject(
          "result.output_json",
          result.output_json().empty() ? "{}" : result.output_json(),
          max_output_bytes);
      if (!output.ok()) return output.status();
      completion.output_json = *std::move(output);
      return completion;
    }
    case v1::STEP_OUTCOME_BUSINESS_FAILURE: {
      if (!result.output_json().empty()) {
        return absl::InvalidArgumentError(
            "result.output_json must be empty when the outcome is "
            "BUSINESS_FAILURE");
      }
      if (absl::Status error = CheckText("result.error", result.error(),
                                         kMaxReasonLength, /*required=*/true);
          !error.ok()) {
        return error;
      }
      completion.outcome = core::CallOutcome::kBusinessFailure;
      completion.error = result.error();
      return completion;
    }
    default:
      return absl::InvalidArgumentError(
          "result.outcome must be STEP_OUTCOME_SUCCEEDED or "
          "STEP_OUTCOME_BUSINESS_FAILURE, got " +
          v1::StepOutcome_Name(result.outcome()));
  }
}

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::CompleteStep(
    grpc::CallbackServerContext* context,
    const v1::CompleteStepRequest* request,
    v1::CompleteStepResponse* /*response*/) {
  auto* reactor = context->DefaultReactor();
  if (!Admit(context, reactor, "CompleteStep")) return reactor;
  if (auto valid =
          FirstError({CheckSagaId("saga_id", request->saga_id()),
                      CheckText("step", request->step(), kMaxNameLength,
                                /*required=*/true),
                      CheckText("completion_token", request->completion_token(),
                                kMaxTokenLength, /*required=*/true)});
      !valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  absl::StatusOr<Completion> completion =
      CheckResult(request->result(), options_.max_json_bytes);
  if (!completion.ok()) {
    reactor->Finish(ToGrpcStatus(completion.status()));
    return reactor;
  }
  engine_->CompleteStep(
      request->saga_id(), request->step(), request->completion_token(),
      completion->outcome, std::move(completion->output_json),
      std::move(completion->error), [reactor, request](absl::Status completed) {
        // NotFound: the saga ended here while the completion queued.
        if (absl::IsFailedPrecondition(completed) ||
            absl::IsNotFound(completed)) {
          // The real reason, for the operators; never the token.
          spdlog::info("CompleteStep refused for saga {} step '{}': {}",
                       request->saga_id(), request->step(),
                       std::string(completed.message()));
          reactor->Finish(NotAccepted(*request));
          return;
        }
        reactor->Finish(ToGrpcStatus(completed));
      });
  return reactor;
}

}  // namespace saga::api
