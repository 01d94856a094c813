-- Fewer index entries per transition (the write path's largest cost in
-- PostgreSQL was inserting into indexes).
--
-- outbox.message_id needs no index of its own to stay unique: a saga's
-- message is named '<saga_id>:<seq>' after the event it is about, and
-- (saga_id, seq) is saga_events' primary key, written in the same
-- transaction; a participant pause's message carries a fresh UUID. Nothing
-- looks messages up by id (consumers dedupe on it in their own databases).
ALTER TABLE outbox DROP CONSTRAINT outbox_message_id_key;

-- Most sagas start without an idempotency key: the unique index now holds
-- only the keys there are, not an entry per saga.
ALTER TABLE sagas DROP CONSTRAINT sagas_idempotency_key_key;
CREATE UNIQUE INDEX sagas_idempotency_key_idx ON sagas (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
