#include "orchestrator/config/config_yaml.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <type_traits>

#include "orchestrator/config/dsn.h"

namespace saga::config {
namespace {

constexpr char kMaskedSecret[] = "*****";

// Reads YAML nodes into settings, keeping the first error (with file, line
// and the key's dotted path); later reads after an error do nothing.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  const absl::Status& status() const { return status_; }

  void Fail(const YAML::Node& node, const std::string& message) {
    if (!status_.ok()) return;
    std::string where = origin_;
    if (node.Mark().line >= 0) {
      where += ":" + std::to_string(node.Mark().line + 1);
    }
    status_ = absl::InvalidArgumentError(where + ": " + message);
  }

  using Field = std::function<void(const YAML::Node&, const std::string&)>;

  // Calls fields[key] for each key of mapping `node` (at `path`); a key not
  // in `fields`, or given twice, is an error. A null node (an empty
  // section) has no keys.
  void Map(const YAML::Node& node, const std::string& path,
           const std::map<std::string, Field>& fields) {
    if (!status_.ok() || node.IsNull()) return;
    if (!node.IsMap()) {
      Fail(node, Describe(path) + " must be a mapping of keys to values");
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      const std::string key_path = Join(path, key);
      auto field = fields.find(key);
      if (field == fields.end()) {
        std::string known;
        for (const auto& [name, ignored] : fields) {
          known += (known.empty() ? "" : ", ") + name;
        }
        Fail(entry.first,
             "unknown key '" + key_path + "' (expected one of: " + known + ")");
        return;
      }
      if (!seen.insert(key).second) {
        Fail(entry.first, "key '" + key_path + "' is given twice");
        return;
      }
      field->second(entry.second, key_path);
      if (!status_.ok()) return;
    }
  }

  // Each (key, value) of mapping `node`, for maps keyed by name.
  void Entries(const YAML::Node& node, const std::string& path,
               const std::function<void(const std::string&, const YAML::Node&,
                                        const std::string&)>& each) {
    if (!status_.ok() || node.IsNull()) return;
    if (!node.IsMap()) {
      Fail(node, "'" + path + "' must be a mapping of names to settings");
      return;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      if (!seen.insert(name).second) {
        Fail(entry.first, "'" + Join(path, name) + "' is given twice");
        return;
      }
      each(name, entry.second, Join(path, name));
      if (!status_.ok()) return;
    }
  }

  void Sequence(
      const YAML::Node& node, const std::string& path,
      const std::function<void(const YAML::Node&, const std::string&)>& each) {
    if (!status_.ok() || node.IsNull()) return;
    if (!node.IsSequence()) {
      Fail(node, "'" + path + "' must be a list");
      return;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      each(node[i], path + "[" + std::to_string(i) + "]");
      if (!status_.ok()) return;
    }
  }

  // A null value (`key:` with nothing after it) keeps the current one.
  Field String(std::string& out) {
    return [this, &out](const YAML::Node& node, const std::string& path) {
      if (node.IsNull()) return;
      if (!node.IsScalar()) {
        Fail(node, "'" + path + "' must be a string");
        return;
      }
      out = node.Scalar();
    };
  }

  template <typename Int>
  Field Integer(Int& out) {
    return [this, &out](const YAML::Node& node, const std::string& path) {
      if (node.IsNull()) return;
      const std::string text = node.IsScalar() ? node.Scalar() : "";
      Int value{};
      auto [end, error] =
          std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || error != std::errc() ||
          end != text.data() + text.size()) {
        Fail(node, "'" + path + "' must be a whole number");
        return;
      }
      out = value;
    };
  }

  Field Bool(bool& out) {
    return [this, &out](const YAML::Node& node, const std::string& path) {
      if (node.IsNull()) return;
      const std::string text = node.IsScalar() ? node.Scalar() : "";
      if (text == "true") {
        out = true;
      } else if (text == "false") {
        out = false;
      } else {
        Fail(node, "'" + path + "' must be true or false");
      }
    };
  }

