#include "orchestrator/config/config_yaml.h"

#include <fstream>
#include <iterator>

#include "gtest/gtest.h"

namespace saga::config {
namespace {

void ExpectInvalid(const absl::Status& status, const std::string& message) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), message);
}

TEST(ParseConfigYamlTest, EmptyFileKeepsTheDefaults) {
  auto config = ParseConfigYaml("", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, Config{});
  auto comments = ParseConfigYaml("# nothing set\n", "c.yaml");
  ASSERT_TRUE(comments.ok()) << comments.status();
  EXPECT_EQ(*comments, Config{});
}

TEST(ParseConfigYamlTest, ReadsEverySection) {
  constexpr char kYaml[] = R"(
listen: 0.0.0.0:6000
metrics_listen: 127.0.0.1:0
definitions: /d
migrations: /m
database:
  dsn: host=db
  password_file: /run/pw
  connections: 4
  startup_timeout_s: 5
participants:
  patient: p:1
  doctor:
    address: d:2
    tls: {ca_file: /ca-d.pem}
participant_tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /c.key}
tls:
  cert_file: /s.pem
  key_file: /s.key
  client_ca_file: /cca.pem
  require_client_cert: true
auth:
  tokens:
    - {name: svc, role: submitter, sha256: abc}
    - {name: ops, role: operator, sha256: def}
  tokens_file: /t.yaml
limits: {max_input_bytes: 1000, store_threads: 3}
instance:
  id: orch-a
  lease_ttl_ms: 3000
  claim_interval_ms: 200
  claim_batch: 7
  drain_timeout_ms: 0
console: {listen: 127.0.0.1:8080}
logging: {level: debug, format: json}
)";
  auto parsed = ParseConfigYaml(kYaml, "full.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = *parsed;
  EXPECT_EQ(c.listen, "0.0.0.0:6000");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(c.console.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.definitions, "/d");
  EXPECT_EQ(c.migrations, "/m");
  EXPECT_EQ(c.database, (Config::Database{"host=db", "/run/pw", 4, 5}));
  ASSERT_EQ(c.participants.size(), 2u);
  EXPECT_EQ(c.participants.at("patient"), (ParticipantEndpoint{"p:1", {}, {}}));
  EXPECT_EQ(c.participants.at("doctor"),
            (ParticipantEndpoint{"d:2", {"/ca-d.pem", "", ""}, {}}));
  EXPECT_EQ(c.participant_tls,
            (security::ClientTls{"/ca.pem", "/c.pem", "/c.key"}));
  EXPECT_EQ(c.tls, (security::ServerTls{"/s.pem", "/s.key", "/cca.pem", true}));
  ASSERT_EQ(c.auth.tokens.size(), 2u);
  EXPECT_EQ(c.auth.tokens[0].name, "svc");
  EXPECT_EQ(c.auth.tokens[0].role, security::Role::kSubmitter);
  EXPECT_EQ(c.auth.tokens[0].sha256_hex, "abc");
  EXPECT_EQ(c.auth.tokens[1].role, security::Role::kOperator);
  EXPECT_EQ(c.auth.tokens_file, "/t.yaml");
  EXPECT_EQ(c.limits, (Config::Limits{1000, 3}));
  EXPECT_EQ(c.instance, (Config::Instance{"orch-a", 3000, 200, 7, 0}));
  EXPECT_EQ(c.logging, (Config::Logging{"debug", "json"}));
}

TEST(ParseConfigYamlTest, UnknownKeysAreErrorsNamingKeyFileAndLine) {
  ExpectInvalid(
      ParseConfigYaml("listen: x\ndatabase:\n  dns: host=db\n", "o.yaml")
          .status(),
      "o.yaml:3: unknown key 'database.dns' (expected one of: connections, "
      "dsn, password_file, startup_timeout_s)");
  auto top = ParseConfigYaml("lissen: x\n", "o.yaml");
  ASSERT_FALSE(top.ok());
  EXPECT_TRUE(std::string(top.status().message())
                  .starts_with("o.yaml:1: unknown key 'lissen' (expected one "
                               "of: auth, circuit_breaker, database,"))
      << top.status();
  ExpectInvalid(
      ParseConfigYaml("participants:\n  email:\n    adress: e:1\n", "p.yaml")
          .status(),
      "p.yaml:3: unknown key 'participants.email.adress' (expected one of: "
      "address, circuit_breaker, tls)");
  ExpectInvalid(
      ParseConfigYaml("auth:\n  tokens:\n    - {name: a, role: operator, "
                      "sha256: x, secret: y}\n",
                      "t.yaml")
          .status(),
      "t.yaml:3: unknown key 'auth.tokens[0].secret' (expected one of: name, "
      "role, sha256)");
}

