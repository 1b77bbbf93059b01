//! Opening the sled store: the database with errors that say what to do, the schema
//! version, the instance id, and the check of acknowledged writes.

use std::path::Path;

use rand::Rng;

use super::keys;
use super::ledger::Acks;
use super::writer::unavailable;
use crate::store::{StoreError, StoreResult};

/// The on-disk layout version this build writes. 2 split each job into a body and a
/// schedule record (`record.rs`); this build still reads jobs that version 1 wrote. 3 added
/// the results feed (`f` keys), built from the history when an older store is opened. 4
/// added the retention index of finished jobs (`e` keys), built from the jobs (one scan)
/// when an older store is opened.
pub(super) const SCHEMA_VERSION: u64 = 4;

/// The version from which the results feed is kept with every event.
const FEED_VERSION: u64 = 3;

/// The version from which finished jobs are indexed by finish time.
const RETENTION_VERSION: u64 = 4;

/// The meta key of the acknowledged-writes counters ([`Acks`]).
pub(super) const ACKS: &str = "acks";

/// Opens the database in `path`, with an error that names what is wrong: the directory
/// in use by another process, unreadable, or damaged.
pub(super) fn db(config: sled::Config, path: &Path) -> StoreResult<sled::Db> {
    config.open().map_err(|e| open_error(path, &e))
}

fn open_error(path: &Path, e: &sled::Error) -> StoreError {
    let dir = path.display();
    let message = match e {
        // sled's message for a directory another process holds (config.rs, `try_lock`).
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => format!(
            "the sled data directory {dir} is in use by another process (sled allows one \
             process per directory): stop the other boxtrace, or use another data directory"
        ),
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "cannot open the sled data directory {dir}: {io}: give this user read and write \
             rights on it"
        ),
        sled::Error::Io(io) => format!(
            "cannot open the sled data directory {dir}: {io}: check that the path is a \
             directory on a mounted file system with free space"
        ),
        sled::Error::Corruption { .. } => {
            format!("the sled data directory {dir} is damaged ({e}): restore it from a backup")
        }
        sled::Error::Unsupported(why) => {
            format!("the sled data directory {dir} cannot be opened with these settings: {why}")
        }
        other => format!("cannot open the sled data directory {dir}: {other}"),
    };
    StoreError::Unusable(message)
}

/// Checks the schema version and returns this database's instance id, which makes event
/// ids unique across databases.
pub(super) fn meta(tree: &sled::Tree) -> StoreResult<String> {
    let version_key = keys::meta("schema");
    match tree.get(&version_key).map_err(unavailable)? {
        Some(v) => {
            let version = u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("schema version".into()))?,
            );
            if version > SCHEMA_VERSION {
                return Err(StoreError::Unusable(format!(
                    "the store has schema version {version}, newer than this build's {SCHEMA_VERSION}; run a newer boxtrace"
                )));
            }
            if version < FEED_VERSION {
                // Before the version is raised: a crash part-way builds it again.
                let indexed = index_feed(tree)?;
                tracing::info!(events = indexed, "results feed built from the history");
            }
            if version < RETENTION_VERSION {
                // Before the version is raised: a crash part-way builds it again.
                let indexed = super::writer::index_finished_jobs(tree)?;
                tracing::info!(
                    jobs = indexed,
                    "retention index built from the finished jobs"
                );
            }
            if version < SCHEMA_VERSION {
                // Older jobs stay readable; the new version keeps older builds, which
                // cannot read split jobs or keep the feed, from opening the store.
                tree.insert(&version_key, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(unavailable)?;
                tracing::info!(
                    from = version,
                    to = SCHEMA_VERSION,
                    "sled store upgraded; jobs take the new layout at their next write"
                );
            }
        }
        None => {
            tree.insert(&version_key, &SCHEMA_VERSION.to_be_bytes())
                .map_err(unavailable)?;
        }
    }
    let instance_key = keys::meta("instance");
    if let Some(v) = tree.get(&instance_key).map_err(unavailable)? {
        return String::from_utf8(v.to_vec())
            .map_err(|_| StoreError::Corrupt("instance id".into()));
    }
    let instance = format!("{:08x}", rand::rng().random::<u32>());
    tree.insert(&instance_key, instance.as_bytes())
        .map_err(unavailable)?;
    Ok(instance)
}

/// Adds every history event to its tenant's feed (idempotent); returns how many.
fn index_feed(tree: &sled::Tree) -> StoreResult<u64> {
    /// Only what the feed key needs from a stored event.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct EventTenant {
        org_id: String,
        svc_id: String,
    }
    build_index(tree, keys::HISTORY, |key, value| {
        let (Some(job), Some(seq)) = (key.get(1..9), keys::feed_seq(key)) else {
            return Ok(None);
        };
        let event: EventTenant = serde_json::from_slice(value)
            .map_err(|e| StoreError::Corrupt(format!("history event: {e}")))?;
        let tenant = crate::model::Tenant::new(event.org_id, event.svc_id);
        Ok(Some((keys::feed(&tenant, seq), job.to_vec())))
    })
}

/// Builds an index at open from an older store's data: the entry `make` derives from
/// each key and value under `prefix` (if any), written in batches of bounded size (memory
/// follows batch size: DESIGN.md); returns how many. Rerunning it writes the same again.
pub(super) fn build_index(
    tree: &sled::Tree,
    prefix: u8,
    mut make: impl FnMut(&[u8], &[u8]) -> StoreResult<Option<(Vec<u8>, Vec<u8>)>>,
) -> StoreResult<u64> {
    const BATCH: u64 = 10_000;
    let mut batch = sled::Batch::default();
    let mut indexed = 0;
    for entry in tree.scan_prefix([prefix]) {
        let (key, value) = entry.map_err(unavailable)?;
        let Some((key, value)) = make(&key, &value)? else {
            continue;
        };
        batch.insert(key, value);
        indexed += 1;
        if indexed % BATCH == 0 {
            tree.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
        }
    }
    tree.apply_batch(batch).map_err(unavailable)?;
    Ok(indexed)
}

/// The acknowledged-writes counters the tree holds (zero in a store made before them).
pub(super) fn acks(tree: &sled::Tree) -> StoreResult<Acks> {
    match tree.get(keys::meta(ACKS)).map_err(unavailable)? {
        Some(v) => Acks::decode(&v)
            .ok_or_else(|| StoreError::Corrupt("acknowledged-writes counters".into())),
        None => Ok(Acks::default()),
    }
}
