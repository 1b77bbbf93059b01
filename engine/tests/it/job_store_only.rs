//! A backend that implements only [`JobStore`] runs the engine: the job-store suite
//! accepts it, the engine dispatches on it and emits to subscribers, and what needs an
//! outbox says that there is none.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use boxtrace::testing::{store_conformance, t0, ScriptedTracer};
use boxtrace::{
    Claimed, Committed, DueClaim, Engine, Error, FeedCursor, FeedPage, Job, JobId, JobKey, JobPage,
    JobStore, ListQuery, ManualClock, PublishOutcome, ResultEvent, SledStore, StaticCredentials,
    Status, StoreError, StoreResult, Tenant, TraceCommit, TraceRequest,
};
use chrono::{DateTime, Utc};

use crate::support::export;

/// sled seen through the job store alone: no outbox, no records.
#[derive(Debug)]
struct JobsOnly(SledStore);

#[async_trait]
impl JobStore for JobsOnly {
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
    async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> StoreResult<FeedPage> {
        self.0.results(tenant, after, limit).await
    }
    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.0.claim_due_by(claim).await
    }
    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.0.renew(job, token, until).await
    }
    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.0.release(job, token, due).await
    }
    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        self.0.complete(commit).await
    }
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.0.next_due().await
    }
    async fn expedite_cohort(
        &self,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        self.0.expedite_cohort(provider, cohort, at, seen).await
    }
    async fn flush(&self) -> StoreResult<()> {
        self.0.flush().await
    }
}

#[tokio::test]
async fn a_job_store_alone_passes_the_job_store_suite() {
    let parent = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    store_conformance::run_job_store(|| {
        let path = parent
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        async move { JobsOnly(SledStore::open_path(path).unwrap()) }
    })
    .await;
    assert_eq!(n.load(Ordering::Relaxed), 17, "every job-store check ran");
}

#[tokio::test]
async fn an_engine_runs_on_a_job_store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let tracer = ScriptedTracer::new("scripted");
    tracer.push_status("CSQU3054383", Status::GatedIn);
    let engine = Engine::builder()
        .job_store(JobsOnly(SledStore::open_path(dir.path()).unwrap()))
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
}