  // Integer or Bool into an optional, set only when the key has a value.
  template <typename T>
  Field Optional(std::optional<T>& out) {
    return [this, &out](const YAML::Node& node, const std::string& path) {
      if (node.IsNull()) return;
      T value{};
      if constexpr (std::is_same_v<T, bool>) {
        Bool(value)(node, path);
      } else {
        Integer(value)(node, path);
      }
      if (status_.ok()) out = value;
    };
  }

  // The top-level circuit_breaker section.
  Field CircuitBreaker(CircuitBreakerSettings& settings) {
    return [this, &settings](const YAML::Node& node, const std::string& path) {
      std::map<std::string, Field> fields = {
          {"enabled", Bool(settings.enabled)}};
      for (const CircuitBreakerField& field : CircuitBreakerFields()) {
        fields.emplace(field.key, Integer(settings.*field.setting));
      }
      RefuseRetiredBreakerKeys(node, path);
      Map(node, path, fields);
    };
  }

  // A participant's own circuit_breaker section: the keys it gives.
  Field CircuitBreakerOverride(CircuitBreakerOverrides& own) {
    return [this, &own](const YAML::Node& node, const std::string& path) {
      std::map<std::string, Field> fields = {
          {"enabled", Optional(own.enabled)}};
      for (const CircuitBreakerField& field : CircuitBreakerFields()) {
        fields.emplace(field.key, Optional(own.*field.override));
      }
      RefuseRetiredBreakerKeys(node, path);
      Map(node, path, fields);
    };
  }

  // The keys of the consecutive-failures breaker, which a file written for
  // an earlier version may still have: an error that says what replaced
  // them, rather than "unknown key".
  void RefuseRetiredBreakerKeys(const YAML::Node& node,
                                const std::string& path) {
    if (!status_.ok() || !node.IsMap()) return;
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      if (key == "failure_threshold") {
        Fail(entry.first,
             "'" + Join(path, key) +
                 "' is no longer supported: the circuit now opens on a "
                 "failure rate (failure_rate_percent of the calls in "
                 "window_ms, once there are min_calls); to turn the breaker "
                 "off, set enabled: false");
        return;
      }
      if (key == "ramp_to") {
        Fail(entry.first,
             "'" + Join(path, key) +
                 "' is no longer supported: a half-open circuit now admits "
                 "half_open_calls trial calls and closes or reopens by "
                 "their rates");
        return;
      }
    }
  }

  Field ServerTls(security::ServerTls& tls) {
    return [this, &tls](const YAML::Node& node, const std::string& path) {
      Map(node, path,
          {{"cert_file", String(tls.cert_file)},
           {"key_file", String(tls.key_file)},
           {"client_ca_file", String(tls.client_ca_file)},
           {"require_client_cert", Bool(tls.require_client_cert)}});
    };
  }

  Field ClientTls(security::ClientTls& tls) {
    return [this, &tls](const YAML::Node& node, const std::string& path) {
      Map(node, path,
          {{"ca_file", String(tls.ca_file)},
           {"cert_file", String(tls.cert_file)},
           {"key_file", String(tls.key_file)}});
    };
  }

  Field Tokens(std::vector<security::TokenEntry>& out) {
    return [this, &out](const YAML::Node& node, const std::string& path) {
      Sequence(node, path, [&](const YAML::Node& item, const std::string& at) {
        security::TokenEntry token;
        std::string role;
        Map(item, at,
            {{"name", String(token.name)},
             {"role", String(role)},
             {"sha256", String(token.sha256_hex)}});
        if (!status_.ok()) return;
        if (token.name.empty() || role.empty() || token.sha256_hex.empty()) {
          Fail(item, "'" + at + "' needs a name, a role and a sha256");
          return;
        }
        auto parsed = security::ParseRole(role);
        if (!parsed.ok()) {
          Fail(item,
               "'" + at + ".role': " + std::string(parsed.status().message()));
          return;
        }
        token.role = *parsed;
        out.push_back(std::move(token));
      });
    };
  }

 private:
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Describe(const std::string& path) {
    return path.empty() ? "the file" : "'" + path + "'";
  }

  std::string origin_;
  absl::Status status_;
};

