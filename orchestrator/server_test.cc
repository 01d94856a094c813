#include "orchestrator/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "orchestrator/backend.h"

namespace saga::server {
namespace {

using std::chrono::milliseconds;

config::CircuitBreakerSettings NonDefaultBreaker(int base) {
  config::CircuitBreakerSettings settings;
  settings.enabled = false;
  settings.window_ms = base + 1;
  settings.min_calls = base + 2;
  settings.failure_rate_percent = base + 3;
  settings.slow_call_ms = base + 4;
  settings.slow_call_rate_percent = base + 5;
  settings.open_ms = base + 6;
  settings.half_open_calls = base + 7;
  return settings;
}

void ExpectBreaker(const engine::CircuitBreakerOptions& options,
                   const config::CircuitBreakerSettings& settings) {
  EXPECT_EQ(options.enabled, settings.enabled);
  EXPECT_EQ(options.window_ms, settings.window_ms);
  EXPECT_EQ(options.min_calls, settings.min_calls);
  EXPECT_EQ(options.failure_rate_percent, settings.failure_rate_percent);
  EXPECT_EQ(options.slow_call_ms, settings.slow_call_ms);
  EXPECT_EQ(options.slow_call_rate_percent, settings.slow_call_rate_percent);
  EXPECT_EQ(options.open_ms, settings.open_ms);
  EXPECT_EQ(options.half_open_calls, settings.half_open_calls);
}

// Every setting the options are made from, none at its default.
config::Config NonDefaultConfig() {
  config::Config config;
  config.limits.store_threads = 7;
  config.limits.max_input_bytes = 12345;
  config.limits.max_backlog = 77;
  config.limits.max_inflight_per_participant = 9;
  config.instance.id = "orch-7";
  config.instance.lease_ttl_ms = 4321;
  config.instance.claim_interval_ms = 321;
  config.instance.claim_batch = 17;
  config.instance.drain_timeout_ms = 2345;
  config.outbox.poll_ms = 55;
  config.circuit_breaker = NonDefaultBreaker(10);
  config.participants["doctor"].address = "doctor.local:1";
  config.participants["email"].address = "email.local:2";
  config.participants["email"].circuit_breaker.min_calls = 3;
  config.participants["email"].circuit_breaker.enabled = true;
  return config;
}

TEST(EngineOptionsFromTest, EverySettingLandsInTheEngineOptions) {
  const config::Config config = NonDefaultConfig();
  const engine::EngineOptions options = EngineOptionsFrom(config);
  EXPECT_EQ(options.db_threads, 7);
  EXPECT_EQ(options.max_input_bytes, 12345u);
  EXPECT_EQ(options.max_backlog, 77u);
  EXPECT_EQ(options.drain_timeout, milliseconds(2345));
  EXPECT_EQ(options.leases.instance_id, "orch-7");
  EXPECT_EQ(options.leases.ttl, milliseconds(4321));
  EXPECT_EQ(options.leases.claim_interval, milliseconds(321));
  EXPECT_EQ(options.leases.claim_batch, 17);
  EXPECT_EQ(options.calls.max_in_flight, 9);
  EXPECT_EQ(options.metrics, nullptr);
  ExpectBreaker(options.calls.breaker, config.circuit_breaker);
}

TEST(EngineOptionsFromTest, EachParticipantGetsItsOwnBreakerOverTheTopLevel) {
  const config::Config config = NonDefaultConfig();
  const engine::EngineOptions options = EngineOptionsFrom(config);
  ASSERT_EQ(options.calls.breakers.size(), 2u);
  // No overrides: the top-level settings.
  ExpectBreaker(options.calls.breakers.at("doctor"), config.circuit_breaker);
  config::CircuitBreakerSettings email = config.circuit_breaker;
  email.min_calls = 3;
  email.enabled = true;
  ExpectBreaker(options.calls.breakers.at("email"), email);
}

TEST(ServerOptionsTest, OutboxPollIntervalReachesDispatcherAndStreams) {
  const config::Config config = NonDefaultConfig();
  EXPECT_EQ(DispatcherOptionsFrom(config).poll_interval, milliseconds(55));
  EXPECT_EQ(DispatcherOptionsFrom(config).metrics, nullptr);
  EXPECT_EQ(EventStreamOptionsFrom(config).poll_interval, milliseconds(55));
}

TEST(ServerOptionsTest, ParticipantAddressesByName) {
  const auto addresses = ParticipantAddresses(NonDefaultConfig());
  EXPECT_EQ(addresses,
            (std::map<std::string, std::string>{{"doctor", "doctor.local:1"},
                                                {"email", "email.local:2"}}));
}

TEST(ServerOptionsTest, ReceiveLimitStaysAboveTheInputLimit) {
  config::Config config;
  config.limits.max_input_bytes = 16 << 20;
  EXPECT_EQ(MaxReceiveMessageBytes(config), (16 << 20) + 64 * 1024);
  config.limits.max_input_bytes = 1000;
  EXPECT_EQ(MaxReceiveMessageBytes(config), 4 << 20);  // gRPC's default
}

TEST(ServerOptionsTest, RetentionDurationsAndArchiveReachTheJob) {
  config::Config config;
  config.instance.id = "orch-7";
  config.retention.sagas = "2d";
  config.retention.types["audit"].failed_sagas = "3h";
  config.retention.outbox_dispatched = "90s";
  config.retention.archive = "file:/var/archive";
  config.retention.interval_ms = 1234;
  config.retention.batch = 42;
  config.retention.pause_ms = 7;
  const retention::RetentionOptions options = RetentionOptionsFrom(config);
  constexpr int64_t kDay = 24 * 3600 * 1000;
  EXPECT_EQ(options.defaults, (retention::SagaRetention{2 * kDay, 0}));
  // A type's own key replaces one default; the other follows it.
  EXPECT_EQ(options.types.at("audit"),
            (retention::SagaRetention{2 * kDay, 3 * 3600 * 1000}));
  EXPECT_EQ(options.outbox_dispatched_ms, 90000);
  EXPECT_EQ(options.outbox_pending_ms, 0);
  EXPECT_EQ(options.archive_dir, "/var/archive");
  EXPECT_EQ(options.interval, milliseconds(1234));
  EXPECT_EQ(options.batch, 42);
  EXPECT_EQ(options.pause, milliseconds(7));
  EXPECT_EQ(options.instance_id, "orch-7");
  EXPECT_FALSE(retention::PrunesAnything(RetentionOptionsFrom({})));
}

TEST(BackendForTest, PostgresServesUrisAndKeywordValueStrings) {
  for (const char* dsn :
       {"postgresql://saga@db/saga", "postgres://saga@db:5432/saga",
        "host=db dbname=saga", "host=db options='-c x=a://b'", ""}) {
    auto kind = BackendFor(dsn);
    ASSERT_TRUE(kind.ok()) << dsn << ": " << kind.status();
    EXPECT_EQ((*kind)->name, "postgres") << dsn;
  }
}

TEST(BackendForTest, AnUnknownSchemeNamesTheKnownOnes) {
  auto kind = BackendFor("mysql://saga:secret@db/saga");
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(kind.status().message()),
              ::testing::StartsWith(
                  "database.dsn: no store backend for mysql:// (known: "));
  EXPECT_THAT(std::string(kind.status().message()),
              ::testing::HasSubstr("postgresql://"));
}

}  // namespace
}  // namespace saga::server
