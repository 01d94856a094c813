// What the outbox stream costs the write path. Drives the store's group
// commit (PgStore::Create + Append, one outbox message per batch, as the
// engine writes them) from many threads and prints batches per second and
// batches per commit for three schemas, each in a fresh database:
//
//   before   every migration but 0007: the outbox as it was, nothing
//            reads it
//   txid     every migration (0007 adds the txid column and the stream
//            indexes): the design this repository uses
//   lock     txid plus a statement trigger that takes one advisory lock
//            before any outbox insert, held to commit: positions handed out
//            in commit order, the alternative design (writers serialized)
//
// Modes run interleaved, `--rounds` times each, and the table shows each
// mode's median. Usage (bench/outbox/run.sh starts a PostgreSQL for it):
//   outbox_write_bench --admin-dsn DSN --migrations DIR [--threads 64]
//                      [--sagas 2000] [--batches 4] [--rounds 3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/postgres/pg_store.h"

namespace {

namespace fs = std::filesystem;
using saga::store::AppendBatch;

struct Options {
  std::string admin_dsn;
  std::string migrations;
  int threads = 64;
  int sagas = 2000;
  int batches = 4;
  int rounds = 3;
};

struct Result {
  double batches_per_s = 0;
  double batches_per_commit = 0;
};

constexpr char kSerializeOutboxSql[] = R"sql(
  CREATE FUNCTION outbox_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(77);
    RETURN NULL;
  END $$;
  CREATE TRIGGER outbox_commit_order BEFORE INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_commit_order();
)sql";

std::string DsnFor(const std::string& admin_dsn, const std::string& db) {
  // The admin DSN names dbname=postgres (scripts/pg.sh); swap the name.
  const std::string key = "dbname=postgres";
  std::string dsn = admin_dsn;
  const size_t at = dsn.find(key);
  if (at == std::string::npos) return dsn + " dbname=" + db;
  return dsn.replace(at, key.size(), "dbname=" + db);
}

// A migrations directory with only the files up to `last_version`.
std::string MigrationsUpTo(const std::string& dir, int last_version) {
  const fs::path copy =
      fs::temp_directory_path() /
      ("outbox-bench-migrations-" + std::to_string(last_version));
  fs::remove_all(copy);
  fs::create_directories(copy);
  for (const auto& file : fs::directory_iterator(dir)) {
    const std::string name = file.path().filename().string();
    if (std::stoi(name.substr(0, 4)) <= last_version) {
      fs::copy_file(file.path(), copy / name);
    }
  }
  return copy.string();
}

AppendBatch Batch(const std::string& saga_id, int64_t last_seq) {
  AppendBatch batch;
  batch.saga_id = saga_id;
  batch.expected_last_seq = last_seq;
  saga::core::Event event;
  event.seq = last_seq + 1;
  event.at_ms = 1700000000000 + event.seq;
  if (last_seq == 0) {
    event.type = saga::core::EventType::kSagaStarted;
    event.saga_type = "booking";
    event.definition_version = 1;
    event.input_json = R"({"patient_id":"p-1001"})";
  } else {
    event.type = saga::core::EventType::kStepSucceeded;
    event.step = 0;
    event.attempt = 1;
    event.output_json = R"({"ok":true})";
  }
  batch.events.push_back(event);
  batch.summary.saga_id = saga_id;
  batch.summary.saga_type = "booking";
  batch.summary.definition_version = 1;
  batch.summary.input_json = R"({"patient_id":"p-1001"})";
  batch.summary.last_seq = event.seq;
  batch.summary.created_ms = event.at_ms;
  batch.summary.updated_ms = event.at_ms;
  batch.writer = "bench";
  batch.lease_ttl = std::chrono::minutes(10);
  saga::core::OutboxMessage message;
  message.message_id = saga_id + ":" + std::to_string(event.seq);
  message.seq = event.seq;
  message.saga_id = saga_id;
  message.type = last_seq == 0 ? "saga.started" : "saga.step.succeeded";
  message.header_json = R"({"saga_id":")" + saga_id +
                        R"(","saga_type":"booking","seq":)" +
                        std::to_string(event.seq) + "}";
  message.payload_json = R"({"output":{"ok":true}})";
  message.at_ms = event.at_ms;
  batch.outbox.push_back(message);
  return batch;
}

