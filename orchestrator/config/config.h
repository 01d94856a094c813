// saga-orchestrator's effective configuration, wherever each setting came
// from (see command_line.h for the precedence and config_yaml.h for the
// file), and what start-up derives from it: the connection string with its
// password, the token table, each participant's TLS.
//
// Secrets: the database password comes from SAGA_DB_PASSWORD or
// database.password_file, never from the config file itself; tokens are
// configured as SHA-256 hashes, inline or in a tokens file.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "security/tls.h"
#include "security/tokens.h"

namespace saga::config {

// A participant's circuit breaker (orchestrator/engine/circuit_breaker.h
// states how it decides).
struct CircuitBreakerSettings {
  bool enabled = true;
  int window_ms = 10000;
  int min_calls = 50;
  int failure_rate_percent = 80;
  int slow_call_ms = 5000;
  int slow_call_rate_percent = 100;
  int open_ms = 2000;
  int half_open_calls = 2;

  bool operator==(const CircuitBreakerSettings&) const = default;
};

// The circuit breaker settings a participant's own section gives; every
// other one comes from the top-level circuit_breaker.
struct CircuitBreakerOverrides {
  std::optional<bool> enabled;
  std::optional<int> window_ms;
  std::optional<int> min_calls;
  std::optional<int> failure_rate_percent;
  std::optional<int> slow_call_ms;
  std::optional<int> slow_call_rate_percent;
  std::optional<int> open_ms;
  std::optional<int> half_open_calls;

  bool operator==(const CircuitBreakerOverrides&) const = default;
};

// Each whole-number circuit breaker setting: its key, where it lives in
// the settings and in a participant's overrides, and its valid range. The
// file reader, --print-config, Validate and CircuitBreakerFor all go by this
// list (`enabled`, the one true/false setting, is handled beside it).
struct CircuitBreakerField {
  const char* key;
  int CircuitBreakerSettings::*setting;
  std::optional<int> CircuitBreakerOverrides::*override;
  int min;
  int max;
};
const std::vector<CircuitBreakerField>& CircuitBreakerFields();

struct ParticipantEndpoint {
  std::string address;  // HOST:PORT
  // TLS for the channel to this participant; when not enabled, the
  // top-level participant_tls applies.
  security::ClientTls tls;
  CircuitBreakerOverrides circuit_breaker;

  bool operator==(const ParticipantEndpoint&) const = default;
};

struct Config {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen;  // empty: no metrics endpoint
  std::string definitions = "sagas";
  std::string migrations = "migrations/orchestrator";

  struct Database {
    std::string dsn;
    std::string password_file;  // empty: none
    int connections = 8;
    int startup_timeout_s = 30;
    bool operator==(const Database&) const = default;
  } database;

  std::map<std::string, ParticipantEndpoint> participants;
  // TLS for every participant channel without TLS settings of its own.
  security::ClientTls participant_tls;
  // The orchestrator's own gRPC server.
  security::ServerTls tls;

  struct Auth {
    std::vector<security::TokenEntry> tokens;
    std::string tokens_file;  // empty: none
    bool operator==(const Auth&) const = default;
  } auth;

  struct Limits {
    size_t max_input_bytes = 256 * 1024;
    int store_threads = 64;      // store reads; writes go through the committer
    size_t max_backlog = 10000;  // sagas driven at once; 0: none
    int max_inflight_per_participant = 256;  // 0: no bound
    bool operator==(const Limits&) const = default;
  } limits;

  // Every participant's circuit breaker, unless it overrides a setting in
  // participants.NAME.circuit_breaker.
  CircuitBreakerSettings circuit_breaker;

  // The outbox dispatcher and the WatchEvents readers (orchestrator/outbox/).
  struct Outbox {
    // http://HOST[:PORT][/PATH] or file:PATH; empty: no dispatcher, messages
    // stay PENDING (for change-data-capture tools).
    std::string sink;
    int poll_ms = 1000;  // readers look for other instances' commits
    int sink_timeout_ms = 10000;
    bool operator==(const Outbox&) const = default;
  } outbox;

