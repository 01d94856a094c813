-- The payment provider's charges (the idempotency records are in
-- migrations/participant_common). A charge is accepted at once and settled
-- (or declined) later; the provider then reports the result to the
-- orchestrator with CompleteStep (participants/payment).
CREATE SEQUENCE charge_numbers;

CREATE TABLE charges (
  charge_id        text PRIMARY KEY,
  -- The Execute's idempotency key: a repeated charge finds its row, and
  -- refund_charge finds the charge it undoes.
  idempotency_key  text NOT NULL UNIQUE,
  saga_id          text NOT NULL,
  step             text NOT NULL,
  customer_id      text NOT NULL,
  amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
  status           text NOT NULL
                   CHECK (status IN ('pending', 'settled', 'declined',
                                     'voided', 'refunded')),
  -- The latest completion token the orchestrator gave for this charge (a
  -- secret, like a password); a repeated Execute replaces it.
  completion_token text NOT NULL,
  -- Whether the result was reported with the current token.
  reported         boolean NOT NULL DEFAULT false,
  accepted_at      timestamptz NOT NULL DEFAULT now(),
  settled_at       timestamptz
);
CREATE INDEX charges_saga_id ON charges (saga_id);
CREATE INDEX charges_unreported ON charges (accepted_at) WHERE NOT reported;