// Parses `yaml`, turning yaml-cpp's exceptions into an error with the line.
absl::StatusOr<YAML::Node> Load(const std::string& yaml,
                                const std::string& origin) {
  try {
    return YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(origin + ":" +
                                      std::to_string(e.mark.line + 1) +
                                      ": not valid YAML: " + e.msg);
  }
}

void EmitCircuitBreaker(YAML::Emitter& out,
                        const CircuitBreakerSettings& settings) {
  out << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << settings.enabled;
  for (const CircuitBreakerField& field : CircuitBreakerFields()) {
    out << YAML::Key << field.key << YAML::Value << settings.*field.setting;
  }
  out << YAML::EndMap;
}

// Only the keys the participant gives, so that reading the output back
// keeps the others following the top-level section.
void EmitCircuitBreakerOverride(YAML::Emitter& out,
                                const CircuitBreakerOverrides& own) {
  out << YAML::BeginMap;
  if (own.enabled) out << YAML::Key << "enabled" << YAML::Value << *own.enabled;
  for (const CircuitBreakerField& field : CircuitBreakerFields()) {
    if (own.*field.override) {
      out << YAML::Key << field.key << YAML::Value << *(own.*field.override);
    }
  }
  out << YAML::EndMap;
}

void EmitClientTls(YAML::Emitter& out, const security::ClientTls& tls) {
  out << YAML::BeginMap;
  out << YAML::Key << "ca_file" << YAML::Value << tls.ca_file;
  out << YAML::Key << "cert_file" << YAML::Value << tls.cert_file;
  out << YAML::Key << "key_file" << YAML::Value << tls.key_file;
  out << YAML::EndMap;
}

}  // namespace

