-- Business keys and reruns. A saga may carry its caller's name for what it
-- is about (StartSaga's business_key, or the input field its definition
-- names), so operators find it by that (sagactl list --business-key); a
-- saga started by RerunSaga names the ended saga it reran, so both show the
-- link (the old one by listing its reruns through the index). NULL: none.
ALTER TABLE sagas
  ADD COLUMN business_key text,
  ADD COLUMN rerun_of text;
CREATE INDEX sagas_business_key_idx
  ON sagas (business_key, created_at DESC, saga_id DESC)
  WHERE business_key IS NOT NULL;
CREATE INDEX sagas_rerun_of_idx ON sagas (rerun_of, created_at DESC)
  WHERE rerun_of IS NOT NULL;
COMMENT ON COLUMN sagas.business_key IS
  'The caller''s key for what the saga is about (e.g. a patient id); NULL: none';
COMMENT ON COLUMN sagas.rerun_of IS
  'A saga started by RerunSaga: the ended saga whose input it started from';
