-- An Execute of an asynchronous step may answer ACCEPTED: its record keeps
-- outcome 'accepted' until a repeated Execute records the final answer
-- (see participants/common/idempotent_runner.h). The CHECK constraint got
-- PostgreSQL's default name in 0001 (and in the services' older schemas).
ALTER TABLE idempotency_keys
  DROP CONSTRAINT IF EXISTS idempotency_keys_outcome_check;
ALTER TABLE idempotency_keys
  ADD CONSTRAINT idempotency_keys_outcome_check
  CHECK (outcome IN ('pending', 'succeeded', 'business_failure', 'accepted',
                     'none'));
