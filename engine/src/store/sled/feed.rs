//! The sled store's results feed: `f` keys (tenant, sequence) point at history entries,
//! which hold the events.

use super::keys;
use super::writer::{decode, unavailable};
use crate::model::{JobId, ResultEvent, Tenant};
use crate::store::feed::page_limit;
use crate::store::{FeedCursor, FeedEntry, FeedPage, StoreError, StoreResult};

/// The tenant's feed after `after`. A sled cursor is `(0, sequence)`: the single writer
/// allocates sequence numbers and applies its batches in that order, so an entry that
/// becomes visible later always has a higher number than every entry visible now.
pub(super) fn page(
    tree: &sled::Tree,
    tenant: &Tenant,
    after: FeedCursor,
    limit: usize,
) -> StoreResult<FeedPage> {
    let limit = page_limit(limit);
    if after.major != 0 {
        return Err(StoreError::InvalidCursor(
            "not a results cursor of this store".into(),
        ));
    }
    let prefix = keys::feed_prefix(tenant);
    let Some(first) = after.minor.checked_add(1) else {
        return Ok(FeedPage::from_fetched(Vec::new(), after, limit));
    };
    let mut entries = Vec::new();
    for entry in tree.range(keys::feed(tenant, first)..) {
        if entries.len() > limit {
            break;
        }
        let (key, value) = entry.map_err(unavailable)?;
        if !key.starts_with(&prefix) {
            break;
        }
        let (Some(seq), Some(job)) = (keys::feed_seq(&key), keys::id_from_value(&value)) else {
            return Err(StoreError::Corrupt("results feed entry".into()));
        };
        let Some(event) = tree.get(keys::history(job, seq)).map_err(unavailable)? else {
            return Err(missing(job, seq));
        };
        let event: ResultEvent = decode(&event)?;
        entries.push(FeedEntry {
            cursor: FeedCursor {
                major: 0,
                minor: seq,
            },
            event,
        });
    }
    Ok(FeedPage::from_fetched(entries, after, limit))
}

fn missing(job: JobId, seq: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "results feed entry {seq} points at job {job}'s history, which does not hold it"
    ))
}
