//! The PostgreSQL store (feature `postgres`): several boxtrace processes on one database.
//!
//! Every operation is one transaction that locks the rows it changes and applies the
//! model's transition ([`crate::model::Job`]) to them, so processes never step on each
//! other: due jobs and outbox entries are claimed with `FOR UPDATE SKIP LOCKED` under
//! leases, and a commit is fenced by its lease token on the row it locked. Processes wake
//! each other with LISTEN/NOTIFY ([`JobStore::wake_ups`]). Schema and queries: `migrations/`,
//! `jobs.rs`, `outbox.rs`, `reads.rs`; the design is in ARCHITECTURE.md.

mod config;
mod error;
mod feed;
mod jobs;
mod migrate;
mod notify;
mod outbox;
mod reads;
mod retention;
mod sql;
mod tx;

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

pub use self::config::PostgresConfig;
pub use self::error::PostgresError;

use super::outbox::{settle_each, unsettled};
use super::Settlement;
use super::{
    Claimed, Committed, DueClaim, EventSeq, FeedCursor, FeedPage, JobPage, JobStore, ListQuery,
    Outbox, OutboxClaim, OutboxEntry, OutboxStats, Records, StoreResult, TraceCommit,
};
use crate::model::{Job, JobId, JobKey, PublishOutcome, ResultEvent, Tenant, TraceRequest};

/// The PostgreSQL store. Cloning shares its pool; background tasks (wake-ups) stop when the
/// last clone is dropped.
///
/// ```no_run
/// # async fn f() -> anyhow::Result<()> {
/// use boxtrace::{Engine, PostgresConfig, PostgresStore};
///
/// let config = PostgresConfig::new("postgres://boxtrace:secret@db.internal/boxtrace");
/// let store = loop {
///     match PostgresStore::connect(config.clone()).await {
///         Ok(store) => break store,
///         // The database is not up (yet): try again (with a growing pause, in earnest).
///         Err(e) if e.is_retryable() => {
///             eprintln!("{e}");
///             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///         }
///         // Wrong credentials, a newer schema, a bad URL: an operator must act.
///         Err(e) => return Err(e.into()),
///     }
/// };
/// let builder = Engine::builder().store(store); // then providers, and build()
/// # let _ = builder;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    /// The driver's configuration, for the listener's dedicated connection.
    driver: tokio_postgres::Config,
    schema: String,
    /// This database's id in event ids (`evt_<instance>_<seq>`), from the `meta` table.
    instance: String,
    /// Pokes the task that sends NOTIFYs to the other processes.
    notifier: Arc<Notify>,
    /// The wake-ups from other processes, once a dispatcher has asked for them.
    wake: OnceLock<Arc<watch::Sender<()>>>,
    stop: CancellationToken,
    /// Longest one operation may take (`PostgresConfig::operation_timeout`).
    deadline: std::time::Duration,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Shared {
    /// A pooled connection.
    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(error::pool)
    }

    /// Tells the other processes that a job is due now (after the commit that made it so).
    fn wake_others(&self) {
        self.notifier.notify_one();
    }
}

