-- boxtrace PostgreSQL store, version 4: retention of finished jobs
-- (`JobStore::purge_finished`).
--
-- A finished job (any state but ACTIVE) finished at its `updated_at`, which every
-- transition to a finished state sets and nothing changes afterwards but a re-publish
-- (which makes it ACTIVE again, and so leaves this index). Finding the k oldest finished
-- jobs reads k index entries after one descent, however many jobs are active.
CREATE INDEX jobs_finished ON jobs (updated_at, id) WHERE state <> 'ACTIVE';

-- Jobs are deleted from this version on. History and outbox still have no foreign keys
-- (version 1): a job's history goes in the statement that deletes it, and its outbox
-- entries outlive it until they are delivered, which needs no job row.
