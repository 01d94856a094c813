-- Participants paused by an operator (sagactl pause): while a participant
-- has a row here, no orchestrator instance on this database sends it a
-- call; its sagas wait without using attempts. Every instance reads the
-- table once per claim interval, so a pause reaches all of them within one.
-- A resume deletes the row; both are audited in the outbox
-- ('participant.paused' / 'participant.resumed').
CREATE TABLE participant_pauses (
  participant text PRIMARY KEY,   -- the participant's name in the configuration
  paused_by text NOT NULL,        -- the operator, as the API authenticated them
  reason text NOT NULL,           -- why, as the operator gave it
  paused_at_ms bigint NOT NULL    -- when (Unix ms, the database's clock)
);