absl::StatusOr<Config> ParseConfigYaml(const std::string& yaml,
                                       const std::string& origin, Config base) {
  auto root = Load(yaml, origin);
  if (!root.ok()) return root.status();
  Config& c = base;
  Reader r(origin);
  auto database = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"dsn", r.String(c.database.dsn)},
           {"password_file", r.String(c.database.password_file)},
           {"connections", r.Integer(c.database.connections)},
           {"startup_timeout_s", r.Integer(c.database.startup_timeout_s)}});
  };
  auto participants = [&](const YAML::Node& node, const std::string& path) {
    r.Entries(node, path,
              [&](const std::string& name, const YAML::Node& value,
                  const std::string& at) {
                ParticipantEndpoint& endpoint = c.participants[name];
                // "name: HOST:PORT" is short for "name: {address: HOST:PORT}".
                if (value.IsScalar()) {
                  endpoint.address = value.Scalar();
                  return;
                }
                r.Map(value, at,
                      {{"address", r.String(endpoint.address)},
                       {"tls", r.ClientTls(endpoint.tls)},
                       {"circuit_breaker",
                        r.CircuitBreakerOverride(endpoint.circuit_breaker)}});
              });
  };
  auto auth = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"tokens", r.Tokens(c.auth.tokens)},
           {"tokens_file", r.String(c.auth.tokens_file)}});
  };
  auto limits = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"max_input_bytes", r.Integer(c.limits.max_input_bytes)},
           {"store_threads", r.Integer(c.limits.store_threads)},
           {"max_backlog", r.Integer(c.limits.max_backlog)},
           {"max_inflight_per_participant",
            r.Integer(c.limits.max_inflight_per_participant)}});
  };
  auto outbox = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"sink", r.String(c.outbox.sink)},
           {"poll_ms", r.Integer(c.outbox.poll_ms)},
           {"sink_timeout_ms", r.Integer(c.outbox.sink_timeout_ms)}});
  };
  auto instance = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"id", r.String(c.instance.id)},
           {"lease_ttl_ms", r.Integer(c.instance.lease_ttl_ms)},
           {"claim_interval_ms", r.Integer(c.instance.claim_interval_ms)},
           {"claim_batch", r.Integer(c.instance.claim_batch)},
           {"drain_timeout_ms", r.Integer(c.instance.drain_timeout_ms)}});
  };
  auto retention = [&](const YAML::Node& node, const std::string& path) {
    Config::Retention& rt = c.retention;
    auto types = [&](const YAML::Node& types_node, const std::string& at) {
      r.Entries(types_node, at,
                [&](const std::string& name, const YAML::Node& value,
                    const std::string& type_path) {
                  Config::Retention::Type& own = rt.types[name];
                  auto optional = [&](std::optional<std::string>& out) {
                    return [&r, &out](const YAML::Node& v,
                                      const std::string& key_path) {
                      std::string text;
                      r.String(text)(v, key_path);
                      if (!v.IsNull()) out = text;
                    };
                  };
                  r.Map(value, type_path,
                        {{"sagas", optional(own.sagas)},
                         {"failed_sagas", optional(own.failed_sagas)}});
                });
    };
    r.Map(node, path,
          {{"sagas", r.String(rt.sagas)},
           {"failed_sagas", r.String(rt.failed_sagas)},
           {"types", types},
           {"outbox_dispatched", r.String(rt.outbox_dispatched)},
           {"outbox_pending", r.String(rt.outbox_pending)},
           {"archive", r.String(rt.archive)},
           {"interval_ms", r.Integer(rt.interval_ms)},
           {"batch", r.Integer(rt.batch)},
           {"pause_ms", r.Integer(rt.pause_ms)}});
  };
  auto console = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path, {{"listen", r.String(c.console.listen)}});
  };
  auto logging = [&](const YAML::Node& node, const std::string& path) {
    r.Map(node, path,
          {{"level", r.String(c.logging.level)},
           {"format", r.String(c.logging.format)}});
  };
  r.Map(*root, "",
        {{"listen", r.String(c.listen)},
         {"metrics_listen", r.String(c.metrics_listen)},
         {"definitions", r.String(c.definitions)},
         {"migrations", r.String(c.migrations)},
         {"database", database},
         {"participants", participants},
         {"participant_tls", r.ClientTls(c.participant_tls)},
         {"tls", r.ServerTls(c.tls)},
         {"auth", auth},
         {"limits", limits},
         {"circuit_breaker", r.CircuitBreaker(c.circuit_breaker)},
         {"outbox", outbox},
         {"instance", instance},
         {"retention", retention},
         {"console", console},
         {"logging", logging}});
  if (!r.status().ok()) return r.status();
  return base;
}

absl::StatusOr<std::vector<security::TokenEntry>> ParseTokensYaml(
    const std::string& yaml, const std::string& origin) {
  auto root = Load(yaml, origin);
  if (!root.ok()) return root.status();
  std::vector<security::TokenEntry> tokens;
  Reader r(origin);
  r.Map(*root, "", {{"tokens", r.Tokens(tokens)}});
  if (!r.status().ok()) return r.status();
  return tokens;
}

