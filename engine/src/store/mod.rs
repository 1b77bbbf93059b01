//! The job store: the [`Store`] trait every backend implements, the embedded sled backend
//! and (feature `postgres`) the PostgreSQL backend.
//!
//! A store keeps jobs by key, a due index ordered by time, per-job result history, a
//! transactional outbox of result events, and leases. The rules that decide what a publish,
//! a cancel or a finished trace does to a job live in [`crate::model`] as pure functions;
//! a backend's job is to apply them atomically and durably.

mod feed;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sled;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    EmitReason, Fenced, Job, JobId, JobKey, PublishOutcome, ResultEvent, Tenant, TraceKind,
    TraceRequest, TrackingState,
};

pub use self::feed::{FeedCursor, FeedEntry, FeedPage, MAX_FEED_PAGE};
#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresConfig, PostgresError, PostgresStore};
pub use self::sled::{SledConfig, SledStore};

/// A store error. Every variant says what the caller can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The commit was refused because the lease is no longer the caller's; drop the work.
    #[error("commit refused: {0}")]
    Fenced(#[from] Fenced),
    /// The store could not read or write (I/O, connection): retry later; nothing was
    /// acknowledged.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be decoded: a bug or a disk fault; an operator must look.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The store cannot write again in this process (sled after an I/O error such as a
    /// full disk, a writer that stopped making progress): end the process so that a
    /// supervisor restarts it; nothing acknowledged is lost.
    #[error("the store cannot write any more: {0}")]
    Failed(String),
    /// The store cannot be opened as configured (a missing database, a data directory in
    /// use, damaged or unreadable): the message says what was found and what to do;
    /// retrying will not help.
    #[error("{0}")]
    Unusable(String),
    /// A list cursor this store did not issue (for this tenant): tell the client; retrying
    /// will not help.
    #[error("invalid page cursor: {0}")]
    InvalidCursor(String),
    /// This store does not offer what was asked (a store written before the results
    /// feed): the message says what.
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
}

/// A store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// A job handed to the caller under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job as claimed (its lease set).
    pub job: Job,
    /// The lease token to present at commit.
    pub token: u64,
}

/// The outcome of one trace, committed in one atomic step: the job's new state (result,
/// counters, next due time or stop) and, when the trace changed something a client must
/// hear about, why: the store then appends the result event (built from the job as
/// stored) to the outbox and the job's history.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCommit {
    /// The lease token of the claim.
    pub token: u64,
    /// The job after the trace, computed from the claimed snapshot.
    pub job: Job,
    /// Why a result event is due, if one is. A commit with an event is durable before it
    /// returns; one without (nothing changed) may be lost in a crash, which only means a
    /// re-trace.
    pub emit: Option<EmitReason>,
    /// When the commit happens.
    pub now: DateTime<Utc>,
}

/// What a committed trace stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The job as stored.
    pub job: Job,
    /// The result event appended to the outbox, if any.
    pub event: Option<ResultEvent>,
}

/// A store-assigned outbox sequence number: increases with every appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventSeq(pub u64);

/// The outbox queue the engine appends every result event to. Deliverers claim from it;
/// an adapter that delivers to several destinations fans entries out to queues of its own
/// ([`Store::fan_out`]), one per destination, each with its own retries and dead state.
pub const RESULTS_QUEUE: &str = "results";

/// An outbox entry: a result event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// Outbox order within its queue.
    pub seq: EventSeq,
    /// The queue: [`RESULTS_QUEUE`] or a destination's.
    pub queue: String,
    /// The job the event is about; deliveries of one job stay in order.
    pub job_id: JobId,
    /// The event, with its id.
    pub event: ResultEvent,
    /// Deliveries attempted and given back with [`Store::retry_outbox`].
    pub attempts: u32,
    /// Not handed out before this time.
    pub available_at: DateTime<Utc>,
    /// The current claim, if any.
    pub lease: Option<crate::model::Lease>,
    /// Given up on ([`Store::bury_outbox`]): kept for a replay, never handed out, and no
    /// longer holding back the job's later entries.
    #[serde(default)]
    pub dead: bool,
    /// Why the last attempt failed, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How many entries a queue holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxStats {
    /// Entries waiting or in flight.
    pub pending: usize,
    /// Entries given up on.
    pub dead: usize,
}

