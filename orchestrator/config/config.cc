#include "orchestrator/config/config.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

#include "observability/logging.h"
#include "orchestrator/config/config_yaml.h"
#include "orchestrator/config/dsn.h"

namespace saga::config {
namespace {

// Bounds that keep a typo from starving or flooding the process.
constexpr int kMaxDbConnections = 256;
constexpr int kMaxStoreThreads = 1024;
constexpr int kMaxStartupTimeoutS = 3600;
// gRPC's receive limit is an int, and the input must fit in it with room.
constexpr size_t kMaxInputBytesLimit = 64 * 1024 * 1024;

absl::Status Invalid(const std::string& setting, absl::string_view problem) {
  return absl::InvalidArgumentError(setting + ": " + std::string(problem));
}

absl::Status InRange(const std::string& setting, int64_t value, int64_t low,
                     int64_t high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return Invalid(setting, "must be between " + std::to_string(low) + " and " +
                              std::to_string(high) + ", not " +
                              std::to_string(value));
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const std::string& what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError("cannot read " + what + " " + path +
                                      ": " + std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

constexpr int kMaxMs = 3600 * 1000;

// One circuit breaker's settings, named under `path` ("circuit_breaker" or
// "participants.NAME.circuit_breaker").
absl::Status ValidateCircuitBreaker(const CircuitBreakerSettings& settings,
                                    const std::string& path) {
  absl::Status status;
  for (const CircuitBreakerField& field : CircuitBreakerFields()) {
    status.Update(InRange(path + "." + field.key, settings.*field.setting,
                          field.min, field.max));
  }
  return status;
}

}  // namespace

const std::vector<CircuitBreakerField>& CircuitBreakerFields() {
  using S = CircuitBreakerSettings;
  using O = CircuitBreakerOverrides;
  static const std::vector<CircuitBreakerField> kFields = {
      {"window_ms", &S::window_ms, &O::window_ms, 100, kMaxMs},
      {"min_calls", &S::min_calls, &O::min_calls, 1, 1000000},
      {"failure_rate_percent", &S::failure_rate_percent,
       &O::failure_rate_percent, 1, 100},
      {"slow_call_ms", &S::slow_call_ms, &O::slow_call_ms, 1, kMaxMs},
      {"slow_call_rate_percent", &S::slow_call_rate_percent,
       &O::slow_call_rate_percent, 1, 100},
      {"open_ms", &S::open_ms, &O::open_ms, 1, kMaxMs},
      {"half_open_calls", &S::half_open_calls, &O::half_open_calls, 1, 10000},
  };
  return kFields;
}

CircuitBreakerSettings CircuitBreakerFor(const Config& config,
                                         const std::string& participant) {
  CircuitBreakerSettings settings = config.circuit_breaker;
  auto it = config.participants.find(participant);
  if (it == config.participants.end()) return settings;
  const CircuitBreakerOverrides& own = it->second.circuit_breaker;
  if (own.enabled) settings.enabled = *own.enabled;
  for (const CircuitBreakerField& field : CircuitBreakerFields()) {
    if (own.*field.override) settings.*field.setting = *(own.*field.override);
  }
  return settings;
}

namespace {

absl::Status ValidateRetention(const Config::Retention& retention) {
  absl::Status status;
  auto duration = [&](const std::string& setting, const std::string& text) {
    status.Update(ParseRetentionMs(setting, text).status());
  };
  duration("retention.sagas", retention.sagas);
  duration("retention.failed_sagas", retention.failed_sagas);
  for (const auto& [type, own] : retention.types) {
    if (type.empty()) {
      status.Update(Invalid("retention.types", "a saga type name is empty"));
    }
    const std::string path = "retention.types." + type;
    if (own.sagas) duration(path + ".sagas", *own.sagas);
    if (own.failed_sagas) duration(path + ".failed_sagas", *own.failed_sagas);
  }
  duration("retention.outbox_dispatched", retention.outbox_dispatched);
  duration("retention.outbox_pending", retention.outbox_pending);
  status.Update(InRange("retention.interval_ms", retention.interval_ms, 100,
                        24 * 3600 * 1000));
  status.Update(InRange("retention.batch", retention.batch, 1, 10000));
  status.Update(InRange("retention.pause_ms", retention.pause_ms, 0, 60000));
  return status;
}

}  // namespace

absl::StatusOr<int64_t> ParseRetentionMs(const std::string& setting,
                                         const std::string& text) {
  if (text.empty()) return 0;
  int64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = 60 * 1000;
      break;
    case 'h':
      unit_ms = 3600 * 1000;
      break;
    case 'd':
      unit_ms = 24 * 3600 * 1000;
      break;
    default:
      break;
  }
  const std::string digits = text.substr(0, text.size() - 1);
  int64_t count = 0;
  auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (unit_ms == 0 || digits.empty() || error != std::errc() ||
      end != digits.data() + digits.size() || count <= 0 ||
      count > 100 * 365 * 24 * 3600LL * 1000 / unit_ms) {
    return Invalid(setting,
                   "'" + text +
                       "' is not a retention: a positive whole number with "
                       "a unit s, m, h or d (e.g. 90d, 12h), at most 100 "
                       "years; empty keeps forever");
  }
  return count * unit_ms;
}

absl::StatusOr<std::string> ArchiveDir(const Config& config) {
  const std::string& archive = config.retention.archive;
  if (archive.empty()) return std::string();
  constexpr char kScheme[] = "file:";
  if (archive.rfind(kScheme, 0) != 0 || archive.size() == sizeof(kScheme) - 1) {
    return Invalid("retention.archive",
                   "'" + archive +
                       "' is not an archive: file:DIR (a directory for "
                       "gzip-compressed JSON lines); empty: no archive");
  }
  return archive.substr(sizeof(kScheme) - 1);
}

absl::Status Validate(const Config& config) {
  if (config.listen.empty()) return Invalid("listen", "is required");
  if (config.database.dsn.empty()) {
    return Invalid("database.dsn",
                   "is required (config file, --db or SAGA_DB)");
  }
  absl::Status status;
  status.Update(InRange("database.connections", config.database.connections, 1,
                        kMaxDbConnections));
  status.Update(InRange("database.startup_timeout_s",
                        config.database.startup_timeout_s, 0,
                        kMaxStartupTimeoutS));
  status.Update(InRange("limits.store_threads", config.limits.store_threads, 1,
                        kMaxStoreThreads));
  status.Update(InRange("limits.max_input_bytes",
                        static_cast<int64_t>(config.limits.max_input_bytes), 1,
                        kMaxInputBytesLimit));
  status.Update(InRange("limits.max_inflight_per_participant",
                        config.limits.max_inflight_per_participant, 0,
                        1000000));
  status.Update(
      ValidateCircuitBreaker(config.circuit_breaker, "circuit_breaker"));
  status.Update(InRange("outbox.poll_ms", config.outbox.poll_ms, 10, 600000));
  status.Update(InRange("outbox.sink_timeout_ms", config.outbox.sink_timeout_ms,
                        1, 600000));
  status.Update(InRange("instance.lease_ttl_ms", config.instance.lease_ttl_ms,
                        300, 3600 * 1000));
  status.Update(InRange("instance.claim_interval_ms",
                        config.instance.claim_interval_ms, 10, 600 * 1000));
  status.Update(
      InRange("instance.claim_batch", config.instance.claim_batch, 1, 10000));
  status.Update(InRange("instance.drain_timeout_ms",
                        config.instance.drain_timeout_ms, 0, 600 * 1000));
  status.Update(ValidateRetention(config.retention));
  status.Update(ArchiveDir(config).status());
  if (!status.ok()) return status;
  if (auto level = observability::ParseLogLevel(config.logging.level);
      !level.ok()) {
    return Invalid("logging.level", level.status().message());
  }
  if (auto format = observability::ParseLogFormat(config.logging.format);
      !format.ok()) {
    return Invalid("logging.format", format.status().message());
  }
  for (const auto& [name, endpoint] : config.participants) {
    const std::string setting = "participants." + name;
    if (name.empty()) return Invalid("participants", "a name is empty");
    if (endpoint.address.empty()) {
      return Invalid(setting + ".address", "is required");
    }
    if (auto tls = security::CheckClientTls(endpoint.tls); !tls.ok()) {
      return Invalid(setting + ".tls", tls.message());
    }
    if (auto breaker = ValidateCircuitBreaker(CircuitBreakerFor(config, name),
                                              setting + ".circuit_breaker");
        !breaker.ok()) {
      return breaker;
    }
  }
  if (auto tls = security::CheckClientTls(config.participant_tls); !tls.ok()) {
    return Invalid("participant_tls", tls.message());
  }
  if (auto tls = security::CheckServerTls(config.tls); !tls.ok()) {
    return Invalid("tls", tls.message());
  }
  if (auto tokens = security::TokenTable::Create(config.auth.tokens);
      !tokens.ok()) {
    return Invalid("auth.tokens", tokens.status().message());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EffectiveDsn(const Config& config,
                                         const std::string& password) {
  std::string secret = password;
  if (secret.empty() && !config.database.password_file.empty()) {
    auto text =
        ReadFile(config.database.password_file, "database.password_file");
    if (!text.ok()) return text.status();
    secret = text->substr(0, text->find_first_of("\r\n"));
    if (secret.empty()) {
      return absl::InvalidArgumentError("database.password_file " +
                                        config.database.password_file +
                                        " is empty");
    }
  }
  if (secret.empty()) return config.database.dsn;
  if (DsnHasPassword(config.database.dsn)) {
    return absl::InvalidArgumentError(
        "database.dsn has a password and another one is given "
        "(SAGA_DB_PASSWORD or database.password_file): keep one");
  }
  return DsnWithPassword(config.database.dsn, secret);
}

absl::StatusOr<security::TokenTable> LoadTokens(const Config& config) {
  std::vector<security::TokenEntry> tokens = config.auth.tokens;
  const std::string& path = config.auth.tokens_file;
  if (!path.empty()) {
    auto text = ReadFile(path, "auth.tokens_file");
    if (!text.ok()) return text.status();
    auto from_file = ParseTokensYaml(*text, path);
    if (!from_file.ok()) return from_file.status();
    tokens.insert(tokens.end(), from_file->begin(), from_file->end());
  }
  auto table = security::TokenTable::Create(tokens);
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        "auth.tokens" + (path.empty() ? "" : " and " + path) + ": " +
        std::string(table.status().message()));
  }
  return table;
}

security::ClientTls ParticipantTls(const Config& config,
                                   const std::string& participant) {
  auto it = config.participants.find(participant);
  if (it != config.participants.end() && it->second.tls.enabled()) {
    return it->second.tls;
  }
  return config.participant_tls;
}

absl::StatusOr<std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>>>
ParticipantCredentials(const Config& config) {
  std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>> result;
  for (const auto& [name, endpoint] : config.participants) {
    const security::ClientTls tls = ParticipantTls(config, name);
    if (!tls.enabled()) continue;
    auto credentials = security::MakeChannelCredentials(tls);
    if (!credentials.ok()) {
      return Invalid("participants." + name, credentials.status().message());
    }
    result[name] = *std::move(credentials);
  }
  return result;
}

void LogSecurity(const Config& config, const security::TokenTable& tokens) {
  spdlog::info("gRPC server: {}", security::Describe(config.tls));
  for (const auto& [name, endpoint] : config.participants) {
    spdlog::info("participant {}: {}", name,
                 security::Describe(ParticipantTls(config, name)));
  }
  if (tokens.empty()) {
    spdlog::warn(
        "AUTHENTICATION IS OFF: no tokens are configured, so every caller "
        "may start, cancel and repair any saga; configure auth.tokens or "
        "--tokens-file before exposing this service");
    return;
  }
  spdlog::info("authentication on: {} bearer tokens", tokens.size());
  if (!config.tls.enabled()) {
    spdlog::warn(
        "bearer tokens travel in plaintext: configure tls (--tls-cert, "
        "--tls-key) unless the network is trusted");
  }
}

}  // namespace saga::config