TEST(ParseConfigYamlTest, CircuitBreakerDefaultsAndPerParticipantSettings) {
  constexpr char kYaml[] = R"(
circuit_breaker:
  enabled: true
  window_ms: 20000
  min_calls: 30
  failure_rate_percent: 70
  slow_call_ms: 3000
  slow_call_rate_percent: 90
  open_ms: 1000
  half_open_calls: 4
participants:
  patient: p:1
  email:
    address: e:1
    circuit_breaker: {min_calls: 5, enabled: false}
)";
  auto parsed = ParseConfigYaml(kYaml, "cb.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->circuit_breaker,
            (CircuitBreakerSettings{true, 20000, 30, 70, 3000, 90, 1000, 4}));
  EXPECT_EQ(CircuitBreakerFor(*parsed, "patient"), parsed->circuit_breaker);
  CircuitBreakerSettings email = parsed->circuit_breaker;
  email.min_calls = 5;
  email.enabled = false;
  EXPECT_EQ(CircuitBreakerFor(*parsed, "email"), email);
  // A participant without settings of its own follows the defaults, even
  // when they change later (flags apply after the file).
  parsed->circuit_breaker.open_ms = 5;
  EXPECT_EQ(CircuitBreakerFor(*parsed, "email").open_ms, 5);
  EXPECT_EQ(CircuitBreakerFor(*parsed, "email").min_calls, 5);
}

TEST(ParseConfigYamlTest, CircuitBreakerSettingsAreReadStrictly) {
  ExpectInvalid(
      ParseConfigYaml("participants:\n  email:\n    address: e:1\n"
                      "    circuit_breaker:\n      min_cals: 3\n",
                      "p.yaml")
          .status(),
      "p.yaml:5: unknown key 'participants.email.circuit_breaker.min_cals' "
      "(expected one of: enabled, failure_rate_percent, half_open_calls, "
      "min_calls, open_ms, slow_call_ms, slow_call_rate_percent, window_ms)");
  ExpectInvalid(
      ParseConfigYaml("participants:\n  email:\n    address: e:1\n"
                      "    circuit_breaker: {enabled: maybe}\n",
                      "p.yaml")
          .status(),
      "p.yaml:4: 'participants.email.circuit_breaker.enabled' must be true or "
      "false");
  ExpectInvalid(
      ParseConfigYaml("circuit_breaker:\n  window_ms: 10s\n", "c.yaml")
          .status(),
      "c.yaml:2: 'circuit_breaker.window_ms' must be a whole number");
}

TEST(ParseConfigYamlTest, TheConsecutiveFailureKeysSayWhatReplacedThem) {
  auto threshold = ParseConfigYaml(
      "circuit_breaker:\n  open_ms: 10\n  failure_threshold: 5\n", "old.yaml");
  ASSERT_FALSE(threshold.ok());
  EXPECT_TRUE(
      std::string(threshold.status().message())
          .starts_with("old.yaml:3: 'circuit_breaker.failure_threshold' "
                       "is no longer supported: the circuit now opens "
                       "on a failure rate"))
      << threshold.status();
  EXPECT_NE(threshold.status().message().find("enabled: false"),
            std::string::npos);
  auto ramp = ParseConfigYaml("circuit_breaker:\n  ramp_to: 16\n", "old.yaml");
  ASSERT_FALSE(ramp.ok());
  EXPECT_TRUE(std::string(ramp.status().message())
                  .starts_with("old.yaml:2: 'circuit_breaker.ramp_to' is no "
                               "longer supported: a half-open circuit now "
                               "admits half_open_calls trial calls"))
      << ramp.status();
}

