-- boxtrace PostgreSQL store, version 3: the results feed, a tenant's result events in a
-- stable order (`Store::results`).
--
-- Sequence numbers are taken before their transactions commit, so in the order of
-- `seq` an event may become visible behind one a reader has already passed. The feed
-- orders by the writing transaction's id instead (`xid`, then `seq`) and shows only
-- events of transactions older than every one still running
-- (`pg_snapshot_xmin(pg_current_snapshot())`): whatever commits later has a higher `xid`
-- than everything shown, so a cursor never skips an event.
--
-- The tenant is derived from the event in the database, as the cohort is (version 2): no
-- statement has to name it, rows written before this version get it too, and a process
-- of the previous version still running during an upgrade writes rows the feed shows.
-- Events written before this version get the migration's transaction id, lower than any
-- later one, and keep their `seq` order among themselves.
ALTER TABLE history
    ADD COLUMN org_id TEXT COLLATE "C" GENERATED ALWAYS AS (event ->> 'orgId') STORED,
    ADD COLUMN svc_id TEXT COLLATE "C" GENERATED ALWAYS AS (event ->> 'svcId') STORED,
    ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- A page of one tenant's feed is one index range.
CREATE INDEX history_feed ON history (org_id, svc_id, xid, seq);
