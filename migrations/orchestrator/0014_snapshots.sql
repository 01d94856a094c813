-- Snapshots of a saga's folded state (core/snapshot.h), so that an instance
-- taking sagas over reads one row per saga instead of every event: the
-- state after event `seq`, as JSON text. The engine writes one, in the
-- transaction of the events it folds, when a saga comes to rest (a
-- backoff, a wait, an accepted call); a claim then reads only the events
-- after it. No row: the whole history is read.
--
-- A table of their own rather than a column of `sagas`: a saga row is
-- rewritten by every transition and every lease claim, and a kilobyte of
-- snapshot inline (below the size PostgreSQL moves out of line) would be
-- copied each time. Here it is written only when a saga comes to rest.
-- Text, not jsonb: only the orchestrator reads it, whole (cast it to jsonb
-- to look inside). The retention job deletes it with its saga; an ended
-- saga's snapshot is otherwise kept, unused.
CREATE TABLE saga_snapshots (
  saga_id  text   COLLATE "C" PRIMARY KEY,  -- as sagas.saga_id, so joins use the index
  seq      bigint NOT NULL,
  snapshot text   NOT NULL
);
