// Process-wide logging set-up and structured log lines.
//
// Every binary takes `--log-level` and `--log-format text|json` and calls
// ConfigureLogging once, before it logs anything. Text lines look like
//   2026-01-31T12:00:00.123 info orchestrator saga event saga=... type=...
// and JSON lines are one object per line:
//   {"time":"2026-01-31T12:00:00.123Z","level":"info","service":"orchestrator",
//    "msg":"saga event","saga_id":"...","saga_type":"...",...}
// Plain spdlog calls keep working; Log() adds named fields, which text
// lines show as key=value after the message and JSON lines as keys.
//
// Never log secrets (connection strings, passwords) or whole payloads
// (saga inputs, step outputs) at info level or above.
//
// Thread-safety: ConfigureLogging before any other thread logs; Log from any
// thread. REQUIRES: the default logger's sinks are synchronous (they are:
// ConfigureLogging installs them), since fields reach the JSON formatter
// through the logging thread.
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace saga::observability {

enum class LogFormat { kText, kJson };

// "text" or "json".
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);

// The level names --log-level accepts: trace, debug, info, warn, error,
// critical, off.
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Sets the default logger's level and line format; `service` names the
// process on every line (e.g. "orchestrator", "saga-doctor"). Lines go to
// `sink` (tests), by default to stdout.
void ConfigureLogging(const std::string& service,
                      spdlog::level::level_enum level, LogFormat format,
                      spdlog::sink_ptr sink = nullptr);

struct LogField {
  LogField(const char* key, std::string_view value)
      : key(key), value(std::string(value)) {}
  LogField(const char* key, const char* value)
      : key(key), value(std::string(value)) {}
  LogField(const char* key, int64_t value) : key(key), value(value) {}
  LogField(const char* key, int value) : key(key), value(int64_t{value}) {}

  const char* key;
  std::variant<std::string, int64_t> value;
};

// One line with named fields (see above). Skips the work when `level` is
// below the logger's.
void Log(spdlog::level::level_enum level, std::string_view message,
         const std::vector<LogField>& fields);

}  // namespace saga::observability
