//! The sled store's results feed: `f` keys (tenant, sequence) point at history entries,
//! which hold the events.

use super::keys;
use super::writer::{decode, unavailable};
use crate::model::{JobId, ResultEvent, Tenant};
use crate::store::feed::page_limit;
use crate::store::{FeedCursor, FeedEntry, FeedPage, StoreError, StoreResult};

/// The tenant's feed after `after`. A sled cursor is `(0, sequence)`: the single writer
/// allocates sequence numbers and applies its batches in that order, so an entry that
/// becomes visible later always has a higher number than every entry visible now. An
/// entry whose job is purged while the page is read is left out, as it would be a moment
/// later.
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
    for item in tree.range(keys::feed(tenant, first)..) {
        if entries.len() > limit {
            break;
        }
        let (key, value) = item.map_err(unavailable)?;
        if !key.starts_with(&prefix) {
            break;
        }
        if let Some(entry) = entry(tree, &key, &value)? {
            entries.push(entry);
        }
    }
    Ok(FeedPage::from_fetched(entries, after, limit))
}

/// The feed entry `key` → `value` as the range gave it, with its event from the history;
/// `None` if its job was purged since. The range is live and the history is read apart
/// from it: a purge, which removes a job's history and feed entries in one batch, can
/// land between the two reads. The feed key is read again to tell that from damage.
fn entry(tree: &sled::Tree, key: &[u8], value: &[u8]) -> StoreResult<Option<FeedEntry>> {
    let (Some(seq), Some(job)) = (keys::feed_seq(key), keys::id_from_value(value)) else {
        return Err(StoreError::Corrupt("results feed entry".into()));
    };
    let Some(event) = tree.get(keys::history(job, seq)).map_err(unavailable)? else {
        if tree.get(key).map_err(unavailable)?.is_none() {
            return Ok(None);
        }
        return Err(missing(job, seq));
    };
    Ok(Some(FeedEntry {
        cursor: FeedCursor {
            major: 0,
            minor: seq,
        },
        event: decode::<ResultEvent>(&event)?,
    }))
}

/// A feed entry that is still there while the history entry it points at is not: no
/// write removes one without the other, so the store is damaged.
fn missing(job: JobId, seq: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "results feed entry {seq} points at job {job}'s history, which does not hold it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceKind;
    use crate::store::sled::SledStore;
    use crate::store::JobStore;
    use crate::testing::{container, request, t0};

    /// A cancelled job's feed entry as a range read it, and the store.
    async fn cancelled() -> (tempfile::TempDir, SledStore, sled::IVec, sled::IVec) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_path(dir.path()).unwrap();
        let tenant = Tenant::new("o", "s");
        let r = request(&tenant, TraceKind::Export, "p", &container(7));
        store.publish(r.clone(), true, t0()).await.unwrap();
        store.cancel(&r.key, t0()).await.unwrap().unwrap();
        let tree = store.shared.tree.clone();
        let (key, value) = tree
            .scan_prefix(keys::feed_prefix(&tenant))
            .next()
            .unwrap()
            .unwrap();
        (dir, store, key, value)
    }

    #[tokio::test]
    async fn an_entry_purged_after_the_range_read_it_is_skipped() {
        let (_dir, store, key, value) = cancelled().await;
        let later = t0() + chrono::Duration::days(1);
        assert_eq!(store.purge_finished(later, 10).await.unwrap(), 1);
        let tree = &store.shared.tree;
        assert!(
            tree.get(&key).unwrap().is_none(),
            "the purge took the feed entry"
        );
        assert!(
            entry(tree, &key, &value).unwrap().is_none(),
            "a pair gone together is a purge, not damage"
        );
    }

    #[tokio::test]
    async fn an_entry_whose_history_alone_is_gone_is_damage() {
        let (_dir, store, key, value) = cancelled().await;
        let tree = &store.shared.tree;
        let job = keys::id_from_value(&value).unwrap();
        let seq = keys::feed_seq(&key).unwrap();
        tree.remove(keys::history(job, seq)).unwrap();
        assert!(matches!(
            entry(tree, &key, &value),
            Err(StoreError::Corrupt(_))
        ));
    }
}