/// One claimed outbox entry to fan out ([`Store::fan_out_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutEntry {
    /// The entry's sequence number in its queue.
    pub seq: EventSeq,
    /// The claim's lease token.
    pub token: u64,
    /// The queues that get a copy (none: the entry is simply removed).
    pub to: Vec<String>,
}

/// An outbox entry handed to a deliverer under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxClaim {
    /// The entry.
    pub entry: OutboxEntry,
    /// The lease token to present to ack or retry.
    pub token: u64,
}

/// Which due jobs a claim takes ([`Store::claim_due_by`]) and how long it holds each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueClaim {
    /// Now.
    pub now: DateTime<Utc>,
    /// Jobs due by this time are taken: `now`, or later to claim ahead of time.
    pub due_by: DateTime<Utc>,
    /// At most this many, earliest due first.
    pub limit: usize,
    /// Each is leased this long past its own due time (past `now` when it is due
    /// already): a job claimed ahead whose holder dies comes back a lease after the time
    /// it was due, not a lease after the horizon.
    pub lease: chrono::Duration,
}

impl DueClaim {
    /// The lease end of a job due at `due`.
    pub fn lease_until(&self, due: Option<DateTime<Utc>>) -> DateTime<Utc> {
        due.unwrap_or(self.now).max(self.now) + self.lease
    }
}

/// Filters and paging for [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListQuery {
    /// Only jobs in this state.
    pub state: Option<TrackingState>,
    /// Only jobs of this kind.
    pub kind: Option<TraceKind>,
    /// Continue after this cursor (from the previous page).
    pub after: Option<String>,
    /// Page size (capped by the store; 0 means the default of 100).
    pub limit: usize,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// Jobs, ordered by key.
    pub jobs: Vec<Job>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Storage for jobs, due times, history, the outbox and leases.
