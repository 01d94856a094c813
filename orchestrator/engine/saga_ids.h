// Identifiers and random draws made outside the engine thread.
#pragma once

#include <string>

namespace saga::engine {

// A random (version 4) UUID in its canonical text form.
std::string NewSagaId();

// A completion token (see core::DecideContext): 128 bits from the operating
// system's random source, as 32 lowercase hex digits. Unguessable, unlike
// the per-thread generator's draws.
std::string NewCompletionToken();

// A uniform draw in [0, 1) from a per-thread generator.
double ThreadLocalUnitRandom();

}  // namespace saga::engine
