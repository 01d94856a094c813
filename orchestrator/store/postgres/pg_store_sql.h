// The store's SQL: every statement PgStore prepares on each session
// (kStatements), with the reasons for their shapes. Included by pg_store.cc
// alone; kept apart so the store's logic reads without the SQL in between.
#pragma once

namespace saga::store::pg_sql {

// The columns SummaryFromRow reads, in its order. Timestamps cross the
// boundary as Unix milliseconds; interval arithmetic keeps the conversion
// exact both ways.
#define SAGA_SUMMARY_COLUMNS                                              \
  "saga_id, saga_type, definition_version, status, current_step, error, " \
  "input::text, COALESCE(idempotency_key, ''), last_seq, "                \
  "(EXTRACT(EPOCH FROM created_at) * 1000)::bigint, "                     \
  "(EXTRACT(EPOCH FROM updated_at) * 1000)::bigint, current_attempt, "    \
  "COALESCE(lease_owner, ''), "                                           \
  "COALESCE((EXTRACT(EPOCH FROM lease_expires_at) * 1000)::bigint, 0), "  \
  "COALESCE(parent_id, ''), COALESCE(parent_step, ''), "                  \
  "COALESCE(business_key, ''), COALESCE(rerun_of, '') "

// A group of batches arrives as three JSON arrays, so one statement writes a
// group of any size: $1 has a row per batch (its saga row, keyed by `idx`,
// the batch's position in the group, and its snapshot or null), $2 the
// events {saga_id, seq, type, step, attempt, data, at_ms, writer} and $3 the
// outbox messages {owner (the batch's saga), idx, ord, message_id, saga_id,
// type, header, at_ms, and either payload or the seq of the batch's event
// whose data is the payload}. A group never holds two batches of one saga
// (see PgStore::Append). Events, messages and snapshots are written only
// for batches whose saga row was written (created, or fenced-updated), so a
// refused batch leaves no trace and raises no error: the others in its
// group still commit. `b` is the statement's CTE of $1's rows.
#define SAGA_INSERT_GROUP_ROWS(written)                                     \
  "new_events AS ("                                                         \
  " INSERT INTO saga_events"                                                \
  "  (saga_id, seq, type, step, attempt, data, at_ms, written_by)"          \
  " SELECT e.saga_id, e.seq, e.type, e.step, e.attempt, e.data, e.at_ms,"   \
  "  e.writer"                                                              \
  " FROM jsonb_to_recordset($2::jsonb)"                                     \
  "  AS e(saga_id text, seq bigint, type text, step int, attempt int,"      \
  "   data jsonb, at_ms bigint, writer text)"                               \
  " JOIN " written                                                          \
  " w ON w.saga_id = e.saga_id"                                             \
  " RETURNING saga_id, seq, data), "                                        \
  "new_outbox AS ("                                                         \
  " INSERT INTO outbox (message_id, saga_id, type, header, payload, at_ms)" \
  " SELECT o.message_id, o.saga_id, o.type, o.header,"                      \
  "  COALESCE(o.payload, n.data), o.at_ms"                                  \
  " FROM jsonb_to_recordset($3::jsonb)"                                     \
  "  AS o(owner text, idx int, ord int, message_id text, saga_id text,"     \
  "   type text, header jsonb, payload jsonb, seq bigint, at_ms bigint)"    \
  " JOIN " written                                                          \
  " w ON w.saga_id = o.owner"                                               \
  " LEFT JOIN new_events n ON n.saga_id = o.owner AND n.seq = o.seq"        \
  " ORDER BY o.idx, o.ord), "                                               \
  "new_snapshots AS ("                                                      \
  " INSERT INTO saga_snapshots (saga_id, seq, snapshot)"                    \
  " SELECT b.saga_id, b.last_seq, b.snapshot FROM b"                        \
  " JOIN " written                                                          \
  " w ON w.saga_id = b.saga_id WHERE b.snapshot IS NOT NULL"                \
  " ON CONFLICT (saga_id) DO UPDATE"                                        \
  " SET seq = excluded.seq, snapshot = excluded.snapshot) "

#define SAGA_MS_TO_TIMESTAMP(ms) \
  "TIMESTAMPTZ 'epoch' + " ms " * INTERVAL '1 millisecond'"

// Leases run on the database's clock, the one clock all instances share.
#define SAGA_LEASE_UNTIL(ttl_ms) "now() + " ttl_ms " * INTERVAL '1 millisecond'"

// Sagas that still need a driver (sagas_unfinished_idx).
#define SAGA_UNFINISHED "status IN ('RUNNING', 'COMPENSATING')"

// Returns, per batch in idx order, whether its saga row was inserted. A
// batch whose idempotency key is taken (by an earlier saga or by an earlier
// batch of the same group) inserts nothing; the caller then looks the key
// up in the same transaction.
inline constexpr char kCreateGroup[] = "create_group";
inline constexpr char kCreateGroupSql[] =
    "WITH b AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "  AS b(idx int, saga_id text, saga_type text, definition_version int,"
    "   status text, current_step text, error text, input jsonb,"
    "   idempotency_key text, last_seq bigint, created_ms bigint,"
    "   updated_ms bigint, current_attempt int, writer text,"
    "   lease_ttl_ms bigint, parent_id text, parent_step text,"
    "   business_key text, rerun_of text, snapshot text)), "
    "written AS ("
    " INSERT INTO sagas (saga_id, saga_type, definition_version, status,"
    "  current_step, error, input, idempotency_key, last_seq, created_at,"
    "  updated_at, current_attempt, lease_owner, lease_expires_at,"
    "  parent_id, parent_step, business_key, rerun_of)"
    " SELECT saga_id, saga_type, definition_version, status, current_step,"
    "  error, input, idempotency_key, last_seq,"
    "  " SAGA_MS_TO_TIMESTAMP("created_ms") ","
    "  " SAGA_MS_TO_TIMESTAMP("updated_ms") ", current_attempt, writer,"
    "  " SAGA_LEASE_UNTIL("lease_ttl_ms") ", parent_id, parent_step,"
    "  business_key, rerun_of"
    " FROM b ORDER BY idx"
    " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL"
    " DO NOTHING"
    " RETURNING saga_id), " SAGA_INSERT_GROUP_ROWS("written")
    "SELECT b.idx, w.saga_id IS NOT NULL"
    " FROM b LEFT JOIN written w ON w.saga_id = b.saga_id ORDER BY b.idx";

inline constexpr char kFindByKey[] = "find_by_key";
inline constexpr char kFindByKeySql[] =
    "SELECT saga_id, saga_type = $2 AND input = $3::jsonb"
    " FROM sagas WHERE idempotency_key = $1";

// The WHERE on last_seq and lease_owner is the fence: a writer whose
// expected seq is stale, or who no longer holds the lease, updates nothing
// (the (saga_id, seq) primary key backs it up); the holder's write extends
// its lease. Returns a row per refused batch (in idx order; none when all
// were written) with the saga's last_seq and lease owner as the
// statement's snapshot saw them, so a refusal can tell a missing saga from
// a fenced one without another round trip, and the summary lookup is paid
// only for the rare refusal.
inline constexpr char kAppendGroup[] = "append_group";
inline constexpr char kAppendGroupSql[] =
    "WITH b AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "  AS b(idx int, saga_id text, expected bigint, status text,"
    "   current_step text, error text, last_seq bigint, updated_ms bigint,"
    "   current_attempt int, writer text, lease_ttl_ms bigint,"
    "   snapshot text)), "
    "written AS ("
    " UPDATE sagas s SET status = b.status, current_step = b.current_step,"
    "  error = b.error, last_seq = b.last_seq,"
    "  current_attempt = b.current_attempt,"
    "  updated_at = " SAGA_MS_TO_TIMESTAMP("b.updated_ms") ","
    "  lease_expires_at = " SAGA_LEASE_UNTIL("b.lease_ttl_ms")
    " FROM b WHERE s.saga_id = b.saga_id AND s.last_seq = b.expected"
    "  AND s.lease_owner = b.writer"
    " RETURNING s.saga_id), " SAGA_INSERT_GROUP_ROWS("written")
    "SELECT b.idx, s.last_seq, s.lease_owner"
    " FROM b LEFT JOIN sagas s ON s.saga_id = b.saga_id"
    " WHERE NOT EXISTS (SELECT 1 FROM written w WHERE w.saga_id = b.saga_id)"
    " ORDER BY b.idx";

inline constexpr char kSelectSummary[] = "select_summary";
inline constexpr char kSelectSummarySql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS "FROM sagas WHERE saga_id = $1";

inline constexpr char kSelectEvents[] = "select_events";
inline constexpr char kSelectEventsSql[] =
    "SELECT seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events WHERE saga_id = $1 ORDER BY seq";

// A page of one saga's history: events after seq $2, at most $3 of them
// (a range scan of the (saga_id, seq) primary key).
inline constexpr char kSelectEventsPage[] = "select_events_page";
inline constexpr char kSelectEventsPageSql[] =
    "SELECT seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events WHERE saga_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";

// Takes free and expired leases ($1 owner, $2 ttl ms, $3 limit) of sagas
// after $4 in id order, and returns them with their snapshots. SKIP LOCKED
// passes over sagas being written (by their holder) or claimed by another
// instance, so claimers neither wait nor collide. `= ANY(ARRAY(...))` and
// the subqueries look each row up by key: joins were planned as hash joins
// over every saga (or snapshot) for each batch, and a generic plan of a
// join with the snapshots spilled to disk for minutes.
inline constexpr char kClaimSagas[] = "claim_sagas";
inline constexpr char kClaimSagasSql[] =
    "WITH c AS ("
    " UPDATE sagas SET lease_owner = $1,"
    "  lease_expires_at = " SAGA_LEASE_UNTIL("$2::bigint")
    " WHERE saga_id = ANY(ARRAY("
    "  SELECT saga_id FROM sagas"
    "  WHERE " SAGA_UNFINISHED " AND saga_id > $4"
    "   AND (lease_owner IS NULL OR lease_expires_at < now())"
    "  ORDER BY saga_id LIMIT $3 FOR UPDATE SKIP LOCKED))"
    " RETURNING " SAGA_SUMMARY_COLUMNS ") "
    "SELECT c.*,"
    " (SELECT snapshot FROM saga_snapshots s WHERE s.saga_id = c.saga_id),"
    " COALESCE((SELECT seq FROM saga_snapshots s"
    "  WHERE s.saga_id = c.saga_id), 0) FROM c";

// The histories of the sagas named in the JSON array $1 (ReadRecords; run
// as text, not prepared).
inline constexpr char kSelectEventsOfSql[] =
    "SELECT saga_id, seq, type, step, attempt, data::text, at_ms"
    " FROM saga_events"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
    " ORDER BY saga_id, seq";

// The events of each saga in the JSON array $1 ({saga_id, after}) after
// seq `after`: a claimed saga's history past its snapshot.
inline constexpr char kSelectEventsAfter[] = "select_events_after";
inline constexpr char kSelectEventsAfterSql[] =
    "SELECT e.saga_id, e.seq, e.type, e.step, e.attempt, e.data::text,"
    " e.at_ms"
    " FROM jsonb_to_recordset($1::jsonb) AS a(saga_id text, after bigint)"
    " JOIN saga_events e ON e.saga_id = a.saga_id AND e.seq > a.after"
    " ORDER BY e.saga_id, e.seq";

// One saga's lease ($1 saga, $2 owner, $3 ttl ms); see SagaStore::ClaimSaga.
inline constexpr char kClaimSaga[] = "claim_saga";
inline constexpr char kClaimSagaSql[] =
    "UPDATE sagas SET lease_owner = $2,"
    " lease_expires_at = " SAGA_LEASE_UNTIL("$3::bigint")
    " WHERE saga_id = $1 AND (lease_owner IS NULL OR lease_owner = $2"
    "  OR lease_expires_at < now() OR NOT (" SAGA_UNFINISHED "))"
    " RETURNING saga_id";

// Rows locked by an append are skipped: the append extends their lease.
inline constexpr char kRenewLeases[] = "renew_leases";
inline constexpr char kRenewLeasesSql[] =
    "UPDATE sagas SET lease_expires_at = " SAGA_LEASE_UNTIL("$2::bigint")
    " WHERE lease_owner = $1 AND saga_id IN ("
    "  SELECT saga_id FROM sagas WHERE lease_owner = $1 AND " SAGA_UNFINISHED
    "  FOR UPDATE SKIP LOCKED)";

inline constexpr char kReleaseLeases[] = "release_leases";
inline constexpr char kReleaseLeasesSql[] =
    "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL"
    " WHERE lease_owner = $1 AND " SAGA_UNFINISHED;

inline constexpr char kReleaseLease[] = "release_lease";
inline constexpr char kReleaseLeaseSql[] =
    "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL"
    " WHERE saga_id = $1 AND lease_owner = $2";

// ListQuery's filter, shared by list_sagas and count_sagas and bound by
// PgStore's FilterParams: $1 saga_type, $2 status, $3 created after (ms),
// $4 created before (ms), $5 parent, $6 business key, $7 rerun_of, $8 step
// (any of a parallel current_step; a FAILED saga's current_step is the step
// that gave up), $9 error text (case-insensitive, taken literally: strpos,
// not LIKE). NULL: any. The status, type, time, parent, key and rerun
// filters use indexes; step and error are checked on the rows those leave.
#define SAGA_LIST_FILTER                                                     \
  " WHERE ($1::text IS NULL OR saga_type = $1)"                              \
  "  AND ($2::text IS NULL OR status = $2)"                                  \
  "  AND ($3::bigint IS NULL OR created_at >"                                \
  "   TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 millisecond')"          \
  "  AND ($4::bigint IS NULL OR created_at <"                                \
  "   TIMESTAMPTZ 'epoch' + $4::bigint * INTERVAL '1 millisecond')"          \
  "  AND ($5::text IS NULL OR parent_id = $5)"                               \
  "  AND ($6::text IS NULL OR business_key = $6)"                            \
  "  AND ($7::text IS NULL OR rerun_of = $7)"                                \
  "  AND ($8::text IS NULL OR $8 = ANY(string_to_array(current_step, ',')))" \
  "  AND ($9::text IS NULL OR strpos(lower(error), lower($9)) > 0)"

// Newest first; a page resumes strictly after the (created_at, saga_id)
// of the previous page's last row ($10, $11), so rows never repeat or go
// missing. $12: the row limit.
inline constexpr char kListSagas[] = "list_sagas";
inline constexpr char kListSagasSql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS "FROM sagas" SAGA_LIST_FILTER
    "  AND ($10::bigint IS NULL OR (created_at, saga_id) <"
    "   (TIMESTAMPTZ 'epoch' + $10::bigint * INTERVAL '1 millisecond',"
    "    $11::text))"
    " ORDER BY created_at DESC, saga_id DESC"
    " LIMIT $12";

inline constexpr char kCountSagas[] = "count_sagas";
inline constexpr char kCountSagasSql[] =
    "SELECT status, count(*) FROM sagas" SAGA_LIST_FILTER " GROUP BY status";

inline constexpr char kInsertDefinition[] = "insert_definition";
inline constexpr char kInsertDefinitionSql[] =
    "INSERT INTO saga_definitions (name, version, source)"
    " VALUES ($1, $2, $3) ON CONFLICT (name, version) DO NOTHING";

inline constexpr char kSelectDefinition[] = "select_definition";
inline constexpr char kSelectDefinitionSql[] =
    "SELECT source FROM saga_definitions WHERE name = $1 AND version = $2";

// The summaries of the sagas named in the JSON array $1, in id order
// (ReadRecords, for the retention job's archive; run as text, not prepared).
inline constexpr char kSelectSummariesOfSql[] =
    "SELECT " SAGA_SUMMARY_COLUMNS
    "FROM sagas"
    " WHERE saga_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
    " ORDER BY saga_id";

#undef SAGA_INSERT_GROUP_ROWS
#undef SAGA_LEASE_UNTIL
#undef SAGA_MS_TO_TIMESTAMP
#undef SAGA_UNFINISHED
#undef SAGA_SUMMARY_COLUMNS
#undef SAGA_LIST_FILTER

struct Statement {
  const char* name;
  const char* sql;
};

inline constexpr Statement kStatements[] = {
    {kCreateGroup, kCreateGroupSql},
    {kFindByKey, kFindByKeySql},
    {kAppendGroup, kAppendGroupSql},
    {kSelectSummary, kSelectSummarySql},
    {kSelectEvents, kSelectEventsSql},
    {kSelectEventsPage, kSelectEventsPageSql},
    {kClaimSagas, kClaimSagasSql},
    {kSelectEventsAfter, kSelectEventsAfterSql},
    {kClaimSaga, kClaimSagaSql},
    {kRenewLeases, kRenewLeasesSql},
    {kReleaseLeases, kReleaseLeasesSql},
    {kReleaseLease, kReleaseLeaseSql},
    {kListSagas, kListSagasSql},
    {kCountSagas, kCountSagasSql},
    {kInsertDefinition, kInsertDefinitionSql},
    {kSelectDefinition, kSelectDefinitionSql},
};

}  // namespace saga::store::pg_sql
