-- The outbox as a stream (WatchEvents) and a dispatcher queue.
--
-- `position` (a bigserial) is taken when a row is inserted, not when its
-- transaction commits, so concurrent writers commit positions out of order:
-- a reader that returns "every row after position P" can pass over a row
-- whose transaction commits later with a smaller position, and never see
-- it. Readers therefore order the outbox by (txid, position) and read only
-- rows whose transaction id is below the oldest transaction still running
-- (pg_snapshot_xmin(pg_current_snapshot())): every such transaction has
-- ended, so no row can ever appear below that horizon again, and a cursor
-- (txid, position) never skips one. Writers take no lock: the id is the
-- transaction's own, written by the column default.
--
-- Rows written before this migration all get the migration's transaction
-- id and keep their position order among themselves.
ALTER TABLE outbox
  ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
COMMENT ON COLUMN outbox.txid IS
  'Id of the transaction that wrote the row; stream order is (txid, position)';

-- WatchEvents reads pages in stream order after a cursor.
CREATE INDEX outbox_stream_idx ON outbox (txid, position);
-- The dispatcher reads pending messages in stream order. This replaces the
-- index on position alone, which no reader uses.
CREATE INDEX outbox_pending_stream_idx ON outbox (txid, position)
  WHERE status = 'PENDING';
DROP INDEX outbox_pending_idx;
