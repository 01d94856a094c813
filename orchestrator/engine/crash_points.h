// Crash points for recovery tests: the orchestrator kills itself (SIGKILL:
// no destructor, no flush, no goodbye) when it reaches a named durable
// boundary, so a test can restart it and check that nothing was lost or
// done twice. Inert unless the environment variable SAGA_CRASH_POINT is
// set: SAGA_CRASH_POINT=NAME crashes the first time NAME is reached,
// NAME:N the N-th time. An unknown NAME makes the process refuse to start
// (CheckCrashPointConfig), so a typo cannot make a test pass vacuously.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace saga::engine {

enum class CrashPoint {
  kAfterStartCommit,         // StartSaga committed; no reply, no call yet
  kAfterStepStartedCommit,   // a step's intent committed; not invoked yet
  kAfterReplyBeforeCommit,   // a participant answered; result not recorded
  kAfterCompensationCommit,  // a compensation succeeded; the next not begun
  kAfterTerminalCommit,      // the saga's end committed; waiters not told
};

// Every point with its name, in the order a saga meets them.
const std::vector<std::pair<CrashPoint, std::string>>& AllCrashPoints();

// InvalidArgument if SAGA_CRASH_POINT is set but malformed or unknown.
absl::Status CheckCrashPointConfig();

// Kills the process if SAGA_CRASH_POINT selects this hit of `point`.
void MaybeCrash(CrashPoint point);

}  // namespace saga::engine
