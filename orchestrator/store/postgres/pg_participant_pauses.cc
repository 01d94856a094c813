#include "orchestrator/store/postgres/pg_participant_pauses.h"

#include <pqxx/pqxx>
#include <utility>

#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/pg/errors.h"

namespace saga::store {
namespace {

// The audit message of a change, inserted from the rows of `changed`
// (participant, paused_by, reason, paused_at_ms). Its id is unique per
// change: a participant may be paused and resumed many times.
#define SAGA_AUDIT_INSERT(type, payload, at)                               \
  "INSERT INTO outbox (message_id, saga_id, type, header, payload, at_ms)" \
  " SELECT 'participant:' || c.participant || ':' || " type                \
  " || ':' || gen_random_uuid(), '', " type                                \
  ", jsonb_build_object('participant', c.participant), " payload ", " at   \
  " FROM changed c"

// Inserts the pause unless one exists; answers the pause in force, and
// whether this statement wrote it. A pause committed by a concurrent call
// between this statement's snapshot and its insert yields no row (the
// caller reads again).
constexpr char kPauseSql[] =
    "WITH changed AS ("
    " INSERT INTO participant_pauses AS p"
    "  (participant, paused_by, reason, paused_at_ms)"
    " VALUES ($1, $2, $3, (EXTRACT(EPOCH FROM now()) * 1000)::bigint)"
    " ON CONFLICT (participant) DO NOTHING"
    " RETURNING p.participant, p.paused_by, p.reason, p.paused_at_ms),"
    " audit AS (" SAGA_AUDIT_INSERT(
        "'participant.paused'",
        "jsonb_build_object('participant', c.participant, 'by', c.paused_by,"
        " 'reason', c.reason)",
        "c.paused_at_ms") ") "
    "SELECT true, participant, paused_by, reason, paused_at_ms FROM changed "
    "UNION ALL "
    "SELECT false, participant, paused_by, reason, paused_at_ms"
    " FROM participant_pauses"
    " WHERE participant = $1 AND NOT EXISTS (SELECT 1 FROM changed)";

constexpr char kResumeSql[] =
    "WITH changed AS ("
    " DELETE FROM participant_pauses WHERE participant = $1"
    " RETURNING participant, paused_by, reason, paused_at_ms),"
    " audit AS (" SAGA_AUDIT_INSERT(
        "'participant.resumed'",
        "jsonb_build_object('participant', c.participant, 'by', $2::text,"
        " 'reason', $3::text, 'paused_by', c.paused_by, 'paused_reason',"
        " c.reason, 'paused_at_ms', c.paused_at_ms)",
        "(EXTRACT(EPOCH FROM now()) * 1000)::bigint") ") "
    "SELECT true, participant, paused_by, reason, paused_at_ms FROM changed";

constexpr char kListSql[] =
    "SELECT participant, paused_by, reason, paused_at_ms"
    " FROM participant_pauses ORDER BY participant";

#undef SAGA_AUDIT_INSERT

// Reads (participant, paused_by, reason, paused_at_ms) from column `first`.
ParticipantPause PauseFromRow(const pqxx::row& row, int first) {
  return {row[first].as<std::string>(), row[first + 1].as<std::string>(),
          row[first + 2].as<std::string>(), row[first + 3].as<int64_t>()};
}

// A change statement's answer: at most one row (changed, pause...).
PauseChange ChangeFrom(const pqxx::result& rows) {
  PauseChange change;
  if (rows.empty()) return change;
  change.changed = rows[0][0].as<bool>();
  change.pause = PauseFromRow(rows[0], 1);
  return change;
}

}  // namespace

PgParticipantPauses::PgParticipantPauses(std::string dsn) {
  pg::ConnectionPool::Options options;
  options.dsn = std::move(dsn);
  options.size = 2;
  // The engine reads the pauses at start, before its first call: a host
  // that drops packets must not hold that for the kernel's TCP timeout.
  options.connect_timeout_s = 5;
  pool_ = std::make_unique<pg::ConnectionPool>(std::move(options));
}

PgParticipantPauses::~PgParticipantPauses() = default;

absl::Status PgParticipantPauses::Connect() { return pool_->Fill(1); }

absl::StatusOr<PauseChange> PgParticipantPauses::Pause(
    const std::string& participant, const std::string& by,
    const std::string& reason) {
  // Twice at most: an empty answer means a concurrent pause committed
  // after this statement's snapshot; the second reads it.
  for (int tries = 0;; ++tries) {
    absl::StatusOr<PauseChange> change = pool_->Run(
        "pausing participant " + participant,
        [&](pqxx::connection& conn) -> absl::StatusOr<PauseChange> {
          pqxx::nontransaction tx(conn);
          return ChangeFrom(tx.exec_params(kPauseSql, participant, by, reason));
        },
        pg::Phase::kCommit);
    if (!change.ok() || change->pause || tries == 1) return change;
  }
}

absl::StatusOr<PauseChange> PgParticipantPauses::Resume(
    const std::string& participant, const std::string& by,
    const std::string& reason) {
  return pool_->Run(
      "resuming participant " + participant,
      [&](pqxx::connection& conn) -> absl::StatusOr<PauseChange> {
        pqxx::nontransaction tx(conn);
        return ChangeFrom(tx.exec_params(kResumeSql, participant, by, reason));
      },
      pg::Phase::kCommit);
}

absl::StatusOr<std::vector<ParticipantPause>> PgParticipantPauses::List() {
  return pool_->Run("reading participant pauses",
                    [&](pqxx::connection& conn)
                        -> absl::StatusOr<std::vector<ParticipantPause>> {
                      pqxx::nontransaction tx(conn);
                      std::vector<ParticipantPause> pauses;
                      for (const pqxx::row& row : tx.exec(kListSql)) {
                        pauses.push_back(PauseFromRow(row, 0));
                      }
                      return pauses;
                    });
}

}  // namespace saga::store