impl PostgresStore {
    /// Connects to the database, creates the schema or migrates it to this build's
    /// version, and returns the store.
    ///
    /// Fails with [`PostgresError::Unreachable`] when the database cannot be reached:
    /// retry with backoff ([`PostgresError::is_retryable`]); with
    /// [`PostgresError::Refused`] when it refuses (credentials, rights); with
    /// [`PostgresError::SchemaTooNew`] when a newer boxtrace migrated the schema; with
    /// [`PostgresError::Config`] when the configuration is wrong.
    pub async fn connect(config: PostgresConfig) -> Result<Self, PostgresError> {
        let driver = config.driver_config()?;
        let manager = Manager::from_config(
            driver.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                // A broken connection is noticed by the driver; a query per checkout to
                // prove it alive would cost a round trip on every operation.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| PostgresError::Config(format!("connection pool: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| error::pool_at_startup(config::target(&driver), &e))?;
        let instance = migrate::migrate(&mut client, &driver, &config.schema).await?;
        drop(client);
        let stop = CancellationToken::new();
        let notifier = notify::spawn_notifier(pool.clone(), config.schema.clone(), stop.clone());
        tracing::info!(
            target = %config::target(&driver),
            schema = %config.schema,
            pool_size = config.pool_size,
            "PostgreSQL store ready"
        );
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                driver,
                schema: config.schema,
                instance,
                notifier,
                wake: OnceLock::new(),
                stop,
                deadline: config.operation_timeout,
            }),
        })
    }

    /// The schema this store uses.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// The schema version this build migrates to.
    pub fn schema_version() -> i32 {
        migrate::supported()
    }

    /// Runs `op` under the operation deadline. Dropping it at the deadline is safe: a
    /// transaction abandoned halfway closes its connection, and the server rolls it back.
    async fn deadline<T>(
        &self,
        what: &str,
        op: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.shared.deadline, op).await {
            Ok(result) => result,
            Err(_) => Err(super::StoreError::Unavailable(format!(
                "PostgreSQL did not complete {what} within {:?} (the operation timeout): the \
                 server or the network does not answer; nothing was acknowledged; retry",
                self.shared.deadline
            ))),
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.shared.pool.status();
        f.debug_struct("PostgresStore")
            .field("target", &config::target(&self.shared.driver))
            .field("schema", &self.shared.schema)
            .field("instance", &self.shared.instance)
            .field("connections", &status.size)
            .field("pool_size", &status.max_size)
            .finish()
    }
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        self.deadline(
            "a publish",
            jobs::publish(&self.shared, request, real_time, now),
        )
        .await
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        self.deadline("a cancel", jobs::cancel(&self.shared, key, now))
            .await
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        self.deadline("a job read", jobs::get_job(&self.shared, key))
            .await
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        self.deadline("a listing", reads::list(&self.shared, tenant, query))
            .await
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        self.deadline("a listing", reads::list_all(&self.shared, query))
            .await
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        self.deadline("a history read", reads::history(&self.shared, key, limit))
            .await
    }

    async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> StoreResult<FeedPage> {
        self.deadline(
            "a results feed read",
            feed::page(&self.shared, tenant, after, limit),
        )
        .await
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.deadline("a claim", jobs::claim_due(&self.shared, claim))
            .await
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.deadline(
            "a lease renewal",
            jobs::renew(&self.shared, job, token, until, false),
        )
        .await
    }

    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.deadline(
            "a lease hand-back",
            jobs::renew(&self.shared, job, token, due, true),
        )
        .await
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        self.deadline("a trace commit", jobs::complete(&self.shared, commit))
            .await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.deadline("a due-time read", jobs::next_due(&self.shared))
            .await
    }

    async fn expedite_cohort(
        &self,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        self.deadline(
            "a cohort expedite",
            jobs::expedite_cohort(&self.shared, provider, cohort, at, seen),
        )
        .await
    }

    async fn purge_finished(
        &self,
        finished_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        self.deadline(
            "a purge of finished jobs",
            retention::purge_finished(&self.shared, finished_before, limit),
        )
        .await
    }

    /// Every acknowledged write is already durable except commits without an event (made
    /// with `synchronous_commit = off`); a transaction that commits synchronously flushes
    /// the WAL past all of them.
    async fn flush(&self) -> StoreResult<()> {
        // Taking a transaction id makes the commit write (and so flush) a commit record.
        self.deadline("a flush", async {
            let (tx, _) =
                tx::Tx::open(&self.shared, tx::BEGIN, "SELECT pg_current_xact_id()", &[]).await?;
            tx.commit().await
        })
        .await
    }

    /// Started on first use: a dedicated connection that LISTENs, reconnecting with
    /// backoff when it drops. `None` outside a tokio runtime.
    fn wake_ups(&self) -> Option<watch::Receiver<()>> {
        if let Some(sender) = self.shared.wake.get() {
            return Some(sender.subscribe());
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return None;
        }
        let sender = self.shared.wake.get_or_init(|| {
            let sender = Arc::new(watch::Sender::new(()));
            notify::spawn_listener(
                self.shared.driver.clone(),
                self.shared.schema.clone(),
                sender.clone(),
                self.shared.stop.clone(),
            );
            sender
        });
        Some(sender.subscribe())
    }
}

#[async_trait]
impl Outbox for PostgresStore {
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        self.deadline(
            "an outbox claim",
            outbox::claim(&self.shared, queue, now, limit, lease_until),
        )
        .await
    }

    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()> {
        self.deadline(
            "an outbox ack",
            outbox::ack(&self.shared, queue, seq, token),
        )
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
        self.deadline(
            "an outbox retry",
            outbox::retry(&self.shared, queue, seq, token, not_before, error),
        )
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
        self.deadline(
            "a fan-out",
            outbox::fan_out(&self.shared, queue, seq, token, to, now),
        )
        .await
    }

    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        self.deadline(
            "an outbox burial",
            outbox::bury(&self.shared, queue, seq, token, error),
        )
        .await
    }

    async fn settle(&self, queue: &str, settlements: &[Settlement]) -> Vec<StoreResult<()>> {
        if settlements.is_empty() {
            return Vec::new();
        }
        if !outbox::distinct(settlements) {
            // One call each, each under its own deadline, so that each result says what
            // became of its own verdict.
            return settle_each(self, queue, settlements, move |seq, token| {
                self.deadline(
                    "an outbox release",
                    outbox::release(&self.shared, queue, seq, token),
                )
            })
            .await;
        }
        match self
            .deadline(
                "an outbox settlement",
                outbox::settle(&self.shared, queue, settlements),
            )
            .await
        {
            Ok(results) => results,
            // One statement: all were applied or none. The error may still come after its
            // commit (the deadline, reading why some were refused), so it says only that
            // the outcome is unknown, for each alike.
            Err(e) => unsettled(settlements, &e),
        }
    }

    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        self.deadline("a replay", outbox::replay(&self.shared, queue, now))
            .await
    }

    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize> {
        self.deadline("a purge", outbox::purge(&self.shared, queue))
            .await
    }

    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats> {
        self.deadline("outbox stats", outbox::stats(&self.shared, queue))
            .await
    }

    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.deadline(
            "an outbox listing",
            outbox::entries(&self.shared, queue, limit),
        )
        .await
    }
}

#[async_trait]
impl Records for PostgresStore {
    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        self.deadline(
            "a record write",
            reads::put_record(&self.shared, kind, key, value),
        )
        .await
    }

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.deadline("a record read", reads::get_record(&self.shared, kind, key))
            .await
    }

    async fn list_records(
        &self,
        kind: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>> {
        self.deadline(
            "a record listing",
            reads::list_records(&self.shared, kind, prefix),
        )
        .await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool> {
        self.deadline(
            "a record removal",
            reads::delete_record(&self.shared, kind, key),
        )
        .await
    }
}
