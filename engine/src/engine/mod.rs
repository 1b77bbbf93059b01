//! The engine: takes events, keeps jobs in the store, runs the dispatcher, publishes results.

mod batch;
mod builder;
mod commit;
mod dispatch;
mod health;
mod limits;
mod metrics;
mod outcome;
mod request;
mod retention;
mod subscription;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::limits::Provider;
use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::error::Result;
use crate::model::{
    Action, CancelOutcome, Command, EventError, EventErrorKind, Job, JobKey, PublishOutcome,
    ResultEvent, Tenant, TraceRequest,
};
use crate::schedule::Policy;
use crate::store::{
    EventSeq, FeedCursor, FeedPage, JobPage, JobStore, ListQuery, Outbox, OutboxClaim, StoreError,
    RESULTS_QUEUE,
};

pub use builder::{EngineBuilder, EngineConfig};
pub use health::{CircuitState, ProviderHealthStatus};
pub use metrics::{EngineMetrics, Histogram};
pub use retention::DEFAULT_RETENTION;
pub use subscription::Subscription;

/// The container-tracing engine. Cloning is cheap and shares the engine.
///
/// Build it with [`Engine::builder`], feed it events with [`Engine::handle_event`] (or
/// [`Engine::publish`] and [`Engine::cancel`]), start the dispatcher with
/// [`Engine::start`], and read results with [`Engine::subscribe`] or the durable outbox.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The job store: all the dispatcher needs.
    pub(crate) jobs: Arc<dyn JobStore>,
    /// The outbox of the same backend, when it has one ([`EngineBuilder::store`]); the
    /// engine only hands its results queue to deliverers, it never writes to it.
    pub(crate) outbox: Option<Arc<dyn Outbox>>,
    pub(crate) providers: HashMap<String, Provider>,
    pub(crate) credentials: Arc<dyn Credentials>,
    pub(crate) policy: Policy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    /// How far ahead of their due time jobs are claimed: the longest batch window of any
    /// provider (zero when none batches).
    pub(crate) lookahead: Duration,
    /// Seeds every job's jitter: a job's draws come from (seed, job, trace count), so
    /// that a run is reproducible however its commits interleave.
    pub(crate) seed: u64,
    pub(crate) wake: Notify,
    /// When the sleeping dispatcher means to wake (Unix milliseconds): a commit that makes
    /// a job due before then wakes it, or the job would wait up to `max_idle`.
    pub(crate) sleeps_until: std::sync::atomic::AtomicI64,
    pub(crate) events: broadcast::Sender<ResultEvent>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) metrics: EngineMetrics,
}

/// What an accepted event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The event's action.
    pub action: Action,
    /// The job it was about.
    pub key: JobKey,
    /// For requests: what the publish did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishOutcome>,
    /// For cancellations: what the cancel did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<CancelOutcome>,
    /// When the job's next trace is due, if it is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_trace_at: Option<DateTime<Utc>>,
}

/// A running dispatcher. Dropping it leaves the dispatcher running; call
/// [`EngineHandle::shutdown`] to stop it gracefully.
#[derive(Debug)]
pub struct EngineHandle {
    engine: Engine,
    task: JoinHandle<()>,
}

