//! A third backend, implementing only [`JobStore`], runs the engine: the in-memory
//! `MemoryJobStore` passes the job-store suites, a store that keeps every default of the
//! trait passes the core one, the engine dispatches on a job store alone and emits to
//! subscribers, and what needs an outbox says that there is none.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use boxtrace::testing::{store_conformance, t0, MemoryJobStore, ScriptedTracer};
use boxtrace::{
    Claimed, Committed, DueClaim, Engine, Error, Job, JobId, JobKey, JobPage, JobStore,
    ListQuery, ManualClock, PublishOutcome, ResultEvent, StaticCredentials, Status, StoreError,
    StoreResult, Tenant, TraceCommit, TraceRequest,
};
use chrono::{DateTime, Utc};

use crate::support::export;

#[tokio::test]
async fn a_job_store_alone_passes_the_job_store_suites() {
    let n = AtomicUsize::new(0);
    let make = || {
        n.fetch_add(1, Ordering::Relaxed);
        async { MemoryJobStore::new() }
    };
    store_conformance::run_job_store(&make).await;
    assert_eq!(n.load(Ordering::Relaxed), 15, "every core check ran");
    // MemoryJobStore overrides every optional method of the trait.
    store_conformance::run_feed(&make).await;
    store_conformance::run_retention(&make).await;
    store_conformance::run_cohort(&make).await;
    store_conformance::run_release(&make).await;
    assert_eq!(n.load(Ordering::Relaxed), 21, "every job-store check ran");
}

#[tokio::test]
async fn a_job_store_that_keeps_every_default_passes_the_core_suite() {
    store_conformance::run_job_store(|| async { Minimal(MemoryJobStore::new()) }).await;
}

/// A job store that implements only the required methods (forwarded to a
/// `MemoryJobStore`) and keeps every default: the least a backend writer writes.
#[derive(Debug)]
struct Minimal(MemoryJobStore);

#[async_trait]
impl JobStore for Minimal {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        self.0.publish(request, real_time, now).await
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        self.0.cancel(key, now).await
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        self.0.get(key).await
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        self.0.list(tenant, query).await
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        self.0.list_all(query).await
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        self.0.history(key, limit).await
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.0.claim_due_by(claim).await
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.0.renew(job, token, until).await
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        self.0.complete(commit).await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.0.next_due().await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.0.flush().await
    }
}

#[tokio::test]
async fn an_engine_runs_on_a_job_store_alone() {
    let tracer = ScriptedTracer::new("scripted");
    tracer.push_status("CSQU3054383", Status::GatedIn);
    let engine = Engine::builder()
        .job_store(MemoryJobStore::new())
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(ManualClock::new(t0()))
        .build()
        .unwrap();
    assert!(engine.outbox().is_none(), "built without an outbox");
    let mut results = engine.subscribe();

    let accepted = engine.handle_event(&export("CSQU3054383")).await.unwrap();
    assert_eq!(engine.run_due().await.unwrap(), 1, "the due job is traced");
    let event = results.recv().await.expect("a subscriber hears the result");
    assert_eq!(event.payload.status, Some(Status::GatedIn));
    assert_eq!(
        engine.history(&accepted.key, 10).await.unwrap(),
        vec![event],
        "the job store keeps the event in the job's history"
    );

    let err = engine
        .claim_outbox(10, std::time::Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Unsupported(what)) if what.contains("outbox")),
        "an engine without an outbox says so: {err}"
    );
    let err = engine
        .deliver_to(
            std::sync::Arc::new(Nowhere),
            boxtrace::DeliveryConfig::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Unsupported(what)) if what.contains("outbox")),
        "delivery needs an outbox and says so: {err}"
    );
}

/// Destinations that never get anything.
#[derive(Debug)]
struct Nowhere;

#[async_trait]
impl boxtrace::Destinations for Nowhere {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<boxtrace::DestinationId>>, boxtrace::DestinationsError> {
        Ok(events.iter().map(|_| Vec::new()).collect())
    }

    async fn active(
        &self,
    ) -> Result<Vec<boxtrace::ActiveDestination>, boxtrace::DestinationsError> {
        Ok(Vec::new())
    }

    async fn deliver(
        &self,
        _: &boxtrace::DestinationId,
        _: &boxtrace::OutboxEntry,
    ) -> boxtrace::Delivery {
        boxtrace::Delivery::Delivered
    }
}
