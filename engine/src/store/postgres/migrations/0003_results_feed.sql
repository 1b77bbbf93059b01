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
-- Events written before this version get the migration's transaction id, which is
-- lower than any later one, and keep their `seq` order among themselves.
ALTER TABLE history
    ADD COLUMN org_id TEXT COLLATE "C",
    ADD COLUMN svc_id TEXT COLLATE "C",
    ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Every event names its tenant.
UPDATE history SET org_id = event ->> 'orgId', svc_id = event ->> 'svcId';

ALTER TABLE history ALTER COLUMN org_id SET NOT NULL, ALTER COLUMN svc_id SET NOT NULL;

-- A page of one tenant's feed is one index range.
CREATE INDEX history_feed ON history (org_id, svc_id, xid, seq);
