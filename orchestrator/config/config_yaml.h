// The orchestrator's config file (YAML; commented example:
// config/orchestrator.example.yaml) and the tokens file, strictly read: an
// unknown key, a key given twice or a value of the wrong type is an
// InvalidArgument naming the file, the line and the key, e.g.
//   orchestrator.yaml:7: unknown key 'database.dns' (expected one of: ...)
// Pure: text in, text out.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/config/config.h"
#include "security/tokens.h"

namespace saga::config {

// The file's settings over `base` (the defaults). `origin` names the file
// in errors.
absl::StatusOr<Config> ParseConfigYaml(const std::string& yaml,
                                       const std::string& origin,
                                       Config base = {});

// A tokens file: a mapping with one key, `tokens`, holding a list like the
// config file's auth.tokens.
absl::StatusOr<std::vector<security::TokenEntry>> ParseTokensYaml(
    const std::string& yaml, const std::string& origin);

// `config` as YAML in the file's layout, with secrets masked: passwords in
// the DSN and token hashes become "*****"; a tokens file appears by its
// path only. Otherwise ParseConfigYaml reads it back to the same Config.
std::string PrintConfig(const Config& config);

}  // namespace saga::config
