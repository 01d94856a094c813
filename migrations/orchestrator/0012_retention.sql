-- Retention (orchestrator/retention/): the pruning job finds ended sagas
-- of one type and status, oldest first, and dispatched outbox rows by when
-- they were delivered, through these two indexes rather than scanning.
--
-- Only ended sagas are in sagas_ended_idx, so a saga enters it once, when
-- it ends (that update already changes the indexed status column, so it is
-- not a HOT update anyway); the hot path's HOT summary updates of running
-- sagas are not affected. created_at orders the scan: a saga ends after it
-- starts, so every saga whose last write is older than a cutoff was also
-- created before it.
CREATE INDEX sagas_ended_idx ON sagas (saga_type, status, created_at)
  WHERE status IN ('COMPLETED', 'COMPENSATED', 'FAILED');

-- Written by the dispatcher's one update per row; PENDING rows are not in it.
CREATE INDEX outbox_dispatched_idx ON outbox (dispatched_at)
  WHERE status = 'DISPATCHED';

-- Sagas are deleted from now on (0008 dropped the events' foreign key
-- because they never were): the job deletes a saga's events and its row in
-- one transaction, and an append writes events only for a saga row it
-- updates in the same statement, so no event outlives its saga.
