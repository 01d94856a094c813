#include "orchestrator/config/command_line.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/config/config_yaml.h"

namespace saga::config {
namespace {

// "--db-connections" -> "SAGA_DB_CONNECTIONS".
std::string EnvName(const std::string& flag) {
  std::string name = "SAGA_";
  for (char c : flag.substr(2)) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  }
  return name;
}

// Setting flags: each binds to a value of its own, and is applied over the
// file's settings only when given (on the command line or through its
// environment variable), which is what makes flags and the environment
// override the file.
class Overrides {
 public:
  explicit Overrides(CLI::App& app) : app_(app) {}

  template <typename T>
  CLI::Option* Option(const std::string& flag, const std::string& help,
                      std::function<T&(Config&)> field) {
    Config defaults;
    auto value = std::make_shared<T>(field(defaults));
    CLI::Option* option = app_.add_option(flag, *value, help)
                              ->envname(EnvName(flag))
                              ->capture_default_str();
    apply_.push_back([option, value, field](Config& config) {
      if (option->count() > 0) field(config) = *value;
    });
    return option;
  }

  CLI::Option* Flag(const std::string& flag, const std::string& help,
                    std::function<bool&(Config&)> field) {
    auto value = std::make_shared<bool>(false);
    CLI::Option* option =
        app_.add_flag(flag, *value, help)->envname(EnvName(flag));
    apply_.push_back([option, value, field](Config& config) {
      if (option->count() > 0) field(config) = *value;
    });
    return option;
  }

  // A flag (and its variable) that an earlier version had: giving it is an
  // error that says what replaced it.
  void Retired(const std::string& flag, const std::string& replaced_by) {
    auto value = std::make_shared<std::string>();
    CLI::Option* option = app_.add_option(flag, *value)
                              ->envname(EnvName(flag))
                              ->group("");  // not in --help
    retired_.push_back(
        {option, flag + " (" + EnvName(flag) +
                     ") is no longer supported: " + replaced_by});
  }

  // --participant NAME=HOST:PORT (repeatable): sets that participant's
  // address, keeping its TLS settings from the file.
  void Participants(const std::string& flag, const std::string& help) {
    app_.add_option(flag, participant_entries_, help)
        ->envname(EnvName(flag))
        ->delimiter(',');
  }

  // InvalidArgument for a malformed --participant or a retired flag.
  absl::Status ApplyTo(Config& config) const {
    for (const auto& [option, message] : retired_) {
      if (option->count() > 0) return absl::InvalidArgumentError(message);
    }
    for (const auto& apply : apply_) apply(config);
    for (const std::string& entry : participant_entries_) {
      const auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
        return absl::InvalidArgumentError("--participant '" + entry +
                                          "': expected NAME=HOST:PORT");
      }
      config.participants[entry.substr(0, eq)].address = entry.substr(eq + 1);
    }
    return absl::OkStatus();
  }

 private:
  CLI::App& app_;
  std::vector<std::function<void(Config&)>> apply_;
  std::vector<std::pair<CLI::Option*, std::string>> retired_;
  std::vector<std::string> participant_entries_;
};

