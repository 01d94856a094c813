-- The idempotency records are in migrations/participant_common. This file
-- created them too before they moved there; databases that applied it then
-- recorded its checksum:
-- valid-checksum: 7860f5ac337126e76fbaec167c6b7538

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
