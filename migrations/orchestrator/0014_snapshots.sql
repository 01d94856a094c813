-- Snapshots of a saga's folded state (core/snapshot.h), so that an instance
-- taking sagas over reads one row per saga instead of every event: the
-- state after event snapshot_seq, as JSON text. The engine writes one, in
-- the transaction of the events it folds, when a saga comes to rest (a
-- backoff, a wait, an accepted call); a claim then reads only the events
-- after it. NULL: no snapshot yet (the whole history is read). Text, not
-- jsonb: only the orchestrator reads it, whole (cast it to jsonb to look
-- inside). Both columns are nullable without a default, so adding them
-- rewrites nothing.
ALTER TABLE sagas ADD COLUMN snapshot text, ADD COLUMN snapshot_seq bigint;
