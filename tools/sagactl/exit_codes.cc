#include "tools/sagactl/exit_codes.h"

#include <string>

#include "absl/strings/cord.h"

namespace saga::sagactl {
namespace {

// Payload type URLs that tell errors sagactl made itself apart from the same
// codes sent by the server (e.g. UNAVAILABLE when its database is down).
constexpr char kUsagePayload[] = "type.sagactl/usage";
constexpr char kUnreachablePayload[] = "type.sagactl/unreachable";
constexpr char kEndedBadlyPayload[] = "type.sagactl/ended-badly";
constexpr char kDivergedPayload[] = "type.sagactl/diverged";
constexpr char kItemsFailedPayload[] = "type.sagactl/items-failed";
constexpr char kInterruptedPayload[] = "type.sagactl/interrupted";

bool HasPayload(const absl::Status& status, const char* type_url) {
  return status.GetPayload(type_url).has_value();
}

}  // namespace

std::string ExitCodesHelp() {
  return "Exit codes:\n"
         "  0  success\n"
         "  1  any other error; the gRPC code name and message are printed\n"
         "     (also: the --timeout of await or start --wait passed first)\n"
         "  2  usage error (bad flag, argument, duration, status or JSON, or\n"
         "     a definition or history file that does not load)\n"
         "  3  not found (unknown saga id or saga type)\n"
         "  4  the orchestrator cannot be reached at --address\n"
         "  5  the saga ended COMPENSATED or FAILED (await, start --wait,\n"
         "     watch)\n"
         "  6  a replayed history diverges from what the code now decides\n"
         "     (replay), or a new definition would strand unfinished sagas\n"
         "     (definitions check)\n"
         "  7  refused: no or unknown token (UNAUTHENTICATED), or the token's\n"
         "     role may not do this (PERMISSION_DENIED)\n"
         "  130 a bulk repair was interrupted (Ctrl-C) after the calls in\n"
         "     flight; a bulk repair with failed items exits 1\n"
         "\n"
         "Environment:\n"
         "  SAGACTL_ADDRESS     default for --address\n"
         "  SAGACTL_TOKEN       bearer token when neither --token nor\n"
         "                      --token-file is given\n"
         "  SAGACTL_TOKEN_FILE  file holding the token, after SAGACTL_TOKEN\n"
         "  SAGACTL_TLS_CA, SAGACTL_TLS_CERT, SAGACTL_TLS_KEY\n"
         "                      defaults for --tls-ca, --tls-cert, --tls-key\n"
         "  SAGACTL_OPERATOR    who is recorded for retry, skip-step and\n"
         "                      mark-compensated (default: the OS user name;\n"
         "                      with tokens, after the token's name)\n";
}

absl::Status UsageError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(std::string(message));
  status.SetPayload(kUsagePayload, absl::Cord());
  return status;
}

absl::Status UnreachableError(std::string_view address,
                              std::string_view detail) {
  absl::Status status =
      absl::UnavailableError("cannot reach the orchestrator at " +
                             std::string(address) + ": " + std::string(detail));
  status.SetPayload(kUnreachablePayload, absl::Cord());
  return status;
}

absl::Status SagaEndedBadlyError(std::string_view saga_id,
                                 std::string_view status_name,
                                 std::string_view reason) {
  std::string message =
      "saga " + std::string(saga_id) + " ended " + std::string(status_name);
  if (!reason.empty()) message += ": " + std::string(reason);
  absl::Status status = absl::AbortedError(message);
  status.SetPayload(kEndedBadlyPayload, absl::Cord());
  return status;
}

absl::Status DivergedError(std::string_view message) {
  absl::Status status = absl::AbortedError(std::string(message));
  status.SetPayload(kDivergedPayload, absl::Cord());
  return status;
}

absl::Status BulkItemsFailedError(std::string_view message) {
  absl::Status status = absl::AbortedError(std::string(message));
  status.SetPayload(kItemsFailedPayload, absl::Cord());
  return status;
}

absl::Status InterruptedError(std::string_view message) {
  absl::Status status = absl::CancelledError(std::string(message));
  status.SetPayload(kInterruptedPayload, absl::Cord());
  return status;
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (HasPayload(status, kUsagePayload)) return kExitUsage;
  if (HasPayload(status, kInterruptedPayload)) return kExitInterrupted;
  if (HasPayload(status, kUnreachablePayload)) return kExitUnreachable;
  if (HasPayload(status, kEndedBadlyPayload)) return kExitSagaEndedBadly;
  if (HasPayload(status, kDivergedPayload)) return kExitDiverged;
  if (status.code() == absl::StatusCode::kNotFound) return kExitNotFound;
  if (status.code() == absl::StatusCode::kUnauthenticated ||
      status.code() == absl::StatusCode::kPermissionDenied) {
    return kExitDenied;
  }
  return kExitError;
}

std::string ErrorLine(const absl::Status& status) {
  std::string line = "sagactl: ";
  if (!HasPayload(status, kUsagePayload) &&
      !HasPayload(status, kUnreachablePayload) &&
      !HasPayload(status, kEndedBadlyPayload) &&
      !HasPayload(status, kDivergedPayload) &&
      !HasPayload(status, kItemsFailedPayload) &&
      !HasPayload(status, kInterruptedPayload)) {
    line += absl::StatusCodeToString(status.code());
    line += ": ";
  }
  line += std::string(status.message());
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace saga::sagactl
