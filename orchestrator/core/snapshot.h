// Snapshots of a saga's folded state, so that an instance taking a saga
// over reads one row instead of its whole history (docs/architecture.md,
// "Snapshots").
//
// A snapshot is exactly Fold(events 1..last_seq) as a JSON object; the
// events stay the truth, and resuming from a snapshot then applying the
// later events gives the state the whole fold gives (the golden histories
// check this at every event). Only transitions after which a saga may rest
// for long (SagaRests) write one: the hot path of a saga that runs through
// writes none, while a saga parked on a backoff, a wait or a completion
// resumes from one row.
//
// The saga id is not in the snapshot (it is the row's key). kSnapshotFormat
// names the encoding and what Apply derives: change it whenever either
// changes, and older snapshots are refused, so their sagas are folded from
// their histories instead.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/state.h"

namespace saga::core {

inline constexpr int kSnapshotFormat = 1;

// Whether the saga, in this state, waits only for time or the outside world
// (a backoff, a scheduled start, an accepted call's completion, a signal, a
// delay, a child saga) with no call in flight: a state it can rest in for
// long, worth a snapshot.
bool SagaRests(const SagaState& state);

// The state as snapshot JSON (compact; default values are left out).
std::string EncodeSnapshot(const SagaState& state);

// The state a snapshot holds, for saga `saga_id` of `definition`.
// InvalidArgument for another format, malformed JSON or a state that does
// not fit the definition (another type or version, another step count, a
// step index out of range): then fold the history instead.
absl::StatusOr<SagaState> DecodeSnapshot(const SagaDefinition& definition,
                                         const std::string& saga_id,
                                         const std::string& json);

}  // namespace saga::core
