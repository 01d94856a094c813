#include "orchestrator/config/command_line.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "gtest/gtest.h"

namespace saga::config {
namespace {

// Runs ParseCommandLine in a temporary directory for files, with the
// SAGA_* variables it reads cleared first and restored after.
class CommandLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/saga-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    for (const char* name : kVariables) {
      if (const char* value = std::getenv(name)) saved_[name] = value;
      unsetenv(name);
    }
  }

  void TearDown() override {
    for (const char* name : kVariables) unsetenv(name);
    for (const auto& [name, value] : saved_) {
      setenv(name.c_str(), value.c_str(), 1);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string File(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "saga-orchestrator");
    std::vector<const char*> argv;
    for (const auto& arg : args) argv.push_back(arg.c_str());
    help_.str("");
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), help_);
  }

  static constexpr const char* kVariables[] = {
      "SAGA_CONFIG",      "SAGA_DB",
      "SAGA_DB_PASSWORD", "SAGA_LISTEN",
      "SAGA_LOG_LEVEL",   "SAGA_PARTICIPANT",
      "SAGA_TOKENS_FILE", "SAGA_TLS_REQUIRE_CLIENT_CERT",
      "SAGA_INSTANCE_ID", "SAGA_LEASE_TTL_MS"};
  std::string dir_;
  std::map<std::string, std::string> saved_;
  std::ostringstream help_;
};

