-- What operators list sagas by (sagactl list): the attempts made at the
-- current step, shown beside it. Listing by creation time already uses
-- sagas_created_idx.
ALTER TABLE sagas
  ADD COLUMN current_attempt int NOT NULL DEFAULT 0;
COMMENT ON COLUMN sagas.current_attempt IS
  'Attempts made so far at current_step (Execute, or Compensate while compensating)';
