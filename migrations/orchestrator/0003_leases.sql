-- Several orchestrator instances on one database. Each unfinished saga is
-- driven by the instance named in sagas.lease_owner (columns from 0001) until
-- lease_expires_at; appends are fenced on the owner as well as on last_seq,
-- so an instance that lost a lease (a paused "zombie") cannot write.
--
-- The lease columns get no index: renewals then rewrite no index entry and
-- stay HOT updates, and claims scan only sagas_unfinished_idx.

-- Who wrote each event, so that "one driver at a time" can be checked from
-- the history: a saga's writers form runs, and an instance never writes
-- again once another took the saga over.
ALTER TABLE saga_events
  ADD COLUMN written_by text;
COMMENT ON COLUMN saga_events.written_by IS
  'Orchestrator instance that appended the event; NULL for events written before leases';