///
/// Every write that acknowledges something to a client (publish, cancel, a commit with an
/// event) is durable when the call returns. Claims are leases: a job or outbox entry
/// claimed and never committed comes back by itself when its lease lapses, so no start-up
/// scan is needed after a crash. `boxtrace::testing::store_conformance` checks all of this
/// for any implementation.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a publish ([`Job::plan_publish`]) atomically and durably.
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)>;

    /// Applies a cancel ([`Job::plan_cancel`]) atomically and durably, appending the final
    /// event to the outbox and history. `None` when no active job matched (not an error).
    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>>;

    /// The job stored under `key`.
    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>>;

    /// A tenant's jobs, ordered by key, filtered and paged.
    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage>;

    /// Every tenant's jobs, ordered by tenant and then as [`Store::list`] orders them,
    /// filtered and paged: the operator's view (the console). A page costs its size plus
    /// the jobs its filters skip, never the whole store at once.
    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage>;

    /// The job's result events, oldest first, at most `limit` (the newest ones).
    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>>;

    /// The tenant's result events after `after`, in feed order, at most `limit` (0 means
    /// 100; capped at [`MAX_FEED_PAGE`]): every event appended to the outbox and history
    /// ([`Store::complete`], [`Store::cancel`]) is in the feed of its job's tenant, once.
    /// A cursor handed out stays valid: no event that becomes visible later sorts before
    /// it, so paging from cursor to cursor never skips one. Only durable events are shown.
    ///
    /// The default answers [`StoreError::Unsupported`].
    async fn results(
        &self,
        _tenant: &Tenant,
        _after: FeedCursor,
        _limit: usize,
    ) -> StoreResult<FeedPage> {
        Err(StoreError::Unsupported("the results feed"))
    }

    /// Leases up to `limit` jobs due at `now` (earliest first) until `lease_until`.
    /// Finding them costs O(log n + k), never a scan of all jobs.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<Claimed>> {
        let lease = (lease_until - now).max(chrono::Duration::zero());
        self.claim_due_by(DueClaim {
            now,
            due_by: now,
            limit,
            lease,
        })
        .await
    }

    /// Leases up to `claim.limit` jobs due by `claim.due_by` (earliest first), each until
    /// [`DueClaim::lease_until`] its due time: the dispatcher claims a little ahead so that
    /// a provider request with room can take jobs that are due soon. Finding them costs
    /// O(log n + k), never a scan of all jobs.
    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>>;

    /// Extends a held lease.
    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()>;

    /// Hands a lease back untraced ([`Job::release`]): due again at `due`, held by no one,
    /// so that a claim ahead may take it before then. The default renews to `due` instead,
    /// which is safe but keeps the job out of claims ahead until `due`.
    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.renew(job, token, due).await
    }

    /// Commits a finished trace in one atomic step (job, due index, outbox, history), if
    /// the lease is still the caller's ([`Job::merge_completion`]); returns the job as stored.
    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed>;

    /// The earliest due time of any active job (lapsing leases included).
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;

    /// Brings forward the active jobs of `provider` whose box is in `cohort`
    /// ([`Job::cohort`]): each one that [`Job::expedites`] comes due at `at`. Returns how
    /// many moved. Finding them costs O(log n + k) in the cohort's size, never a scan.
    ///
    /// The default moves none: a store without a cohort index leaves every job to its
    /// own schedule, which is slower to notice a visit's news but never wrong.
    async fn expedite_cohort(
        &self,
        _provider: &str,
        _cohort: &str,
        _at: DateTime<Utc>,
        _seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        Ok(0)
    }

    /// Leases up to `limit` entries of `queue` available at `now`, oldest first, never two
    /// of one job at once and never one while an older live entry of its job waits.
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>>;

    /// Removes a delivered entry. Refused ([`StoreError::Fenced`]) if the lease was lost.
    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()>;

    /// Gives an entry back to be retried from `not_before`, counting the attempt and
    /// noting why it failed.
    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()>;

    /// Replaces a claimed entry, atomically and durably, by a copy of its event in each
    /// queue of `to` (none: the entry is simply removed). The copies keep the event id.
    async fn fan_out(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// [`Store::fan_out`] for several claimed entries of `queue`, applied in the order
    /// given, one result each. A store that group-commits should make them share one
    /// durable write: a deliverer fans out whole claimed batches, and one flush per event
    /// would cap delivery at the disk's flush rate. The default fans out one by one.
    async fn fan_out_all(
        &self,
        queue: &str,
        entries: &[FanOutEntry],
        now: DateTime<Utc>,
    ) -> Vec<StoreResult<()>> {
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            results.push(
                self.fan_out(queue, entry.seq, entry.token, &entry.to, now)
                    .await,
            );
        }
        results
    }

    /// Gives up on a claimed entry: it stays, dead, until [`Store::replay_outbox`].
    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()>;

    /// Makes every dead entry of `queue` available again at `now`; returns how many.
    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize>;

    /// Removes every entry of `queue` (its destination is gone); returns how many.
    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize>;

    /// How many entries `queue` holds.
    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats>;

    /// The first `limit` entries of `queue`, oldest first, dead ones included: what an
    /// operator looks at before replaying or purging a queue.
    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>>;

    /// Stores an adapter's record (web-hook registrations, API clients, ...) under
    /// `kind` and `key`, durably. The engine never reads these.
    async fn put_record(&self, kind: &str, key: &str, value: &serde_json::Value)
        -> StoreResult<()>;

    /// An adapter's record.
    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>>;

    /// An adapter's records of `kind` whose keys start with `prefix`, ordered by key.
    async fn list_records(
        &self,
        kind: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>>;

    /// Removes an adapter's record, durably; whether it existed.
    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool>;

    /// Makes every write so far durable.
    async fn flush(&self) -> StoreResult<()>;

    /// Whether the store can take writes now; `Err` says why not. Readiness reports it.
    /// The default is always writable (a store whose writes fail call by call, such as
    /// PostgreSQL, reports each failure to its caller instead).
    fn writable(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Resolves, with the reason, once the store cannot write again in this process
    /// ([`StoreError::Failed`]): the process should end so that a supervisor restarts it.
    /// The default never resolves.
    async fn failed(&self) -> StoreError {
        std::future::pending().await
    }

    /// Wake-ups from the other processes that share this store: the receiver is marked
    /// changed soon after another process makes a job due now (a publish, a forced trace),
    /// so that whichever dispatcher is free claims it within milliseconds. `None` (the
    /// default) for a store that only this process writes, such as sled.
    ///
    /// Best effort: a wake-up may be lost (a dropped connection), so a dispatcher still
    /// looks at the store at least every `max_idle`.
    fn wake_ups(&self) -> Option<tokio::sync::watch::Receiver<()>> {
        None
    }
}