  // This instance among those sharing the database: saga leases and the
  // graceful stop (see orchestrator/engine/lease_options.h).
  struct Instance {
    std::string id;  // empty: hostname-pid-random, chosen at start
    int lease_ttl_ms = 15000;
    int claim_interval_ms = 1000;
    int claim_batch = 100;
    int drain_timeout_ms = 10000;
    bool operator==(const Instance&) const = default;
  } instance;

  // Retention and archival (orchestrator/retention/retention_job.h).
  // Each retention is a duration, a whole number with a unit s, m, h or d
  // ("90d"), counted from a saga's last write (its end) or an outbox row's
  // delivery; empty: kept forever.
  struct Retention {
    std::string sagas;         // COMPLETED and COMPENSATED sagas
    std::string failed_sagas;  // FAILED sagas (waiting for an operator)
    // Per saga type; a key a type does not give follows the two above.
    struct Type {
      std::optional<std::string> sagas;
      std::optional<std::string> failed_sagas;
      bool operator==(const Type&) const = default;
    };
    std::map<std::string, Type> types;
    std::string outbox_dispatched;  // DISPATCHED outbox rows
    std::string outbox_pending;     // PENDING ones (no dispatcher)
    // file:DIR: archive each saga there before deleting it; empty: none.
    std::string archive;
    int interval_ms = 60000;  // between passes
    int batch = 500;          // sagas or outbox rows per transaction
    int pause_ms = 100;       // rest between two batches
    bool operator==(const Retention&) const = default;
  } retention;

  // The web console (orchestrator/console/): HTTP on `listen`, HTTPS with
  // the gRPC server's tls settings.
  struct Console {
    std::string listen;  // HOST:PORT; empty: no console
    bool operator==(const Console&) const = default;
  } console;

  struct Logging {
    std::string level = "info";
    std::string format = "text";
    bool operator==(const Logging&) const = default;
  } logging;

  bool operator==(const Config&) const = default;
};

// Checks what needs no file access: required settings, ranges, log level
// and format, TLS settings that fit together, inline tokens. The
// InvalidArgument names the setting as the file does ("database.dsn").
absl::Status Validate(const Config& config);

// A retention setting in milliseconds: 0 for "" (kept forever),
// InvalidArgument naming `setting` for anything but a whole number with a
// unit s, m, h or d.
absl::StatusOr<int64_t> ParseRetentionMs(const std::string& setting,
                                         const std::string& text);

// The directory of retention.archive ("file:DIR"); empty when none.
// InvalidArgument for another form.
absl::StatusOr<std::string> ArchiveDir(const Config& config);

// The connection string to open: database.dsn with the password from
// `password` (SAGA_DB_PASSWORD; empty: none) or else from
// database.password_file (its first line) added. A DSN that carries a
// password itself cannot take another one (InvalidArgument).
absl::StatusOr<std::string> EffectiveDsn(const Config& config,
                                         const std::string& password);

// The inline tokens and those of auth.tokens_file, checked as a whole
// (InvalidArgument naming the file or token). Empty: authentication off.
absl::StatusOr<security::TokenTable> LoadTokens(const Config& config);

// `participant`'s circuit breaker: its own settings over the top-level ones.
CircuitBreakerSettings CircuitBreakerFor(const Config& config,
                                         const std::string& participant);

// The participant's own TLS if it has any, else participant_tls.
security::ClientTls ParticipantTls(const Config& config,
                                   const std::string& participant);

// Channel credentials for each participant that uses TLS, its files read
// and checked (InvalidArgument naming the participant and file).
absl::StatusOr<std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>>
ParticipantCredentials(const Config& config);

// Logs at start-up how the server and each participant channel are
// protected, and warns loudly when authentication is off or bearer tokens
// would travel in plaintext.
void LogSecurity(const Config& config, const security::TokenTable& tokens);

}  // namespace saga::config
