// What `sagactl participant list / pause / resume` print for people
// (-o json prints the API's answer with RenderJson). Pure: the current time
// comes in as an argument.
#pragma once

#include <cstdint>
#include <string>

#include "saga/v1/orchestrator.pb.h"

namespace saga::sagactl {

// "CLOSED", "OPEN", "HALF_OPEN"; an unknown value as its number.
std::string CircuitStateName(v1::CircuitState state);

// One row per participant: name, address, circuit, calls in flight and
// parked, the last minute's calls and failures (with their rate), and the
// pause ("-", or "<age> ago by <who>: <reason>").
std::string RenderParticipantsTable(const v1::ListParticipantsResponse& list,
                                    int64_t now_unix_ms);

// The outcome of pause (`paused` true) or resume, in one line.
std::string RenderPauseChange(const v1::ParticipantInfo& participant,
                              bool changed, bool paused, int64_t now_unix_ms);

}  // namespace saga::sagactl
