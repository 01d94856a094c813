#include "orchestrator/backend.h"

#include <future>
#include <utility>

#include "orchestrator/pg/database_probe.h"
#include "orchestrator/pg/migrator.h"
#include "orchestrator/store/postgres/pg_outbox.h"
#include "orchestrator/store/postgres/pg_participant_pauses.h"
#include "orchestrator/store/postgres/pg_retention.h"
#include "orchestrator/store/postgres/pg_store.h"

namespace saga::server {
namespace {

// Readers of WatchEvents streams share these; the streams read in pages,
// so a few suffice.
constexpr int kOutboxLogConnections = 2;

absl::StatusOr<Backend> OpenPostgres(const BackendOptions& options) {
  store::GroupCommitOptions group_commit;
  group_commit.observer = options.on_commit;
  // The engine reads the pauses before its first participant call: their
  // session opens beside the store's, not after them on the way to the
  // first resumed step. A failure to open either is retried as one.
  auto pauses = std::make_unique<store::PgParticipantPauses>(options.dsn);
  std::future<absl::Status> pauses_session =
      std::async(std::launch::async, [&pauses] { return pauses->Connect(); });
  auto store =
      store::PgStore::Open(options.dsn, options.connections, group_commit);
  const absl::Status pauses_connected = pauses_session.get();
  if (!store.ok()) return store.status();
  if (!pauses_connected.ok()) return pauses_connected;
  Backend backend;
  backend.store = *std::move(store);
  backend.pauses = std::move(pauses);
  backend.outbox_log =
      std::make_unique<store::PgOutboxLog>(options.dsn, kOutboxLogConnections);
  if (options.outbox_queue) {
    backend.outbox_queue = std::make_unique<store::PgOutboxQueue>(options.dsn);
  }
  backend.retention = std::make_unique<store::PgRetention>(options.dsn);
  auto probe = std::make_shared<pg::DatabaseProbe>(options.dsn);
  backend.probe = [probe] { return probe->Check(); };
  return backend;
}

// The scheme of a URI connection string ("postgresql://..."), or "" for
// one without (libpq's keyword/value form, "host=... dbname=...").
std::string SchemeOf(const std::string& dsn) {
  const size_t end = dsn.find("://");
  if (end == std::string::npos) return "";
  const std::string scheme = dsn.substr(0, end);
  // A keyword/value string may hold "://" inside a value.
  return scheme.find_first_of(" =") == std::string::npos ? scheme : "";
}

}  // namespace

const std::vector<BackendKind>& BackendKinds() {
  static const auto* kinds = new std::vector<BackendKind>{
      {"postgres",
       {"", "postgresql", "postgres"},
       [](const std::string& dsn, const std::string& dir) {
         return pg::ApplyMigrations(dsn, dir);
       },
       OpenPostgres},
  };
  return *kinds;
}

absl::StatusOr<const BackendKind*> BackendFor(const std::string& dsn) {
  const std::string scheme = SchemeOf(dsn);
  std::string known;
  for (const BackendKind& kind : BackendKinds()) {
    for (const std::string& served : kind.schemes) {
      if (served == scheme) return &kind;
      if (served.empty()) continue;
      known += (known.empty() ? "" : ", ") + served + "://";
    }
  }
  return absl::InvalidArgumentError("database.dsn: no store backend for " +
                                    scheme + ":// (known: " + known + ")");
}

}  // namespace saga::server
