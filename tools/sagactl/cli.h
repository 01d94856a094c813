// The sagactl command line: parsing, wiring of commands to the client and the
// renderers, and exit codes. main.cc only forwards to RunCli.
#pragma once

#include <iosfwd>

namespace saga::sagactl {

// Runs `sagactl argv[1..]`: results go to `out`, error lines and notes to
// `err`, "@-" inputs are read from `in`. Returns the process exit code (see
// exit_codes.h). Reads SAGACTL_ADDRESS from the environment.
int RunCli(int argc, const char* const* argv, std::istream& in,
           std::ostream& out, std::ostream& err);

}  // namespace saga::sagactl
