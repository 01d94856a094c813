// How sagactl turns an outcome into a process exit code and one error line.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace saga::sagactl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitUnreachable = 4;
inline constexpr int kExitSagaEndedBadly = 5;
inline constexpr int kExitDiverged = 6;
inline constexpr int kExitDenied = 7;
// As a shell reports a process ended by SIGINT (128 + 2).
inline constexpr int kExitInterrupted = 130;

// The `sagactl --help` footer that documents the codes above.
std::string ExitCodesHelp();

// A mistake in the command line or its arguments, found before any call:
// InvalidArgument, marked so that ExitCodeFor gives kExitUsage.
absl::Status UsageError(std::string_view message);

// The orchestrator at `address` could not be reached (no connection, or no
// answer before the deadline while connecting): Unavailable, marked so that
// ExitCodeFor gives kExitUnreachable.
absl::Status UnreachableError(std::string_view address,
                              std::string_view detail);

// A saga that `await` or `start --wait` watched ended COMPENSATED or FAILED:
// Aborted, marked so that ExitCodeFor gives kExitSagaEndedBadly.
absl::Status SagaEndedBadlyError(std::string_view saga_id,
                                 std::string_view status_name,
                                 std::string_view reason);

// A replayed history diverged from what the code now decides (`replay`), or
// a new definition would strand unfinished sagas (`definitions check`):
// Aborted, marked so that ExitCodeFor gives kExitDiverged. The report itself
// was already printed; `message` summarises it.
absl::Status DivergedError(std::string_view message);

// A bulk repair over a filter left some sagas unrepaired (the per-saga
// results were already printed; `message` summarises them): Aborted, marked
// so that ErrorLine prints `message` without a code name (exit kExitError).
absl::Status BulkItemsFailedError(std::string_view message);

// A bulk repair stopped on Ctrl-C after the items in flight (what was done
// and what was not was already printed): Cancelled, marked so that
// ExitCodeFor gives kExitInterrupted.
absl::Status InterruptedError(std::string_view message);

// kExitUsage for UsageError, kExitInterrupted for InterruptedError,
// kExitSagaEndedBadly for SagaEndedBadlyError,
// kExitDiverged for DivergedError,
// kExitUnreachable for UnreachableError, kExitNotFound for NOT_FOUND,
// kExitDenied for UNAUTHENTICATED and PERMISSION_DENIED, kExitOk for OK and
// kExitError otherwise (an INVALID_ARGUMENT or UNAVAILABLE from the server
// included).
int ExitCodeFor(const absl::Status& status);

// The single line (without '\n') that sagactl prints on stderr for a failed
// `status`: "sagactl: <message>" for the errors made above, else
// "sagactl: <CODE_NAME>: <message>".
std::string ErrorLine(const absl::Status& status);

}  // namespace saga::sagactl