TEST_F(CommandLineTest, DefaultsWithJustADatabase) {
  auto parsed = Parse({"--db", "host=db"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Config expected;
  expected.database.dsn = "host=db";
  EXPECT_EQ(parsed->config, expected);
  EXPECT_FALSE(parsed->print_config);
  EXPECT_FALSE(parsed->migrate_only);
  EXPECT_FALSE(parsed->help_shown);
}

TEST_F(CommandLineTest, FlagsOverrideTheEnvironmentWhichOverridesTheFile) {
  const std::string config = File("o.yaml", R"(
listen: from-file:1
database: {dsn: host=file, connections: 3}
logging: {level: warn}
instance: {id: file-id, claim_batch: 5}
participants:
  doctor:
    address: file-doctor:1
    tls: {ca_file: /ca.pem}
  email: file-email:1
)");
  setenv("SAGA_LISTEN", "from-env:2", 1);
  setenv("SAGA_LOG_LEVEL", "error", 1);
  setenv("SAGA_INSTANCE_ID", "env-id", 1);
  setenv("SAGA_PARTICIPANT", "patient=env-patient:2,email=env-email:2", 1);
  auto parsed = Parse({"--config", config, "--log-level", "debug",
                       "--participant", "doctor=flag-doctor:3"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = parsed->config;
  EXPECT_EQ(parsed->config_file, config);
  EXPECT_EQ(c.listen, "from-env:2");       // env over file
  EXPECT_EQ(c.logging.level, "debug");     // flag over env and file
  EXPECT_EQ(c.database.dsn, "host=file");  // file only
  EXPECT_EQ(c.database.connections, 3);    // file over default
  EXPECT_EQ(c.limits.store_threads, 64);   // default
  EXPECT_EQ(c.instance.id, "env-id");      // the lease flags too
  EXPECT_EQ(c.instance.claim_batch, 5);
  // The flag replaces the environment's list of participants, which only
  // sets addresses: TLS settings from the file stay.
  EXPECT_EQ(c.participants.at("doctor").address, "flag-doctor:3");
  EXPECT_EQ(c.participants.at("doctor").tls.ca_file, "/ca.pem");
  EXPECT_EQ(c.participants.at("email").address, "file-email:1");
  EXPECT_EQ(c.participants.count("patient"), 0u);

  unsetenv("SAGA_LOG_LEVEL");
  parsed = Parse({"--config", config});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.participants.at("patient").address, "env-patient:2");
  EXPECT_EQ(parsed->config.participants.at("email").address, "env-email:2");
  EXPECT_EQ(parsed->config.logging.level, "warn");
}

TEST_F(CommandLineTest, TheConfigFileMayComeFromTheEnvironment) {
  setenv("SAGA_CONFIG", File("o.yaml", "database: {dsn: host=f}\n").c_str(), 1);
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.database.dsn, "host=f");
}

TEST_F(CommandLineTest, BooleanFlagsOverrideTheFileBothWays) {
  const std::string config = File("o.yaml", R"(
database: {dsn: host=f}
tls: {cert_file: /s.pem, key_file: /s.key, client_ca_file: /ca.pem,
      require_client_cert: true}
)");
  auto parsed = Parse({"--config", config});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.tls.require_client_cert);
  parsed = Parse({"--config", config, "--tls-require-client-cert=false"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->config.tls.require_client_cert);
}

TEST_F(CommandLineTest, CircuitBreakerFlagsSetTheDefaultsOfEveryParticipant) {
  const std::string config = File("o.yaml", R"(
database: {dsn: host=f}
circuit_breaker: {min_calls: 30, open_ms: 900}
participants:
  doctor:
    address: d:1
    circuit_breaker: {open_ms: 100}
  email: e:1
)");
  auto parsed =
      Parse({"--config", config, "--circuit-open-ms", "700",
             "--circuit-failure-rate", "60", "--circuit-half-open-calls", "3",
             "--circuit-window-ms", "5000", "--circuit-slow-call-ms", "400",
             "--circuit-slow-call-rate", "50", "--circuit-breaker", "false"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = parsed->config;
  EXPECT_EQ(c.circuit_breaker,
            (CircuitBreakerSettings{false, 5000, 30, 60, 400, 50, 700, 3}));
  EXPECT_EQ(CircuitBreakerFor(c, "email"), c.circuit_breaker);
  // A participant's own setting is more specific than a flag's default.
  EXPECT_EQ(CircuitBreakerFor(c, "doctor").open_ms, 100);
  EXPECT_EQ(CircuitBreakerFor(c, "doctor").failure_rate_percent, 60);
  parsed = Parse({"--db", "x", "--circuit-min-calls", "9"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.circuit_breaker.min_calls, 9);
  EXPECT_TRUE(parsed->config.circuit_breaker.enabled);
}

TEST_F(CommandLineTest, RetiredCircuitFlagsSayWhatReplacedThem) {
  auto threshold = Parse({"--db", "x", "--circuit-failure-threshold", "0"});
  EXPECT_EQ(threshold.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(std::string(threshold.status().message())
                  .starts_with("--circuit-failure-threshold "
                               "(SAGA_CIRCUIT_FAILURE_THRESHOLD) is no longer "
                               "supported: the circuit now opens on a failure "
                               "rate"))
      << threshold.status();
  EXPECT_NE(threshold.status().message().find("--circuit-breaker=false"),
            std::string::npos);
  setenv("SAGA_CIRCUIT_RAMP_TO", "16", 1);
  auto ramp = Parse({"--db", "x"});
  unsetenv("SAGA_CIRCUIT_RAMP_TO");
  EXPECT_TRUE(std::string(ramp.status().message())
                  .starts_with("--circuit-ramp-to (SAGA_CIRCUIT_RAMP_TO) is no "
                               "longer supported"))
      << ramp.status();
  auto help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help_.str().find("--circuit-ramp-to"), std::string::npos);
  EXPECT_NE(help_.str().find("--circuit-half-open-calls"), std::string::npos);
}

TEST_F(CommandLineTest, BadInputIsAnErrorNamingIt) {
  auto missing_db = Parse({});
  EXPECT_EQ(missing_db.status().message(),
            "database.dsn: is required (config file, --db or SAGA_DB)");
  auto unknown_flag = Parse({"--db", "x", "--no-such-flag"});
  EXPECT_EQ(unknown_flag.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown_flag.status().message().find("--no-such-flag"),
            std::string::npos)
      << unknown_flag.status();
  auto no_file = Parse({"--config", dir_ + "/none.yaml"});
  EXPECT_TRUE(
      std::string(no_file.status().message())
          .starts_with("cannot read config file " + dir_ + "/none.yaml"))
      << no_file.status();
  const std::string typo = File("typo.yaml", "database:\n  dns: x\n");
  auto unknown_key = Parse({"--config", typo});
  EXPECT_TRUE(std::string(unknown_key.status().message())
                  .starts_with(typo + ":2: unknown key 'database.dns'"))
      << unknown_key.status();
  auto bad_participant = Parse({"--db", "x", "--participant", "doctor"});
  EXPECT_EQ(bad_participant.status().message(),
            "--participant 'doctor': expected NAME=HOST:PORT");
  auto bad_value = Parse({"--db", "x", "--db-connections", "0"});
  EXPECT_EQ(bad_value.status().message(),
            "database.connections: must be between 1 and 256, not 0");
}

TEST_F(CommandLineTest, HelpIsShownAndNotAnError) {
  auto parsed = Parse({"--help"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->help_shown);
  EXPECT_NE(help_.str().find("--tls-cert"), std::string::npos);
  EXPECT_NE(help_.str().find("SAGA_TLS_CERT"), std::string::npos);
}

TEST_F(CommandLineTest, ModesAndThePasswordFromTheEnvironment) {
  setenv("SAGA_DB_PASSWORD", "hunter2", 1);
  auto parsed = Parse({"--db", "host=db", "--print-config", "--migrate-only"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->print_config);
  EXPECT_TRUE(parsed->migrate_only);
  EXPECT_EQ(parsed->db_password, "hunter2");
}

TEST(ValidateTest, NamesTheSettingThatIsWrong) {
  struct Case {
    std::function<void(Config&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](Config& c) { c.listen = ""; }, "listen: is required"},
      {[](Config& c) { c.limits.store_threads = 0; },
       "limits.store_threads: must be between 1 and 1024, not 0"},
      {[](Config& c) { c.limits.max_input_bytes = 0; },
       "limits.max_input_bytes: must be between 1 and 67108864, not 0"},
      {[](Config& c) { c.instance.lease_ttl_ms = 10; },
       "instance.lease_ttl_ms: must be between 300 and 3600000, not 10"},
      {[](Config& c) { c.logging.level = "loud"; }, "logging.level: "},
      {[](Config& c) { c.logging.format = "xml"; }, "logging.format: "},
      {[](Config& c) { c.participants["doctor"] = {}; },
       "participants.doctor.address: is required"},
      {[](Config& c) {
         c.participants["doctor"] = {"d:1", {"", "/c.pem", ""}, {}};
       },
       "participants.doctor.tls: "},
      {[](Config& c) { c.circuit_breaker.failure_rate_percent = 0; },
       "circuit_breaker.failure_rate_percent: must be between 1 and 100, not "
       "0"},
      {[](Config& c) {
         c.participants["doctor"] = {"d:1", {}, {}};
         c.participants["doctor"].circuit_breaker.half_open_calls = 0;
       },
       "participants.doctor.circuit_breaker.half_open_calls: must be between "
       "1 and 10000, not 0"},
      {[](Config& c) { c.participant_tls.cert_file = "/c.pem"; },
       "participant_tls: "},
      {[](Config& c) { c.tls.require_client_cert = true; }, "tls: "},
      {[](Config& c) {
         c.auth.tokens = {{"a", security::Role::kOperator, "nothex"}};
       },
       "auth.tokens: token 'a': sha256 must be 64 hex digits"},
  };
  for (const Case& c : cases) {
    Config config;
    config.database.dsn = "host=db";
    ASSERT_TRUE(Validate(config).ok());
    c.change(config);
    absl::Status status = Validate(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_TRUE(std::string(status.message()).starts_with(c.message)) << status;
  }
}

class SecretsTest : public CommandLineTest {};

TEST_F(SecretsTest, ThePasswordComesFromTheEnvironmentOrAFile) {
  Config config;
  config.database.dsn = "host=db";
  EXPECT_EQ(*EffectiveDsn(config, ""), "host=db");
  EXPECT_EQ(*EffectiveDsn(config, "from-env"), "host=db password='from-env'");
  config.database.password_file = File("pw", "from-file\nignored\n");
  EXPECT_EQ(*EffectiveDsn(config, ""), "host=db password='from-file'");
  // The environment overrides the file.
  EXPECT_EQ(*EffectiveDsn(config, "from-env"), "host=db password='from-env'");

  config.database.password_file = File("empty", "\n");
  EXPECT_EQ(EffectiveDsn(config, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  config.database.password_file = dir_ + "/missing";
  EXPECT_TRUE(std::string(EffectiveDsn(config, "").status().message())
                  .starts_with("cannot read database.password_file " + dir_ +
                               "/missing"));
  config.database.password_file = "";
  config.database.dsn = "host=db password=inline";
  EXPECT_EQ(*EffectiveDsn(config, ""), "host=db password=inline");
  auto twice = EffectiveDsn(config, "s3cr3t-env");
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(twice.status().message().find("s3cr3t"), std::string::npos);
}

TEST_F(SecretsTest, TokensComeInlineAndFromTheTokensFile) {
  Config config;
  EXPECT_TRUE(LoadTokens(config)->empty());
  config.auth.tokens = {
      {"svc", security::Role::kSubmitter, security::Sha256Hex("svc-token")}};
  config.auth.tokens_file = File("tokens.yaml",
                                 "tokens:\n  - name: ops\n    role: operator\n"
                                 "    sha256: " +
                                     security::Sha256Hex("ops-token") + "\n");
  auto tokens = LoadTokens(config);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->Find("ops-token")->role, security::Role::kOperator);
  EXPECT_EQ(tokens->Find("svc-token")->name, "svc");

  config.auth.tokens.push_back(
      {"ops", security::Role::kSubmitter, security::Sha256Hex("other")});
  EXPECT_EQ(LoadTokens(config).status().message(),
            "auth.tokens and " + config.auth.tokens_file +
                ": token 'ops' is configured twice");
  config.auth.tokens_file = File("bad.yaml", "tokens:\n  - name: x\n");
  EXPECT_TRUE(std::string(LoadTokens(config).status().message())
                  .starts_with(config.auth.tokens_file +
                               ":2: 'tokens[0]' needs a name"))
      << LoadTokens(config).status();
}

}  // namespace
}  // namespace saga::config