void AddSettingFlags(Overrides& o) {
  o.Option<std::string>(
      "--listen", "gRPC listen address HOST:PORT",
      [](Config & c) -> auto& { return c.listen; });
  o.Option<std::string>(
      "--metrics-listen",
      "HOST:PORT to serve Prometheus metrics on (/metrics); port 0 picks a "
      "free one; empty: no metrics endpoint",
      [](Config & c) -> auto& { return c.metrics_listen; });
  o.Option<std::string>(
      "--console-listen",
      "HOST:PORT to serve the web console on (HTTPS with --tls-cert); port 0 "
      "picks a free one; empty: no console",
      [](Config & c) -> auto& { return c.console.listen; });
  o.Option<std::string>(
      "--definitions", "Directory of saga definitions (*.yaml)",
      [](Config & c) -> auto& { return c.definitions; });
  o.Option<std::string>(
      "--migrations", "Directory of the orchestrator's SQL migrations",
      [](Config & c) -> auto& { return c.migrations; });
  o.Option<std::string>(
      "--db",
      "PostgreSQL connection string (its password is better given with "
      "SAGA_DB_PASSWORD or --db-password-file)",
      [](Config & c) -> auto& { return c.database.dsn; });
  o.Option<std::string>(
      "--db-password-file", "File whose first line is the database password",
      [](Config & c) -> auto& { return c.database.password_file; });
  o.Option<int>(
      "--db-connections", "Connections to the database",
      [](Config & c) -> auto& { return c.database.connections; });
  o.Option<int>(
      "--startup-timeout", "Seconds to wait for the database at start-up",
      [](Config & c) -> auto& { return c.database.startup_timeout_s; });
  o.Participants("--participant",
                 "NAME=HOST:PORT of a participant service (repeatable)");
  o.Option<std::string>(
      "--participant-tls-ca",
      "CA bundle (PEM) that participants' certificates must chain to; "
      "turns on TLS to participants",
      [](Config & c) -> auto& { return c.participant_tls.ca_file; });
  o.Option<std::string>(
      "--participant-tls-cert",
      "Client certificate (PEM) presented to participants (mutual TLS)",
      [](Config & c) -> auto& { return c.participant_tls.cert_file; });
  o.Option<std::string>(
      "--participant-tls-key", "Private key of --participant-tls-cert",
      [](Config & c) -> auto& { return c.participant_tls.key_file; });
  o.Option<std::string>(
      "--tls-cert", "Server certificate chain (PEM); turns on TLS",
      [](Config & c) -> auto& { return c.tls.cert_file; });
  o.Option<std::string>(
      "--tls-key", "Private key of --tls-cert (PEM)",
      [](Config & c) -> auto& { return c.tls.key_file; });
  o.Option<std::string>(
      "--tls-client-ca",
      "CA bundle (PEM) that client certificates must chain to",
      [](Config & c) -> auto& { return c.tls.client_ca_file; });
  o.Flag(
      "--tls-require-client-cert",
      "Refuse clients without a valid certificate (mutual TLS)",
      [](Config & c) -> auto& { return c.tls.require_client_cert; });
  o.Option<std::string>(
      "--retention-sagas",
      "Delete COMPLETED and COMPENSATED sagas this long after they ended "
      "(e.g. 90d; s, m, h or d); empty: keep",
      [](Config & c) -> auto& { return c.retention.sagas; });
  o.Option<std::string>(
      "--retention-failed-sagas",
      "Delete FAILED sagas this long after their last change; empty "
      "(default): keep them for an operator",
      [](Config & c) -> auto& { return c.retention.failed_sagas; });
  o.Option<std::string>(
      "--retention-outbox-dispatched",
      "Delete DISPATCHED outbox rows this long after delivery; empty: keep",
      [](Config & c) -> auto& { return c.retention.outbox_dispatched; });
  o.Option<std::string>(
      "--archive",
      "file:DIR: write each saga's history there (gzip JSON lines, the "
      "sagactl export format) before retention deletes it",
      [](Config & c) -> auto& { return c.retention.archive; });
  o.Option<std::string>(
      "--tokens-file",
      "YAML file of bearer tokens (name, role, sha256); with any token "
      "configured, every call must authenticate",
      [](Config & c) -> auto& { return c.auth.tokens_file; });
  o.Option<size_t>(
      "--max-input-bytes", "Largest accepted saga input",
      [](Config & c) -> auto& { return c.limits.max_input_bytes; });
  o.Option<int>(
      "--store-threads",
      "Threads that wait on store reads (recovery, reloads); writes are "
      "group-committed by the engine's committer",
      [](Config & c) -> auto& { return c.limits.store_threads; });
  o.Option<size_t>(
      "--max-backlog",
      "Most sagas driven at once; past it StartSaga answers "
      "RESOURCE_EXHAUSTED and writes nothing (0: no bound)",
      [](Config & c) -> auto& { return c.limits.max_backlog; });
  o.Option<int>(
      "--max-inflight-per-participant",
      "Most calls in flight to one participant; more wait in the "
      "engine, in order (0: no bound)",
      [](Config & c) -> auto& {
        return c.limits.max_inflight_per_participant;
      });
  o.Option<bool>(
      "--circuit-breaker",
      "Circuit breakers in front of participants: true or false",
      [](Config & c) -> auto& { return c.circuit_breaker.enabled; });
  o.Option<int>(
      "--circuit-window-ms",
      "Sliding window over which a participant's failure and slow-call "
      "rates are counted",
      [](Config & c) -> auto& { return c.circuit_breaker.window_ms; });
  o.Option<int>(
      "--circuit-min-calls",
      "Calls the window must hold before the rates may open the circuit",
      [](Config & c) -> auto& { return c.circuit_breaker.min_calls; });
  o.Option<int>(
      "--circuit-failure-rate",
      "Percentage of failed calls (retryable, transport, timeout) that "
      "opens the circuit",
      [](Config & c) -> auto& {
        return c.circuit_breaker.failure_rate_percent;
      });
  o.Option<int>(
      "--circuit-slow-call-ms",
      "A call that takes this long, or times out, is slow",
      [](Config & c) -> auto& { return c.circuit_breaker.slow_call_ms; });
  o.Option<int>(
      "--circuit-slow-call-rate",
      "Percentage of slow calls that opens the circuit",
      [](Config & c) -> auto& {
        return c.circuit_breaker.slow_call_rate_percent;
      });
  o.Option<int>(
      "--circuit-open-ms",
      "How long an open circuit parks calls before trial calls",
      [](Config & c) -> auto& { return c.circuit_breaker.open_ms; });
  o.Option<int>(
      "--circuit-half-open-calls",
      "Trial calls a half-open circuit sends at once; their rates close or "
      "reopen it",
      [](Config & c) -> auto& { return c.circuit_breaker.half_open_calls; });
  o.Retired("--circuit-failure-threshold",
            "the circuit now opens on a failure rate: see "
            "--circuit-failure-rate, --circuit-min-calls and "
            "--circuit-window-ms; --circuit-breaker=false turns it off");
  o.Retired("--circuit-ramp-to",
            "a half-open circuit now sends --circuit-half-open-calls trial "
            "calls and closes or reopens by their rates");
  o.Option<std::string>(
      "--outbox-sink",
      "Deliver outbox messages to http://HOST[:PORT][/PATH] (POST JSON "
      "batches) or file:PATH (JSON lines) and mark them DISPATCHED; empty "
      "(default): no dispatcher, messages stay PENDING (for "
      "change-data-capture tools)",
      [](Config & c) -> auto& { return c.outbox.sink; });
  o.Option<int>(
      "--outbox-poll-ms",
      "How often outbox readers (WatchEvents, the dispatcher) look for "
      "messages committed by other orchestrators",
      [](Config & c) -> auto& { return c.outbox.poll_ms; });
  o.Option<int>(
      "--outbox-sink-timeout-ms",
      "Longest one delivery to the outbox sink may take",
      [](Config & c) -> auto& { return c.outbox.sink_timeout_ms; });
  o.Option<std::string>(
      "--instance-id",
      "This instance's name in saga leases and histories; unique among the "
      "instances sharing the database (default: hostname-pid-random). A "
      "stable id lets a restart resume its sagas without waiting for their "
      "leases to expire",
      [](Config & c) -> auto& { return c.instance.id; });
  o.Option<int>(
      "--lease-ttl-ms",
      "How long a saga's lease lasts without renewal: after a "
      "crash, the instance's sagas move to others this long later",
      [](Config & c) -> auto& { return c.instance.lease_ttl_ms; });
  o.Option<int>(
      "--claim-interval-ms",
      "How often to look for sagas with free or expired leases",
      [](Config & c) -> auto& { return c.instance.claim_interval_ms; });
  o.Option<int>(
      "--claim-batch",
      "Most sagas claimed at a time (recovery's later batches grow to 5000)",
      [](Config & c) -> auto& { return c.instance.claim_batch; });
  o.Option<int>(
      "--drain-timeout-ms",
      "On SIGTERM, longest wait for participant calls in flight "
      "to land and commit",
      [](Config & c) -> auto& { return c.instance.drain_timeout_ms; });
  o.Option<std::string>(
      "--log-level", "trace, debug, info, warn, error, critical or off",
      [](Config & c) -> auto& { return c.logging.level; });
  o.Option<std::string>(
      "--log-format", "text, or json for one JSON object per line",
      [](Config & c) -> auto& { return c.logging.format; });
}