TEST(ParseConfigYamlTest, WrongTypesAndDuplicatesAreErrors) {
  ExpectInvalid(
      ParseConfigYaml("database:\n  connections: many\n", "c.yaml").status(),
      "c.yaml:2: 'database.connections' must be a whole number");
  ExpectInvalid(
      ParseConfigYaml("limits:\n  max_input_bytes: -1\n", "c.yaml").status(),
      "c.yaml:2: 'limits.max_input_bytes' must be a whole number");
  ExpectInvalid(
      ParseConfigYaml("tls:\n  require_client_cert: maybe\n", "c.yaml")
          .status(),
      "c.yaml:2: 'tls.require_client_cert' must be true or false");
  ExpectInvalid(ParseConfigYaml("listen: [a, b]\n", "c.yaml").status(),
                "c.yaml:1: 'listen' must be a string");
  ExpectInvalid(ParseConfigYaml("database: host=db\n", "c.yaml").status(),
                "c.yaml:1: 'database' must be a mapping of keys to values");
  ExpectInvalid(ParseConfigYaml("listen: a\nlisten: b\n", "c.yaml").status(),
                "c.yaml:2: key 'listen' is given twice");
  ExpectInvalid(
      ParseConfigYaml("auth:\n  tokens:\n    - {name: a, role: admin, "
                      "sha256: x}\n",
                      "c.yaml")
          .status(),
      "c.yaml:3: 'auth.tokens[0].role': unknown role 'admin' (expected "
      "submitter or operator)");
  ExpectInvalid(ParseConfigYaml(
                    "auth:\n  tokens:\n    - {name: a, sha256: x}\n", "c.yaml")
                    .status(),
                "c.yaml:3: 'auth.tokens[0]' needs a name, a role and a sha256");
  auto bad = ParseConfigYaml("listen: [unclosed\n", "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(std::string(bad.status().message()).starts_with("c.yaml:"));
  EXPECT_NE(bad.status().message().find("not valid YAML"), std::string::npos);
}

TEST(ParseConfigYamlTest, TheFileOverridesTheBaseItIsGiven) {
  Config base;
  base.listen = "from-base";
  base.definitions = "kept";
  auto config = ParseConfigYaml("listen: from-file\n", "f.yaml", base);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "from-file");
  EXPECT_EQ(config->definitions, "kept");
}

TEST(ParseTokensYamlTest, ReadsTheTokensList) {
  auto tokens = ParseTokensYaml(
      "tokens:\n  - name: ops\n    role: operator\n    sha256: ab\n", "t.yaml");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].name, "ops");
  EXPECT_EQ((*tokens)[0].role, security::Role::kOperator);
  ExpectInvalid(ParseTokensYaml("token: []\n", "t.yaml").status(),
                "t.yaml:1: unknown key 'token' (expected one of: tokens)");
}

TEST(PrintConfigTest, MasksSecretsAndReadsBack) {
  Config config;
  config.database.dsn = "postgresql://saga:hunter2@db/saga";
  config.database.password_file = "/run/secrets/pw";
  config.participants["patient"] = {"p:1", {}, {}};
  config.participants["doctor"] = {"d:2", {"/ca.pem", "", ""}, {}};
  config.participants["doctor"].circuit_breaker.min_calls = 7;
  config.participants["doctor"].circuit_breaker.enabled = false;
  config.circuit_breaker.open_ms = 1500;
  config.tls = {"/s.pem", "/s.key", "", false};
  config.auth.tokens = {
      {"ops", security::Role::kOperator, security::Sha256Hex("ops-token")}};
  config.auth.tokens_file = "/etc/saga/tokens.yaml";
  config.instance.id = "orch-b";
  config.instance.claim_batch = 9;
  const std::string printed = PrintConfig(config);
  EXPECT_EQ(printed.find("hunter2"), std::string::npos) << printed;
  EXPECT_EQ(printed.find(security::Sha256Hex("ops-token")), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("postgresql://saga:*****@db/saga"), std::string::npos)
      << printed;
  EXPECT_NE(printed.find("/etc/saga/tokens.yaml"), std::string::npos);

  auto read_back = ParseConfigYaml(printed, "printed");
  ASSERT_TRUE(read_back.ok()) << read_back.status() << "\n" << printed;
  Config expected = config;
  expected.database.dsn = "postgresql://saga:*****@db/saga";
  expected.auth.tokens[0].sha256_hex = "*****";
  EXPECT_EQ(*read_back, expected) << printed;
}

