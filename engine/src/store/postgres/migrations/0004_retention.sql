-- boxtrace PostgreSQL store, version 4: retention of finished jobs
-- (`JobStore::purge_finished`).
--
-- A finished job (any state but ACTIVE) finished at its `updated_at`, which every
-- transition to a finished state sets and nothing changes afterwards but a re-publish
-- (which makes it ACTIVE again, and so leaves this index). Finding the k oldest finished
-- jobs reads k index entries after one descent, however many jobs are active.
--
-- Upgrading a big store: the index is built inside the migration transaction (plain
-- CREATE INDEX: CONCURRENTLY cannot run in a transaction), which holds a SHARE lock on
-- `jobs` until it commits. Reads go on, but every write of a job (publish, cancel, claim,
-- trace commit) waits while the index is built over the finished jobs, in every process
-- of the store. Upgrade such a store at a quiet time.
CREATE INDEX jobs_finished ON jobs (updated_at, id) WHERE state <> 'ACTIVE';

-- Jobs are deleted from this version on. History and outbox still have no foreign keys
-- (version 1): a job's history goes in the statement that deletes it, and its outbox
-- entries outlive it until they are delivered, which needs no job row.
