//! The embedded store on sled 0.34: one tree, one writer thread, group-committed flushes.

mod feed;
mod health;
mod keys;
mod ledger;
mod open;
mod prepare;
mod record;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use self::writer::{decode, encode, held_lease, unavailable, Op, Writer};
use super::outbox::unsettled;
use super::Settlement;
use super::{
    Claimed, Committed, DueClaim, EventSeq, FanOutEntry, FeedCursor, FeedPage, JobPage, JobStore,
    ListQuery, Outbox, OutboxClaim, OutboxEntry, OutboxStats, Records, StoreError, StoreResult,
    TraceCommit,
};
use crate::model::{Job, JobId, JobKey, PublishOutcome, ResultEvent, Tenant, TraceRequest};

use self::health::Health;
#[cfg(feature = "testing")]
pub use self::health::WriterHang;
#[cfg(test)]
use self::open::SCHEMA_VERSION;

/// Reads of one job outside the writer that may retry because a write landed between
/// reading its two records.
const CONSISTENT_READ_TRIES: usize = 16;

/// Configuration of the sled store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SledConfig {
    /// The database directory (created if missing).
    pub path: PathBuf,
    /// sled's page cache, in bytes. Resident memory follows it.
    pub cache_capacity: u64,
    /// Most operations applied (and flushed) as one batch. Memory during bulk ingest
    /// follows it (DESIGN.md: 100 kept 1M jobs under 0.6 GiB).
    pub max_batch: usize,
    /// sled's background flush period for writes that need not be durable at once
    /// (claims, renewals, rescheduling of unchanged traces, cohort expedites, outbox acks,
    /// retries and releases, retention purges), in milliseconds.
    pub flush_every_ms: u64,
    /// Flush every trace commit before it returns, an unchanged trace's reschedule too.
    /// Off by default: losing an unchanged reschedule in a crash only makes the job due
    /// again at once, and the trace finds the same result (no event is lost or repeated),
    /// so those commits ride on the next flush. Changed results, publishes and cancels
    /// are always flushed before they return.
    pub durable_reschedules: bool,
    /// Longest one batch of the writer may run (fsync included) before the store counts
    /// as stuck: it then fails ([`StoreError::Failed`]), readiness turns off, and the
    /// process should be restarted. sled 0.34.7 can deadlock (upstream issue #1412).
    #[serde(with = "humantime_serde")]
    pub stall_limit: Duration,
    /// Open even when the record of acknowledged writes beside the database says that
    /// acknowledged writes are missing (a damaged or replaced database file): what was
    /// lost is logged, and a new record starts from what is left. Off by default: the
    /// store then refuses to open and says what it found.
    pub accept_data_loss: bool,
}

impl Default for SledConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("boxtrace-data"),
            cache_capacity: 64 * 1024 * 1024,
            max_batch: 256,
            flush_every_ms: 500,
            durable_reschedules: false,
            stall_limit: Duration::from_secs(60),
            accept_data_loss: false,
        }
    }
}

impl SledConfig {
    /// The default configuration for the directory `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }
}

