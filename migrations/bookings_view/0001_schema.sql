-- saga-bookings-view: a read model of the booking sagas, fed by the
-- orchestrator's outbox stream (WatchEvents). Messages are applied in the
-- same transaction as their dedupe records and the consumer's position, so
-- a crash at any point neither loses nor doubles an update.

-- One row per booking saga.
CREATE TABLE bookings (
  saga_id           text PRIMARY KEY,
  saga_type         text NOT NULL,
  -- NULL until the saga's saga.started message has been applied.
  patient_id        text,
  status            text NOT NULL CHECK (status IN ('requested', 'reserved',
                      'confirmed', 'released', 'refused', 'failed')),
  specialty         text,
  preferred_date    text,
  doctor_id         text,
  doctor_name       text,
  day               text,
  reservation_id    text,
  reason            text,
  -- The header seq of the last message applied: a saga's messages come in
  -- the order of its events, so a smaller one is never newer.
  last_seq          bigint NOT NULL,
  requested_ms      bigint,
  confirmed_ms      bigint,
  released_ms       bigint,
  updated_ms        bigint NOT NULL
);
CREATE INDEX bookings_patient ON bookings (patient_id, requested_ms DESC);

-- The message_id of every message applied: a message seen again (the
-- stream is at least once) changes nothing.
CREATE TABLE applied_messages (
  message_id text PRIMARY KEY,
  position   bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Where to resume the stream: the position of the last message processed
-- (applied, skipped as a duplicate or ignored as another saga type's).
CREATE TABLE consumer_position (
  id       int PRIMARY KEY CHECK (id = 1),
  position bigint NOT NULL
);
INSERT INTO consumer_position (id, position) VALUES (1, 0);
