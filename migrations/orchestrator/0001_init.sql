-- The orchestrator's schema: saga definitions, saga summary rows, the
-- append-only event history and the transactional outbox. Plain SQL that
-- PostgreSQL-compatible distributed engines also accept.

-- Every saga definition source ever deployed, so a saga keeps running with
-- the version it started with.
CREATE TABLE saga_definitions (
  name text NOT NULL,                              -- saga type, e.g. 'appointment_booking'
  version int NOT NULL,                            -- definition version within the type
  source text NOT NULL,                            -- the YAML source as deployed
  created_at timestamptz NOT NULL DEFAULT now(),   -- when this version was first recorded
  PRIMARY KEY (name, version)
);

-- One row per saga: the summary that lists and filters read without folding
-- the history. Rewritten with every appended batch (fenced by last_seq).
CREATE TABLE sagas (
  saga_id text COLLATE "C" PRIMARY KEY,            -- opaque unique id; bytewise order for paging
  saga_type text NOT NULL,                         -- definition name
  definition_version int NOT NULL,                 -- definition version the saga runs with
  status text NOT NULL                             -- lifecycle state
    CHECK (status IN ('RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'FAILED')),
  current_step text NOT NULL DEFAULT '',           -- name of the step in progress; '' when none
  error text NOT NULL DEFAULT '',                  -- why the saga compensated or failed; '' when none
  input jsonb NOT NULL,                            -- the saga input object
  idempotency_key text UNIQUE,                     -- caller's key for StartSaga; NULL when none
  last_seq bigint NOT NULL,                        -- seq of the last committed event (the fencing token)
  created_at timestamptz NOT NULL,                 -- when the saga started
  updated_at timestamptz NOT NULL,                 -- when the last batch was appended
  lease_owner text,                                -- instance that drives the saga; NULL when unclaimed
  lease_expires_at timestamptz                     -- when lease_owner's claim lapses; NULL when unclaimed
);

-- Recovery scans only the sagas that still need work.
CREATE INDEX sagas_unfinished_idx ON sagas (saga_id)
  WHERE status IN ('RUNNING', 'COMPENSATING');
-- Listing newest first, with keyset pagination on (created_at, saga_id).
CREATE INDEX sagas_created_idx ON sagas (created_at DESC, saga_id DESC);
-- Listing filtered by type or by status, newest first.
CREATE INDEX sagas_type_created_idx ON sagas (saga_type, created_at DESC, saga_id DESC);
CREATE INDEX sagas_status_created_idx ON sagas (status, created_at DESC, saga_id DESC);

-- The append-only history of every saga. Rows are never updated or
-- deleted; the primary key rejects a second writer of the same seq.
CREATE TABLE saga_events (
  saga_id text COLLATE "C" NOT NULL                -- owning saga
    REFERENCES sagas (saga_id),
  seq bigint NOT NULL,                             -- 1-based position in the saga's history
  type text NOT NULL,                              -- event type name, e.g. 'StepStarted'
  step int NOT NULL,                               -- step index; -1 for saga-level events
  attempt int NOT NULL,                            -- attempt number the event refers to
  data jsonb NOT NULL,                             -- the type-specific payload
  at_ms bigint NOT NULL,                           -- decision time (Unix ms) given to the decider
  recorded_at timestamptz NOT NULL DEFAULT now(),  -- commit time, for operators
  PRIMARY KEY (saga_id, seq)
);

-- Messages for other services, written in the same transaction as the
-- events that cause them and delivered later by a dispatcher.
CREATE TABLE outbox (
  position bigserial PRIMARY KEY,                  -- delivery order
  message_id text NOT NULL UNIQUE,                 -- '<saga_id>:<seq>' of the causing event; consumers dedupe on it
  saga_id text NOT NULL,                           -- saga the message is about
  type text NOT NULL,                              -- e.g. 'saga.started'
  header jsonb NOT NULL,                           -- routing metadata
  payload jsonb NOT NULL,                          -- the causing event's data
  at_ms bigint NOT NULL,                           -- decision time (Unix ms) of the causing event
  created_at timestamptz NOT NULL DEFAULT now(),   -- commit time
  status text NOT NULL DEFAULT 'PENDING'           -- delivery state
    CHECK (status IN ('PENDING', 'DISPATCHED')),
  dispatched_at timestamptz                        -- when delivered; NULL while pending
);

-- The dispatcher reads pending messages in order.
CREATE INDEX outbox_pending_idx ON outbox (position) WHERE status = 'PENDING';