impl EngineHandle {
    /// Stops taking work, lets running traces finish (up to the configured grace), and
    /// flushes the store.
    pub async fn shutdown(self) {
        self.engine.inner.shutdown.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the dispatcher task failed");
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Validates a JSON event and applies it. Nothing is stored for a rejected event;
    /// an accepted one is durable when this returns.
    pub async fn handle_event(&self, body: &[u8]) -> Result<Accepted> {
        self.execute(Command::from_json(body)?).await
    }

    /// Applies a validated command.
    pub async fn execute(&self, command: Command) -> Result<Accepted> {
        let action = command.action();
        match command {
            Command::Publish(request) => {
                let key = request.key.clone();
                let (job, outcome) = self.publish(request).await?;
                Ok(Accepted {
                    action,
                    key,
                    published: Some(outcome),
                    cancelled: None,
                    next_trace_at: job.due_at,
                })
            }
            Command::Cancel(key) => {
                let outcome = self.cancel(&key).await?;
                Ok(Accepted {
                    action,
                    key,
                    published: None,
                    cancelled: Some(outcome),
                    next_trace_at: None,
                })
            }
        }
    }

    /// Starts (or forces, or restarts) a trace. The provider must be configured and must
    /// accept the request's data; the job is durable when this returns.
    pub async fn publish(&self, request: TraceRequest) -> Result<(Job, PublishOutcome)> {
        let provider = self.provider(&request.key.provider_id)?;
        provider
            .tracer
            .validate_container(request.key.kind, &request.container)
            .map_err(|message| {
                EventError::new(EventErrorKind::InvalidValue, "payload.id", message)
            })?;
        provider
            .tracer
            .validate(request.key.kind, &request.data)
            .map_err(|e| {
                EventError::new(
                    EventErrorKind::ProviderData,
                    &format!("payload.data.{}", e.field),
                    e.message,
                )
            })?;
        let now = self.inner.clock.now();
        let (job, outcome) = self
            .inner
            .jobs
            .publish(request, provider.real_time, now)
            .await?;
        tracing::debug!(
            org = %job.request.key.tenant.org_id,
            provider = %job.request.key.provider_id,
            container = %job.request.key.container,
            kind = %job.request.key.kind,
            ?outcome,
            "publish accepted"
        );
        if job.due_at.is_some_and(|due| due <= now) {
            self.inner.wake.notify_one();
        }
        Ok((job, outcome))
    }

    /// Stops a trace. Cancelling something not traced is not an error.
    pub async fn cancel(&self, key: &JobKey) -> Result<CancelOutcome> {
        let now = self.inner.clock.now();
        match self.inner.jobs.cancel(key, now).await? {
            Some(event) => {
                let _ = self.inner.events.send(event);
                Ok(CancelOutcome::Cancelled)
            }
            None => Ok(CancelOutcome::NotTraced),
        }
    }

    /// The job stored under `key`.
    pub async fn get(&self, key: &JobKey) -> Result<Option<Job>> {
        Ok(self.inner.jobs.get(key).await?)
    }

    /// A tenant's jobs.
    pub async fn list(&self, tenant: &Tenant, query: &ListQuery) -> Result<JobPage> {
        Ok(self.inner.jobs.list(tenant, query).await?)
    }

    /// Every tenant's jobs: the operator's view ([`JobStore::list_all`]).
    pub async fn list_all(&self, query: &ListQuery) -> Result<JobPage> {
        Ok(self.inner.jobs.list_all(query).await?)
    }

    /// The rule of the policy that chose the job's next trace time at its last trace
    /// (`None` for a job never traced, or suspended: it waits for its provider's circuit).
    /// A job may be due sooner than the rule says: news about its vessel visit, a forced
    /// trace or the batch window can bring it forward.
    pub fn next_trace_rule(&self, job: &Job) -> Option<crate::schedule::PolicyRule> {
        let now = job.last_traced_at?;
        if job.last_error.as_ref().is_some_and(|e| e.is_suspension()) {
            return None;
        }
        Some(self.inner.policy.rule(&crate::schedule::PolicyInput {
            kind: job.request.key.kind,
            now,
            tracking_since: job.tracking_since,
            result: job.last_result.as_ref(),
            last_changed_at: job.last_changed_at,
            not_found_since: job.not_found_since,
            consecutive_errors: job.consecutive_errors,
            retry_after: None,
        }))
    }

    /// The job's result events, oldest first (at most the newest `limit`).
    pub async fn history(&self, key: &JobKey, limit: usize) -> Result<Vec<ResultEvent>> {
        Ok(self.inner.jobs.history(key, limit).await?)
    }

    /// The tenant's result events after `after`, in feed order ([`JobStore::results`]): a
    /// client that missed web-hooks catches up from its last cursor.
    pub async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> Result<FeedPage> {
        Ok(self.inner.jobs.results(tenant, after, limit).await?)
    }

    /// A live stream of result events as they are committed. Events emitted while nobody
    /// listens, or that a slow subscriber misses, stay in the durable outbox.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.inner.events.subscribe())
    }

