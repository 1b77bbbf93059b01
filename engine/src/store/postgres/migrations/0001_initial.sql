-- boxtrace PostgreSQL store, version 1: jobs and their due index, result history, the
-- outbox, adapters' records, and store metadata.
--
-- Runs inside the migration transaction with search_path set to the store's schema.
-- Columns are what SQL filters, orders or locks on; each job's full state is the JSON
-- `body` (the model's `Job`, the source of truth on read), so that a new field of the
-- model needs no migration. The columns are written from the same `Job` in the same
-- statement, so they never disagree with it.

-- Store metadata: `instance`, the id that makes event ids unique across databases.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Job ids, and outbox sequence numbers (which also name events: evt_<instance>_<seq>).
CREATE SEQUENCE job_ids;
CREATE SEQUENCE event_seqs;

-- "C" collation: keys compare byte-wise, the same on every server, so that list cursors
-- (keyset pagination over the key) never depend on the database's locale.
CREATE TABLE jobs (
    id          BIGINT PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL,
    svc_id      TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,          -- EXPORT | EMPTY
    provider_id TEXT COLLATE "C" NOT NULL,
    container   TEXT COLLATE "C" NOT NULL,
    state       TEXT NOT NULL,                      -- ACTIVE | COMPLETED | ...
    -- The next trace, rounded up to the microsecond so that a job is never claimed
    -- before its due time; while leased, the lease's end (a dead holder's job comes due
    -- by itself).
    due_at      TIMESTAMPTZ,
    lease_token BIGINT,
    lease_until TIMESTAMPTZ,
    lease_seq   BIGINT NOT NULL,
    attempts    INTEGER NOT NULL,                   -- failed traces in a row
    trace_count BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    body        JSONB NOT NULL,
    CONSTRAINT jobs_key UNIQUE (org_id, svc_id, kind, provider_id, container)
)
-- Every trace updates its job twice (claim, commit), moving it in the due index: vacuum
-- after 2 % of the rows changed rather than the default 20 %, so that dead index entries
-- do not pile up at the head of the due range that every claim reads.
WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

-- The due index: only active jobs with a due time, in time order, so that claiming the
-- k earliest due jobs reads k index entries after one descent (O(log n + k)) however
-- many jobs have finished.
CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'ACTIVE' AND due_at IS NOT NULL;

-- Result events per job, in order. No foreign keys here or on the outbox: jobs are never
-- deleted, and the hot path should not pay for a check that cannot fail.
CREATE TABLE history (
    job_id BIGINT NOT NULL,
    seq    BIGINT NOT NULL,
    event  JSONB NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Result events waiting for delivery, per queue. The lease token only grows (a claim
-- takes the next one), so a stale deliverer can never present a current token.
CREATE TABLE outbox (
    queue        TEXT COLLATE "C" NOT NULL,
    seq          BIGINT NOT NULL,
    job_id       BIGINT NOT NULL,
    event        JSONB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TIMESTAMPTZ NOT NULL,
    lease_token  BIGINT NOT NULL DEFAULT 0,
    lease_until  TIMESTAMPTZ,                       -- NULL: not claimed (or buried)
    dead         BOOLEAN NOT NULL DEFAULT FALSE,
    last_error   TEXT,
    PRIMARY KEY (queue, seq)
)
-- A queue table: rows come and go. Vacuum it often for the same reason as jobs.
WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

-- A queue's live entries of one job, oldest first: the claim's "is an older entry of
-- this job still waiting or in flight?" is one index probe.
CREATE INDEX outbox_live_by_job ON outbox (queue, job_id, seq) WHERE NOT dead;

-- Adapters' records (web-hook registrations, API clients, ...), by kind and key.
CREATE TABLE records (
    kind  TEXT COLLATE "C" NOT NULL,
    key   TEXT COLLATE "C" NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (kind, key)
);