/// The embedded store. Cloning shares it; the writer thread stops, after a final flush,
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SledStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The tree, for reads; writes go through the writer, which holds the database.
    tree: sled::Tree,
    /// This database's instance id, in every event id.
    instance: String,
    /// The highest event sequence known to be on disk ([`Writer::flushed_seq`]).
    flushed_seq: Arc<AtomicU64>,
    ops: Option<mpsc::Sender<Op>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    health: Arc<Health>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel ends the writer; waiting for it releases the database
        // directory, so that the same process can open it again.
        self.ops.take();
        if self.health.is_stuck() || self.health.check().is_err() {
            // A stuck writer never ends, and one whose sled failed may not (sled's flush
            // waits for ever once its log failed): waiting would hang the process's exit.
            // For the same reason this tree handle must not be the tree's last: dropping
            // the last one flushes (sled's `TreeInner::drop`), and would hang here once
            // the writer has ended. The process is on its way out, so the handle is leaked.
            std::mem::forget(self.tree.clone());
            return;
        }
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl SledStore {
    /// Opens (or creates) the store at `config.path`.
    ///
    /// Refuses ([`StoreError::Unusable`], with what was found and what to do) a directory
    /// another process has open, a database written by a newer boxtrace, and a database
    /// that lacks writes the record beside it says were acknowledged (unless
    /// `config.accept_data_loss`).
    pub fn open(config: &SledConfig) -> StoreResult<Self> {
        let db = open::db(
            sled::Config::new()
                .path(&config.path)
                .cache_capacity(config.cache_capacity)
                .flush_every_ms(Some(config.flush_every_ms.max(1))),
            &config.path,
        )?;
        let tree = db.open_tree("boxtrace").map_err(unavailable)?;
        let instance = open::meta(&tree)?;
        let acks = open::acks(&tree)?;
        let ledger = ledger::Ledger::open(&config.path, acks, config.accept_data_loss)?;
        let ledger = ledger::Recorder::start(ledger)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the ledger thread: {e}")))?;
        let health = Health::new();
        let flushed_seq = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel(config.max_batch.max(1) * 8);
        let writer = Writer {
            db,
            tree: tree.clone(),
            instance: instance.clone(),
            max_batch: config.max_batch.max(1),
            durable_reschedules: config.durable_reschedules,
            unflushed: false,
            leased: Default::default(),
            health: health.clone(),
            ledger,
            acks,
            created: 0,
            last_seq: 0,
            flushed_seq: flushed_seq.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("boxtrace-sled-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        health::watch(&health, config.stall_limit).map_err(|e| {
            StoreError::Unavailable(format!("cannot start the watchdog thread: {e}"))
        })?;
        Ok(Self {
            shared: Arc::new(Shared {
                tree,
                instance,
                flushed_seq,
                ops: Some(tx),
                writer: Mutex::new(Some(handle)),
                health,
            }),
        })
    }

    /// Opens the store in `path` with the default configuration.
    pub fn open_path(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open(&SledConfig::new(path.as_ref()))
    }

    async fn call<T>(&self, make: impl FnOnce(writer::Reply<T>) -> Op) -> StoreResult<T> {
        // A failed store answers at once: its writer may be stuck for good.
        self.shared.health.check()?;
        let (reply, result) = oneshot::channel();
        let ops = self.shared.ops.as_ref().ok_or(StoreError::Closed)?;
        ops.send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Returns once every event of `page` is on disk. A batch is visible before its
    /// flush: only what a crash cannot undo may be shown, or a client's cursor could
    /// point past an event that never was. Events up to the writer's watermark are on
    /// disk already; a later one waits for a flush.
    async fn durable_feed(&self, page: &FeedPage) -> StoreResult<()> {
        let last = page.entries.last().map_or(0, |e| e.cursor.minor);
        if last > self.shared.flushed_seq.load(Ordering::Acquire) {
            self.flush().await?;
        }
        Ok(())
    }

    fn job_id(&self, key: &JobKey) -> StoreResult<Option<JobId>> {
        match self
            .shared
            .tree
            .get(keys::job_key(key))
            .map_err(unavailable)?
        {
            Some(v) => keys::indexed_id(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Reads job `id` as one write left it. Its body and schedule are two keys, and a
    /// batch may land between reading them; every write of a job rewrites its schedule
    /// (counters and times only move forward), so an unchanged schedule around the body's
    /// read means the two belong together.
    fn job_by_id(&self, id: JobId) -> StoreResult<Option<Job>> {
        let tree = &self.shared.tree;
        let get = |key: &[u8]| tree.get(key).map_err(unavailable);
        let mut schedule = get(&keys::schedule(id))?;
        let mut attempts = 1;
        loop {
            let Some(body) = get(&keys::job(id))? else {
                return Ok(None);
            };
            let after = get(&keys::schedule(id))?;
            // A job rewritten this often is traced in a loop; its last read is as good.
            if after == schedule || attempts == CONSISTENT_READ_TRIES {
                return record::decode(after.as_deref(), &body).map(Some);
            }
            schedule = after;
            attempts += 1;
        }
    }

    /// The jobs whose key starts with `prefix` (a tenant's, or every job's), by key.
    fn list_prefix(&self, prefix: Vec<u8>, query: &ListQuery) -> StoreResult<JobPage> {
        let limit = query.page_size();
        let start = match query.after.as_deref() {
            Some(cursor) => {
                let mut after = keys::from_hex(cursor)
                    .filter(|key| key.starts_with(&prefix))
                    .ok_or_else(|| {
                        StoreError::InvalidCursor("not a cursor of this listing".into())
                    })?;
                // Just past the cursor's key.
                after.push(0);
                after
            }
            None => prefix.clone(),
        };
        let mut jobs = Vec::new();
        let mut next = None;
        for entry in self.shared.tree.range(start..) {
            let (key, value) = entry.map_err(unavailable)?;
            if !key.starts_with(&prefix) {
                break;
            }
            let Some(id) = keys::id_from_value(&value) else {
                continue;
            };
            let Some(job) = self.job_by_id(id)? else {
                continue;
            };
            let kept = query.state.is_none_or(|s| s == job.state)
                && query.kind.is_none_or(|k| k == job.request.key.kind);
            if !kept {
                continue;
            }
            if jobs.len() == limit {
                next = Some(keys::to_hex(&keys::job_key(
                    &jobs
                        .last()
                        .map_or(job.request.key.clone(), |j: &Job| j.request.key.clone()),
                )));
                break;
            }
            jobs.push(job);
        }
        Ok(JobPage { jobs, next })
    }
}

#[async_trait]
impl JobStore for SledStore {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        // A failed store refuses before the work of preparing (`call` would refuse too).
        self.shared.health.check()?;
        let prepared = Box::new(prepare::publish(request, real_time, now)?);
        self.call(|reply| Op::Publish { prepared, reply }).await
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        let key = key.clone();
        self.call(|reply| Op::Cancel { key, now, reply }).await
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        match self.job_id(key)? {
            Some(id) => self.job_by_id(id),
            None => Ok(None),
        }
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        self.list_prefix(keys::tenant_prefix(tenant), query)
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        self.list_prefix(vec![keys::JOB_KEY], query)
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        let Some(id) = self.job_id(key)? else {
            return Ok(Vec::new());
        };
        let mut events = self
            .shared
            .tree
            .scan_prefix(keys::history_prefix(id))
            .rev()
            .take(limit)
            .map(|entry| {
                let (_, value) = entry.map_err(unavailable)?;
                decode(&value)
            })
            .collect::<StoreResult<Vec<ResultEvent>>>()?;
        events.reverse();
        Ok(events)
    }

    async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> StoreResult<FeedPage> {
        let page = feed::page(&self.shared.tree, tenant, after, limit)?;
        self.durable_feed(&page).await?;
        Ok(page)
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.call(|reply| Op::ClaimDue { claim, reply }).await
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.call(|reply| Op::Renew {
            job,
            token,
            until,
            hand_back: false,
            reply,
        })
        .await
    }

    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.call(|reply| Op::Renew {
            job,
            token,
            until: due,
            hand_back: true,
            reply,
        })
        .await
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        let prepared = Box::new(prepare::commit(commit, &self.shared.instance)?);
        self.call(|reply| Op::Complete { prepared, reply }).await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let Some(entry) = self.shared.tree.scan_prefix([keys::DUE]).next() else {
            return Ok(None);
        };
        let (key, _) = entry.map_err(unavailable)?;
        let (ms, _) =
            keys::parse_due(&key).ok_or_else(|| StoreError::Corrupt("due index key".into()))?;
        let ms = i64::try_from(ms).map_err(|_| StoreError::Corrupt("due time".into()))?;
        Ok(Utc.timestamp_millis_opt(ms).single())
    }

    async fn expedite_cohort(
        &self,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let (provider, cohort) = (provider.to_owned(), cohort.to_owned());
        self.call(|reply| Op::ExpediteCohort {
            provider,
            cohort,
            at,
            seen,
            reply,
        })
        .await
    }

    async fn purge_finished(
        &self,
        finished_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        self.call(|reply| Op::PurgeFinished {
            before: finished_before,
            limit,
            reply,
        })
        .await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.call(|reply| Op::Flush { reply }).await
    }

    fn writable(&self) -> StoreResult<()> {
        self.shared.health.check()
    }

    async fn failed(&self) -> StoreError {
        self.shared.health.wait_failed().await
    }
}

#[async_trait]
impl Outbox for SledStore {
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        let queue = queue.to_owned();
        self.call(|reply| Op::ClaimOutbox {
            queue,
            now,
            limit,
            until: lease_until,
            reply,
        })
        .await
    }

    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()> {
        let queue = queue.to_owned();
        self.call(|reply| Op::AckOutbox {
            queue,
            seq,
            token,
            reply,
        })
        .await
    }

    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        let queue = queue.to_owned();
        self.call(|reply| Op::RetryOutbox {
            queue,
            seq,
            token,
            not_before,
            error,
            reply,
        })
        .await
    }

    async fn fan_out(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (queue, to) = (queue.to_owned(), to.to_vec());
        self.call(|reply| Op::FanOut {
            queue,
            seq,
            token,
            to,
            now,
            reply,
        })
        .await
    }

    async fn fan_out_all(
        &self,
        queue: &str,
        entries: &[FanOutEntry],
        now: DateTime<Utc>,
    ) -> Vec<StoreResult<()>> {
        if self.shared.health.check().is_err() {
            return entries.iter().map(|_| self.shared.health.check()).collect();
        }
        // Queue every operation before awaiting any: the writer then applies them in
        // this order and flushes once for all that arrived together.
        let mut replies = Vec::with_capacity(entries.len());
        for entry in entries {
            let (reply, result) = oneshot::channel();
            let op = Op::FanOut {
                queue: queue.to_owned(),
                seq: entry.seq,
                token: entry.token,
                to: entry.to.clone(),
                now,
                reply,
            };
            let sent = match self.shared.ops.as_ref() {
                Some(ops) => ops.send(op).await.map_err(|_| StoreError::Closed),
                None => Err(StoreError::Closed),
            };
            replies.push(sent.map(|()| result));
        }
        let mut results = Vec::with_capacity(replies.len());
        for reply in replies {
            results.push(match reply {
                Ok(result) => result.await.unwrap_or(Err(StoreError::Closed)),
                Err(e) => Err(e),
            });
        }
        results
    }

    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        let queue = queue.to_owned();
        self.call(|reply| Op::Bury {
            queue,
            seq,
            token,
            error,
            reply,
        })
        .await
    }

    async fn settle(&self, queue: &str, settlements: &[Settlement]) -> Vec<StoreResult<()>> {
        if settlements.is_empty() {
            return Vec::new();
        }
        let (queue, list) = (queue.to_owned(), settlements.to_vec());
        match self
            .call(|reply| Op::Settle {
                queue,
                settlements: list,
                reply,
            })
            .await
        {
            Ok(results) => results,
            Err(e) => unsettled(settlements, &e),
        }
    }

    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        let queue = queue.to_owned();
        self.call(|reply| Op::Replay { queue, now, reply }).await
    }

    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize> {
        let queue = queue.to_owned();
        self.call(|reply| Op::Purge { queue, reply }).await
    }

    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats> {
        /// Only what the count needs: an entry whose event no longer decodes still counts
        /// as what it is (as PostgreSQL counts its rows by their `dead` column).
        #[derive(Deserialize)]
        struct Flags {
            #[serde(default)]
            dead: bool,
        }
        let (mut stats, mut unreadable) = (OutboxStats::default(), 0usize);
        for item in self.shared.tree.scan_prefix(keys::outbox_prefix(queue)) {
            let (_, value) = item.map_err(unavailable)?;
            match decode::<Flags>(&value) {
                Ok(Flags { dead: true }) => stats.dead += 1,
                Ok(Flags { dead: false }) => stats.pending += 1,
                Err(_) => unreadable += 1,
            }
        }
        if unreadable > 0 {
            tracing::error!(
                queue,
                entries = unreadable,
                "outbox entries that are not JSON are not counted"
            );
        }
        Ok(stats)
    }

    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.shared
            .tree
            .scan_prefix(keys::outbox_prefix(queue))
            .take(limit)
            .map(|item| {
                let (_, value) = item.map_err(unavailable)?;
                let mut entry = decode::<OutboxEntry>(&value)?;
                // An ended lease keeps its token in the tree, but is nobody's claim.
                entry.lease = held_lease(&entry);
                Ok(entry)
            })
            .collect()
    }
}

