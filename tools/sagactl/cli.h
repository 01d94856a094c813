// The sagactl command line: the table of commands (`sagactl NOUN VERB`, and
// the short forms of earlier releases as aliases), the global flags, the
// generated help, and the exit codes. The commands themselves live in
// saga_commands.cc, definition_commands.cc and event_commands.cc; main.cc
// only forwards to RunCli.
#pragma once

#include <iosfwd>

namespace saga::sagactl {

// Runs `sagactl argv[1..]`: results go to `out`, error lines and notes to
// `err`, "@-" inputs are read from `in`. Returns the process exit code (see
// exit_codes.h). Reads SAGACTL_ADDRESS from the environment.
int RunCli(int argc, const char* const* argv, std::istream& in,
           std::ostream& out, std::ostream& err);

}  // namespace saga::sagactl