TEST(PrintConfigTest, DefaultsReadBackUnchanged) {
  auto read_back = ParseConfigYaml(PrintConfig(Config{}), "printed");
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_EQ(*read_back, Config{});
}

TEST(ExampleConfigTest, TheShippedExampleParsesAndValidates) {
  const std::string path =
      std::string(SAGA_SOURCE_DIR) + "/config/orchestrator.example.yaml";
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  auto config =
      ParseConfigYaml(std::string(std::istreambuf_iterator<char>(file),
                                  std::istreambuf_iterator<char>()),
                      path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
  EXPECT_EQ(config->participants.size(), 3u);
  EXPECT_EQ(ParticipantTls(*config, "email").ca_file,
            "/etc/saga/tls/email-ca.pem");
  EXPECT_EQ(ParticipantTls(*config, "doctor").ca_file, "/etc/saga/tls/ca.pem");
}

TEST(RetentionConfigTest, IsReadValidatedAndPrintedBack) {
  constexpr char kYaml[] = R"(
database: {dsn: host=db}
retention:
  sagas: 30d
  types:
    appointment_booking: {sagas: 90d, failed_sagas: 365d}
    checkout: {failed_sagas: 12h}
  outbox_dispatched: 7d
  archive: file:/var/lib/saga/archive
  interval_ms: 5000
  batch: 200
  pause_ms: 0
)";
  auto config = ParseConfigYaml(kYaml, "r.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config::Retention& r = config->retention;
  EXPECT_EQ(r.sagas, "30d");
  EXPECT_EQ(r.failed_sagas, "");
  EXPECT_EQ(r.types.at("appointment_booking").sagas, "90d");
  EXPECT_EQ(r.types.at("checkout").sagas, std::nullopt);
  EXPECT_EQ(r.types.at("checkout").failed_sagas, "12h");
  EXPECT_EQ(r.interval_ms, 5000);
  EXPECT_EQ(r.batch, 200);
  EXPECT_EQ(r.pause_ms, 0);
  EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
  EXPECT_EQ(*ArchiveDir(*config), "/var/lib/saga/archive");
  EXPECT_EQ(*ParseRetentionMs("x", "30d"), 30LL * 24 * 3600 * 1000);
  EXPECT_EQ(*ParseRetentionMs("x", "90s"), 90000);
  EXPECT_EQ(*ParseRetentionMs("x", ""), 0);

  auto read_back = ParseConfigYaml(PrintConfig(*config), "printed");
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_EQ(read_back->retention, config->retention) << PrintConfig(*config);
}

TEST(RetentionConfigTest, ErrorsNameTheSettingAndTheExpectedForm) {
  auto with = [](const std::string& retention) {
    auto config = ParseConfigYaml(
        "database: {dsn: host=db}\nretention:\n" + retention, "r.yaml");
    return config.ok() ? Validate(*config) : config.status();
  };
  ExpectInvalid(with("  types: {booking: {sagas: 30x}}\n"),
                "retention.types.booking.sagas: '30x' is not a retention: a "
                "positive whole number with a unit s, m, h or d (e.g. 90d, "
                "12h), at most 100 years; empty keeps forever");
  ExpectInvalid(with("  sagas: 0d\n"),
                "retention.sagas: '0d' is not a retention: a positive whole "
                "number with a unit s, m, h or d (e.g. 90d, 12h), at most 100 "
                "years; empty keeps forever");
  ExpectInvalid(with("  archive: s3://bucket\n"),
                "retention.archive: 's3://bucket' is not an archive: file:DIR "
                "(a directory for gzip-compressed JSON lines); empty: no "
                "archive");
  ExpectInvalid(with("  batch: 0\n"),
                "retention.batch: must be between 1 and 10000, not 0");
  ExpectInvalid(with("  types: {booking: {ended: 1d}}\n"),
                "r.yaml:3: unknown key 'retention.types.booking.ended' "
                "(expected one of: failed_sagas, sagas)");
  ExpectInvalid(with("  pause_ms: -1\n"),
                "retention.pause_ms: must be between 0 and 60000, not -1");
}

}  // namespace
}  // namespace saga::config
