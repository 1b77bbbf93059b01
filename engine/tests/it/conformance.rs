//! The store conformance suites on sled, on sled keeping every default of the traits, and
//! what only a reopen can show: durability.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use boxtrace::testing::{container, request, store_conformance, t0};
use boxtrace::{
    Claimed, Committed, DueClaim, EmitReason, EventSeq, Job, JobId, JobKey, JobPage, JobStore,
    ListQuery, Outbox, OutboxClaim, OutboxEntry, OutboxStats, PublishOutcome, ResultEvent,
    SledStore, Status, StoreResult, Tenant, TraceCommit, TraceKind, TraceRequest, TraceResult,
    RESULTS_QUEUE,
};
use chrono::{DateTime, Utc};

#[tokio::test]
async fn sled_passes_the_store_conformance_suite() {
    let parent = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    store_conformance::run_all(|| {
        let path = parent
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        async move { SledStore::open_path(path).unwrap() }
    })
    .await;
    assert_eq!(
        n.load(Ordering::Relaxed),
        32,
        "every check ran on its own store"
    );
}

#[tokio::test]
async fn an_outbox_that_keeps_every_default_passes_the_core_suites() {
    let parent = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    let make = || {
        let path = parent
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        async move { Defaults(SledStore::open_path(path).unwrap()) }
    };
    store_conformance::run_job_store(&make).await;
    store_conformance::run_outbox(&make).await;
}

/// sled with only the required methods of `JobStore` and `Outbox`: every default kept
/// (no feed, retention, cohort index or release; `fan_out_all` and `settle` one by one).
#[derive(Debug)]
struct Defaults(SledStore);

#[async_trait]
impl JobStore for Defaults {
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
        JobStore::flush(&self.0).await
    }
}

#[async_trait]
impl Outbox for Defaults {
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        self.0.claim_outbox(queue, now, limit, lease_until).await
    }

    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()> {
        self.0.ack_outbox(queue, seq, token).await
    }

    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        self.0
            .retry_outbox(queue, seq, token, not_before, error)
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
        self.0.fan_out(queue, seq, token, to, now).await
    }

    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        self.0.bury_outbox(queue, seq, token, error).await
    }

    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        self.0.replay_outbox(queue, now).await
    }

    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize> {
        self.0.purge_outbox(queue).await
    }

    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats> {
        self.0.outbox_stats(queue).await
    }

    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.0.outbox_entries(queue, limit).await
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Tenant::new("org", "svc");
    let published = request(&tenant, TraceKind::Export, "p", &container(1));
    let traced = request(&tenant, TraceKind::Empty, "p", &container(2));
    {
        let store = SledStore::open_path(dir.path()).unwrap();
        store.publish(published.clone(), true, t0()).await.unwrap();
        store.publish(traced.clone(), true, t0()).await.unwrap();
        let claimed = store
            .claim_due(t0(), 10, t0() + chrono::Duration::minutes(1))
            .await
            .unwrap();
        let c = claimed
            .into_iter()
            .find(|c| c.job.request.key == traced.key)
            .unwrap();
        let mut next = c.job.clone();
        next.last_result = Some(TraceResult::new(Status::Receivable, t0()));
        next.due_at = Some(t0() + chrono::Duration::hours(1));
        store
            .complete(TraceCommit {
                token: c.token,
                job: next,
                emit: Some(EmitReason::FirstResult),
                now: t0(),
            })
            .await
            .unwrap();
    }
    let store = SledStore::open_path(dir.path()).unwrap();
    assert!(
        store.get(&published.key).await.unwrap().is_some(),
        "a publish survives"
    );
    let job = store.get(&traced.key).await.unwrap().unwrap();
    assert_eq!(job.last_result.map(|r| r.status), Some(Status::Receivable));
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        1,
        "the result event survives"
    );
    assert_eq!(store.history(&traced.key, 10).await.unwrap().len(), 1);
}
