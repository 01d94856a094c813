-- Child sagas: a saga started by a saga step of another saga records its
-- parent and that step, so GetSaga shows the link and ListSagas lists a
-- parent's children (sagactl list --parent) through the index. NULL for
-- sagas started through the API.
ALTER TABLE sagas
  ADD COLUMN parent_id text,
  ADD COLUMN parent_step text;
CREATE INDEX sagas_parent_idx ON sagas (parent_id, created_at DESC, saga_id DESC)
  WHERE parent_id IS NOT NULL;
COMMENT ON COLUMN sagas.parent_id IS
  'The saga whose saga step started this one; NULL for a saga started through the API';
COMMENT ON COLUMN sagas.parent_step IS
  'The step of parent_id that started this saga';
