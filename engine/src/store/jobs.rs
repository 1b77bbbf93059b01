//! The job store: the [`JobStore`] trait, all the engine needs to run, and the types its
//! methods take and return.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FeedCursor, FeedPage, StoreError, StoreResult};
use crate::model::{
    EmitReason, Job, JobId, JobKey, PublishOutcome, ResultEvent, Tenant, TraceKind, TraceRequest,
    TrackingState,
};

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
/// stored) to the job's history and, in a store with an outbox, to its results queue.
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
    /// The result event appended to the history (and outbox), if any.
    pub event: Option<ResultEvent>,
}

/// Which due jobs a claim takes ([`JobStore::claim_due_by`]) and how long it holds each.
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

/// Filters and paging for [`JobStore::list`].
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

impl ListQuery {
    /// The page size a store serves: [`ListQuery::limit`], 100 for 0, at most 1,000.
    #[cfg_attr(not(any(feature = "sled", feature = "postgres")), allow(dead_code))]
    pub(crate) fn page_size(&self) -> usize {
        match self.limit {
            0 => 100,
            n => n.min(1000),
        }
    }
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// Jobs, ordered by key.
    pub jobs: Vec<Job>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Storage for jobs, due times, history and leases: the one capability the engine needs
/// to run. A backend that implements only this trait runs the dispatcher, publishes,
/// cancels and reads; the outbox ([`super::Outbox`]) and adapter records
/// ([`super::Records`]) are opt-in capabilities, the way apalis splits its `Backend` from
/// opt-in ones. Whoever writes a backend implements this first.
///
/// Every write that acknowledges something to a client (publish, cancel, a commit with an
/// event) is durable when the call returns. Claims are leases: a job claimed and never
/// committed comes back by itself when its lease lapses, so no start-up scan is needed
/// after a crash. `boxtrace::testing::store_conformance::run_job_store` checks all of this
/// for any implementation, one that keeps every default included; each optional method
/// a store overrides has a suite of its own there (`run_feed`, `run_retention`,
/// `run_cohort`, `run_release`).
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a publish ([`Job::plan_publish`]) atomically and durably.
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)>;

    /// Applies a cancel ([`Job::plan_cancel`]) atomically and durably, appending the final
    /// event to the history (and to the outbox, in a store that has one). `None` when no
    /// active job matched (not an error).
    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>>;

    /// The job stored under `key`.
    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>>;

    /// A tenant's jobs, ordered by key, filtered and paged.
    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage>;

    /// Every tenant's jobs, ordered by tenant and then as [`JobStore::list`] orders them,
    /// filtered and paged: the operator's view (the console). A page costs its size plus
    /// the jobs its filters skip, never the whole store at once.
    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage>;

    /// The job's result events, oldest first, at most `limit` (the newest ones).
    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>>;

    /// The tenant's result events after `after`, in feed order, at most `limit` (0 means
    /// 100; capped at [`MAX_FEED_PAGE`](super::MAX_FEED_PAGE)): every event appended to the
    /// history ([`JobStore::complete`], [`JobStore::cancel`]) is in the feed of its job's
    /// tenant, once.
    /// A cursor handed out stays valid: no event that becomes visible later sorts before
    /// it, so paging from cursor to cursor never skips one. Only durable events are shown.
    ///
    /// The default answers [`StoreError::Unsupported`]. A store that overrides it passes
    /// `store_conformance::run_feed`.
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
    /// so that a claim ahead may take it before then.
    ///
    /// The default renews the lease to `due` instead (the other methods cannot end a
    /// lease without a trace): the job comes due at `due` all the same and only its holder
    /// could hand it back, but it stays held until then, so no claim ahead takes it early.
    /// `store_conformance::run_job_store` accepts either; a store that overrides it passes
    /// `store_conformance::run_release`.
    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.renew(job, token, due).await
    }

    /// Commits a finished trace in one atomic step (job, due index, history, and the outbox
    /// if the store has one), if
    /// the lease is still the caller's ([`Job::merge_completion`]); returns the job as stored.
    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed>;

    /// The earliest due time of any active job (lapsing leases included).
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;

    /// Brings forward the active jobs of `provider` whose box is in `cohort`
    /// ([`Job::cohort`]): each one that [`Job::expedites`] comes due at `at`. Returns how
    /// many moved. Finding them costs O(log n + k) in the cohort's size, never a scan.
    ///
    /// The default moves none: a store without a cohort index leaves every job to its
    /// own schedule, which is slower to notice a visit's news but never wrong. A store
    /// that overrides it passes `store_conformance::run_cohort`.
    async fn expedite_cohort(
        &self,
        _provider: &str,
        _cohort: &str,
        _at: DateTime<Utc>,
        _seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        Ok(0)
    }

    /// Removes up to `limit` finished jobs (completed, cancelled, expired, failed) that
    /// finished before `finished_before`, oldest first, with everything they own: the
    /// job, its key, its index entries, its history and its results-feed entries, in one
    /// atomic step per job. A job finishes at its [`Job::updated_at`], which every
    /// transition to a finished state sets and nothing changes afterwards but a
    /// re-publish. Returns how many jobs went.
    ///
    /// Each job is removed only if it is still finished, and finished before the cutoff,
    /// when it is removed: a job re-published meanwhile keeps its new life. Outbox entries
    /// are left alone (a finished job's last event may still wait for its delivery;
    /// delivered entries are removed by [`Outbox::ack_outbox`], [`Outbox::fan_out`] and
    /// an ack through [`Outbox::settle`]).
    /// Results-feed cursors handed out earlier stay valid: paging on skips nothing that is
    /// still stored. Finding the jobs costs O(log n + k), never a scan of all jobs.
    ///
    /// The default removes nothing: a store without it keeps every job. A store that
    /// overrides it passes `store_conformance::run_retention`.
    ///
    /// [`Outbox::ack_outbox`]: super::Outbox::ack_outbox
    /// [`Outbox::fan_out`]: super::Outbox::fan_out
    /// [`Outbox::settle`]: super::Outbox::settle
    async fn purge_finished(
        &self,
        _finished_before: DateTime<Utc>,
        _limit: usize,
    ) -> StoreResult<usize> {
        Ok(0)
    }

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
