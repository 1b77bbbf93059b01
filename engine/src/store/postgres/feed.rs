//! The PostgreSQL store's results feed: the history in the order of the transactions that
//! wrote it (migration 3 says why).

use tokio_postgres::types::Json;

use super::error::to_u64;
use super::sql::{get, query};
use super::Shared;
use crate::model::{ResultEvent, Tenant};
use crate::store::feed::page_limit;
use crate::store::{FeedCursor, FeedEntry, FeedPage, StoreResult};

/// A tenant's events after the cursor (`$3` transaction id as text, `$4` sequence), in
/// feed order, from transactions that no running one can precede; `$5` rows. (The text
/// column has its own name: `ORDER BY xid` would otherwise sort by the text.)
const FEED: &str = "
    SELECT xid::text AS xid_text, seq, event FROM history
    WHERE org_id = $1 AND svc_id = $2
      AND (xid, seq) > ($3::text::xid8, $4)
      AND xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY xid, seq
    LIMIT $5";

/// The tenant's feed after `after`. A PostgreSQL cursor is `(transaction id, sequence)`.
pub(super) async fn page(
    shared: &Shared,
    tenant: &Tenant,
    after: FeedCursor,
    limit: usize,
) -> StoreResult<FeedPage> {
    let limit = page_limit(limit);
    let xid = after.major.to_string();
    // Sequence numbers are positive BIGINTs: a larger minor sorts after all of them.
    let seq = i64::try_from(after.minor).unwrap_or(i64::MAX);
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let client = shared.client().await?;
    let rows = query(
        &client,
        FEED,
        &[&tenant.org_id, &tenant.svc_id, &xid, &seq, &fetch],
    )
    .await?;
    let entries = rows
        .iter()
        .map(|row| {
            let xid: String = get(row, 0, "feed transaction id")?;
            let major = xid.parse::<u64>().map_err(|e| {
                crate::store::StoreError::Corrupt(format!("feed transaction id {xid}: {e}"))
            })?;
            let minor = to_u64("event sequence", get::<i64>(row, 1, "event sequence")?)?;
            let Json(event) = get::<Json<ResultEvent>>(row, 2, "feed event")?;
            Ok(FeedEntry {
                cursor: FeedCursor { major, minor },
                event,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(FeedPage::from_fetched(entries, after, limit))
}