    /// Leases up to `limit` entries of the results queue ([`RESULTS_QUEUE`]) for `lease`,
    /// for an embedder that consumes the results queue itself. Delivery to destinations
    /// is the engine's own deliverer's ([`Engine::deliver_to`]), which fans the queue out:
    /// do not claim from it while that runs. An engine built with a job store alone has
    /// no outbox: this answers [`StoreError::Unsupported`].
    pub async fn claim_outbox(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxClaim>> {
        let now = self.inner.clock.now();
        let until = crate::clock::after_std(now, lease);
        Ok(self
            .outbox_or_err()?
            .claim_outbox(RESULTS_QUEUE, now, limit, until)
            .await?)
    }

    /// Marks a claimed outbox entry delivered.
    pub async fn ack_outbox(&self, seq: EventSeq, token: u64) -> Result<()> {
        Ok(self
            .outbox_or_err()?
            .ack_outbox(RESULTS_QUEUE, seq, token)
            .await?)
    }

    /// Gives a claimed outbox entry back, to be retried from `not_before`.
    pub async fn retry_outbox(
        &self,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
    ) -> Result<()> {
        Ok(self
            .outbox_or_err()?
            .retry_outbox(RESULTS_QUEUE, seq, token, not_before, None)
            .await?)
    }

    /// The ids of the configured providers, sorted.
    pub fn providers(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.inner.providers.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// The engine's counters (traces by provider and outcome, latency, events).
    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// Each configured provider's circuit breaker, sorted by provider id: whether it is
    /// traced as usual, suspended (after repeated failed requests, or because it rejected
    /// the operator's credentials) or probing.
    pub fn provider_health(&self) -> Vec<ProviderHealthStatus> {
        let now = self.inner.clock.now();
        self.providers()
            .into_iter()
            .filter_map(|id| self.inner.providers.get(id))
            .map(|p| p.health.status(now))
            .collect()
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The engine's job store.
    pub fn jobs(&self) -> &Arc<dyn JobStore> {
        &self.inner.jobs
    }

    /// The engine's outbox: `None` when the engine was built with a job store alone
    /// ([`EngineBuilder::job_store`]).
    pub fn outbox(&self) -> Option<&Arc<dyn Outbox>> {
        self.inner.outbox.as_ref()
    }

    pub(crate) fn outbox_or_err(&self) -> Result<&Arc<dyn Outbox>> {
        self.inner.outbox.as_ref().ok_or(
            StoreError::Unsupported(
                "the outbox: this engine was built with a job store alone; build it with \
                 .store(..) and a backend that implements Outbox",
            )
            .into(),
        )
    }

    /// Runs the dispatcher in the calling task until [`Engine::shutdown`] is called, then
    /// lets running traces finish (up to the configured grace) and flushes the store.
    /// [`Engine::start`] does the same in a task of its own.
    pub async fn run(&self) {
        dispatch::run(self.inner.clone()).await;
    }

    /// Asks the dispatcher to stop; [`Engine::run`] returns (and [`EngineHandle::shutdown`]
    /// completes) once running traces have finished.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Starts the dispatcher on the current tokio runtime.
    pub fn start(&self) -> EngineHandle {
        let inner = self.inner.clone();
        EngineHandle {
            engine: self.clone(),
            task: tokio::spawn(dispatch::run(inner)),
        }
    }

    /// Traces every job due now, waits for those traces to commit, and returns how many
    /// ran. For tests and tools that drive time themselves; a running dispatcher and this
    /// never trace one job twice at once (leases).
    pub async fn run_due(&self) -> Result<usize> {
        dispatch::run_due(&self.inner).await
    }

    /// Removes now the finished jobs past the retention period
    /// ([`EngineConfig::retention`]) and returns how many went; none when retention is
    /// off. The running dispatcher does this by itself every 5 minutes of clock time; this
    /// is for tests and tools that drive time themselves.
    pub async fn sweep_retention(&self) -> Result<usize> {
        match self.inner.config.retention {
            Some(retention) => Ok(retention::sweep(&self.inner, retention).await?),
            None => Ok(0),
        }
    }

    fn provider(&self, id: &str) -> Result<&Provider> {
        self.inner.providers.get(id).ok_or_else(|| {
            EventError::new(
                EventErrorKind::UnknownProvider,
                "payload.providerId",
                format!(
                    "'{id}' is not a configured provider; configured: {}",
                    self.providers().join(", ")
                ),
            )
            .into()
        })
    }
}