absl::StatusOr<Config> ReadConfigFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError("cannot read config file " + path + ": " +
                                      std::strerror(errno));
  }
  return ParseConfigYaml(std::string(std::istreambuf_iterator<char>(file),
                                     std::istreambuf_iterator<char>()),
                         path);
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                             std::ostream& out) {
  CommandLine result;
  CLI::App app{
      "saga-orchestrator: runs persisted saga state machines.\n"
      "Settings: defaults < --config FILE < SAGA_* environment < flags."};
  app.add_option("--config", result.config_file,
                 "YAML config file (see config/orchestrator.example.yaml)")
      ->envname("SAGA_CONFIG");
  app.add_flag("--print-config", result.print_config,
               "Print the effective configuration (secrets masked) and exit");
  app.add_flag("--migrate-only", result.migrate_only,
               "Apply migrations and exit");
  Overrides overrides(app);
  AddSettingFlags(overrides);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream error;
    const int code = app.exit(e, out, error);
    if (code == 0) {
      result.help_shown = true;
      return result;
    }
    std::string message = error.str().empty() ? e.what() : error.str();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return absl::InvalidArgumentError(message);
  }
  if (!result.config_file.empty()) {
    auto from_file = ReadConfigFile(result.config_file);
    if (!from_file.ok()) return from_file.status();
    result.config = *std::move(from_file);
  }
  if (absl::Status applied = overrides.ApplyTo(result.config); !applied.ok()) {
    return applied;
  }
  if (const char* password = std::getenv("SAGA_DB_PASSWORD")) {
    result.db_password = password;
  }
  if (absl::Status valid = Validate(result.config); !valid.ok()) {
    return valid;
  }
  return result;
}

}  // namespace saga::config