Result RunOnce(const Options& options, const std::string& mode, int round) {
  const std::string db = "outbox_bench_" + mode + "_" + std::to_string(round);
  {
    pqxx::connection admin(options.admin_dsn);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + db);
    tx.exec("CREATE DATABASE " + db);
  }
  const std::string dsn = DsnFor(options.admin_dsn, db);
  const std::string migrations = mode == "before"
                                     ? MigrationsUpTo(options.migrations, 6)
                                     : options.migrations;
  if (absl::Status migrated = saga::pg::ApplyMigrations(dsn, migrations);
      !migrated.ok()) {
    std::fprintf(stderr, "migrations: %s\n", migrated.ToString().c_str());
    std::exit(1);
  }
  if (mode == "lock") {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    tx.exec(kSerializeOutboxSql);
  }
  std::atomic<int64_t> commits{0};
  saga::store::GroupCommitOptions group_commit;
  group_commit.observer = [&](size_t, std::chrono::duration<double>) {
    ++commits;
  };
  auto store = saga::store::PgStore::Open(dsn, 8, group_commit);
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  std::atomic<int> next{0};
  std::atomic<int64_t> failures{0};
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&] {
      for (int n = next++; n < options.sagas; n = next++) {
        const std::string id = "saga-" + std::to_string(n);
        if (!(*store)->Create(Batch(id, 0)).ok()) ++failures;
        for (int seq = 1; seq < options.batches; ++seq) {
          if (!(*store)->Append(Batch(id, seq)).ok()) ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  if (failures > 0) {
    std::fprintf(stderr, "%s: %lld writes failed\n", mode.c_str(),
                 static_cast<long long>(failures.load()));
    std::exit(1);
  }
  store->reset();
  {
    pqxx::connection admin(options.admin_dsn);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE " + db);
  }
  const double batches = static_cast<double>(options.sagas) * options.batches;
  Result result{batches / seconds, batches / static_cast<double>(commits)};
  std::fprintf(stderr, "  %-6s round %d: %.0f batches/s, %.1f per commit\n",
               mode.c_str(), round, result.batches_per_s,
               result.batches_per_commit);
  return result;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"outbox_write_bench: the outbox stream's cost on writes"};
  app.add_option("--admin-dsn", options.admin_dsn,
                 "Superuser DSN with dbname=postgres (scripts/pg.sh env)")
      ->required()
      ->envname("SAGA_TEST_ADMIN_DSN");
  app.add_option("--migrations", options.migrations, "migrations/orchestrator")
      ->required();
  app.add_option("--threads", options.threads, "Writer threads")
      ->capture_default_str();
  app.add_option("--sagas", options.sagas, "Sagas per run")
      ->capture_default_str();
  app.add_option("--batches", options.batches,
                 "Batches (transactions' worth of writes) per saga")
      ->capture_default_str();
  app.add_option("--rounds", options.rounds, "Runs per mode (median shown)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::vector<std::string> modes = {"before", "txid", "lock"};
  std::map<std::string, std::vector<Result>> results;
  for (int round = 1; round <= options.rounds; ++round) {
    for (const auto& mode : modes) {
      results[mode].push_back(RunOnce(options, mode, round));
    }
  }
  std::printf("%d threads, %d sagas x %d batches, median of %d runs\n",
              options.threads, options.sagas, options.batches, options.rounds);
  std::printf("%-8s %14s %18s %12s\n", "schema", "batches/s", "batches/commit",
              "vs before");
  const double before = Median([&] {
    std::vector<double> v;
    for (const auto& r : results["before"]) v.push_back(r.batches_per_s);
    return v;
  }());
  for (const auto& mode : modes) {
    std::vector<double> rates;
    std::vector<double> sizes;
    for (const auto& r : results[mode]) {
      rates.push_back(r.batches_per_s);
      sizes.push_back(r.batches_per_commit);
    }
    std::printf("%-8s %14.0f %18.1f %11.0f%%\n", mode.c_str(), Median(rates),
                Median(sizes), 100.0 * Median(rates) / before);
  }
  return 0;
}
