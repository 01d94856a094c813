// saga-orchestrator's command line. Settings come from, in rising
// precedence: built-in defaults < the config file (--config FILE or
// SAGA_CONFIG) < environment variables < flags. Every setting flag
// --some-flag has the environment variable SAGA_SOME_FLAG (--db: SAGA_DB,
// --participant: SAGA_PARTICIPANT, comma-separated); SAGA_DB_PASSWORD is
// read from the environment only.
#pragma once

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/config/config.h"

namespace saga::config {

struct CommandLine {
  Config config;            // merged and Validated
  std::string config_file;  // empty: none
  bool print_config = false;
  bool migrate_only = false;
  bool help_shown = false;  // --help was printed: exit 0
  // SAGA_DB_PASSWORD (a secret: never printed); empty when unset.
  std::string db_password;
};

// Parses flags and the environment, reads the config file, merges and
// Validates. --help goes to `out`. InvalidArgument for a bad flag, file or
// value: the message names it (exit code 2).
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                             std::ostream& out);

}  // namespace saga::config
