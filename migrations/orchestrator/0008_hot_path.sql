-- Cheaper transitions: every committed transition rewrites its saga's row
-- and inserts its events, so per-row write costs add up (see the profile in
-- the README's Performance section).

-- Room on each page for a row's next version, so a summary update that
-- changes no indexed column (most transitions, and every lease claim and
-- renewal) is a HOT update: no new entries in the sagas table's five
-- indexes. Applies to pages written from now on.
ALTER TABLE sagas SET (fillfactor = 70);

-- The events' foreign key to sagas cost a trigger and a primary-key lookup
-- per event row (about a tenth of PostgreSQL's CPU per transition). The
-- one statement that inserts events (create_group / append_group in
-- orchestrator/store/postgres/pg_store.cc) inserts them only for the saga
-- rows it has just created or fenced-updated in the same statement, and
-- sagas are never deleted, so the key cannot be broken by the orchestrator.
ALTER TABLE saga_events DROP CONSTRAINT saga_events_saga_id_fkey;