#[async_trait]
impl Records for SledStore {
    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        let key = keys::record(kind, key);
        let value = encode(value)?;
        self.call(|reply| Op::PutRecord { key, value, reply }).await
    }

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.shared
            .tree
            .get(keys::record(kind, key))
            .map_err(unavailable)?
            .map(|v| decode(&v))
            .transpose()
    }

    async fn list_records(
        &self,
        kind: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>> {
        self.shared
            .tree
            .scan_prefix(keys::record(kind, prefix))
            .map(|item| {
                let (key, value) = item.map_err(unavailable)?;
                let name = keys::record_key(kind, &key)
                    .ok_or_else(|| StoreError::Corrupt("record key".into()))?;
                Ok((name.to_owned(), decode(&value)?))
            })
            .collect()
    }

    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool> {
        let key = keys::record(kind, key);
        self.call(|reply| Op::DeleteRecord { key, reply }).await
    }
}

#[cfg(feature = "testing")]
impl SledStore {
    /// Test hook: the writer's next batch hangs (as a deadlock inside sled would) until
    /// the returned guard is dropped.
    pub fn hang_writer(&self) -> WriterHang {
        self.shared.health.hang_next_batch()
    }

    /// Test hook: the writer's next batch fails as an I/O error would (a full disk).
    pub fn inject_write_failure(&self) {
        self.shared
            .health
            .hooks
            .fail_write
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
