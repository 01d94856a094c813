-- Idempotency records, shared by every participant database (patient,
-- doctor, email) and applied before the service's own migrations. See
-- participants/common/idempotent_runner.h.
--
-- IF NOT EXISTS: databases migrated before this file existed created the
-- same table and index in their own 0001_schema.sql.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key        text PRIMARY KEY,
  saga_id    text NOT NULL,
  step       text NOT NULL,
  action     text NOT NULL,
  kind       text NOT NULL
             CHECK (kind IN ('execute', 'compensate', 'tombstone')),
  outcome    text NOT NULL
             CHECK (outcome IN ('pending', 'succeeded', 'business_failure', 'none')),
  output     jsonb,
  error      text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idempotency_keys_saga_id
  ON idempotency_keys (saga_id);