std::string PrintConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::Comment(
             "saga-orchestrator: effective configuration (secrets masked)")
      << YAML::Newline;
  out << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << config.listen;
  out << YAML::Key << "metrics_listen" << YAML::Value << config.metrics_listen;
  out << YAML::Key << "definitions" << YAML::Value << config.definitions;
  out << YAML::Key << "migrations" << YAML::Value << config.migrations;

  out << YAML::Key << "database" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "dsn" << YAML::Value << MaskDsn(config.database.dsn);
  out << YAML::Key << "password_file" << YAML::Value
      << config.database.password_file;
  out << YAML::Key << "connections" << YAML::Value
      << config.database.connections;
  out << YAML::Key << "startup_timeout_s" << YAML::Value
      << config.database.startup_timeout_s;
  out << YAML::EndMap;

  out << YAML::Key << "participants" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, endpoint] : config.participants) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "address" << YAML::Value << endpoint.address;
    out << YAML::Key << "tls" << YAML::Value;
    EmitClientTls(out, endpoint.tls);
    if (endpoint.circuit_breaker != CircuitBreakerOverrides{}) {
      out << YAML::Key << "circuit_breaker" << YAML::Value;
      EmitCircuitBreakerOverride(out, endpoint.circuit_breaker);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "participant_tls" << YAML::Value;
  EmitClientTls(out, config.participant_tls);

  out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cert_file" << YAML::Value << config.tls.cert_file;
  out << YAML::Key << "key_file" << YAML::Value << config.tls.key_file;
  out << YAML::Key << "client_ca_file" << YAML::Value
      << config.tls.client_ca_file;
  out << YAML::Key << "require_client_cert" << YAML::Value
      << config.tls.require_client_cert;
  out << YAML::EndMap;

  out << YAML::Key << "auth" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "tokens" << YAML::Value << YAML::BeginSeq;
  for (const auto& token : config.auth.tokens) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << token.name;
    out << YAML::Key << "role" << YAML::Value << security::RoleName(token.role);
    out << YAML::Key << "sha256" << YAML::Value << kMaskedSecret;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "tokens_file" << YAML::Value << config.auth.tokens_file;
  out << YAML::EndMap;

  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_input_bytes" << YAML::Value
      << config.limits.max_input_bytes;
  out << YAML::Key << "store_threads" << YAML::Value
      << config.limits.store_threads;
  out << YAML::Key << "max_backlog" << YAML::Value << config.limits.max_backlog;
  out << YAML::Key << "max_inflight_per_participant" << YAML::Value
      << config.limits.max_inflight_per_participant;
  out << YAML::EndMap;

  out << YAML::Key << "circuit_breaker" << YAML::Value;
  EmitCircuitBreaker(out, config.circuit_breaker);

  out << YAML::Key << "outbox" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "sink" << YAML::Value << config.outbox.sink;
  out << YAML::Key << "poll_ms" << YAML::Value << config.outbox.poll_ms;
  out << YAML::Key << "sink_timeout_ms" << YAML::Value
      << config.outbox.sink_timeout_ms;
  out << YAML::EndMap;

  out << YAML::Key << "instance" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "id" << YAML::Value << config.instance.id;
  out << YAML::Key << "lease_ttl_ms" << YAML::Value
      << config.instance.lease_ttl_ms;
  out << YAML::Key << "claim_interval_ms" << YAML::Value
      << config.instance.claim_interval_ms;
  out << YAML::Key << "claim_batch" << YAML::Value
      << config.instance.claim_batch;
  out << YAML::Key << "drain_timeout_ms" << YAML::Value
      << config.instance.drain_timeout_ms;
  out << YAML::EndMap;

  const Config::Retention& retention = config.retention;
  out << YAML::Key << "retention" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "sagas" << YAML::Value << retention.sagas;
  out << YAML::Key << "failed_sagas" << YAML::Value << retention.failed_sagas;
  out << YAML::Key << "types" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, own] : retention.types) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    if (own.sagas) out << YAML::Key << "sagas" << YAML::Value << *own.sagas;
    if (own.failed_sagas) {
      out << YAML::Key << "failed_sagas" << YAML::Value << *own.failed_sagas;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "outbox_dispatched" << YAML::Value
      << retention.outbox_dispatched;
  out << YAML::Key << "outbox_pending" << YAML::Value
      << retention.outbox_pending;
  out << YAML::Key << "archive" << YAML::Value << retention.archive;
  out << YAML::Key << "interval_ms" << YAML::Value << retention.interval_ms;
  out << YAML::Key << "batch" << YAML::Value << retention.batch;
  out << YAML::Key << "pause_ms" << YAML::Value << retention.pause_ms;
  out << YAML::EndMap;

  out << YAML::Key << "console" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << config.console.listen;
  out << YAML::EndMap;

  out << YAML::Key << "logging" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << config.logging.level;
  out << YAML::Key << "format" << YAML::Value << config.logging.format;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace saga::config
