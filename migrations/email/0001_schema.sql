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


-- One row per message. 'logged': recorded only (no SMTP configured);
-- 'sent': delivered to the SMTP server in the same transaction;
-- 'smtp_failed' is reserved for a delivery outcome recorded after the fact
-- (saga-email itself rolls back on an SMTP failure, so it never writes it).
CREATE TABLE mail_log (
  id              bigserial PRIMARY KEY,
  idempotency_key text NOT NULL,
  saga_id         text NOT NULL,
  recipient       text NOT NULL,
  subject         text NOT NULL,
  body            text NOT NULL,
  status          text NOT NULL CHECK (status IN ('logged', 'sent', 'smtp_failed')),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_log_idempotency_key ON mail_log (idempotency_key);
CREATE INDEX mail_log_saga_id ON mail_log (saga_id);
