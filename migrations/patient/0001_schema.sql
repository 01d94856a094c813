-- Idempotency records: identical in every participant database (patient,
-- doctor, email). See participants/common/idempotent_runner.h.
CREATE TABLE idempotency_keys (
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
CREATE INDEX idempotency_keys_saga_id ON idempotency_keys (saga_id);

CREATE TABLE patients (
  id     text PRIMARY KEY,
  name   text NOT NULL,
  email  text NOT NULL,
  active boolean NOT NULL DEFAULT true
);
