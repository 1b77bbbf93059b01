//! The store conformance suites on sled, on sled keeping every default of the traits, and
//! what only a reopen can show: durability.

use std::sync::atomic::{AtomicUsize, Ordering};

use boxtrace::testing::{container, request, store_conformance, t0};
use boxtrace::{
    EmitReason, JobStore, Outbox, SledStore, Status, Tenant, TraceCommit, TraceKind, TraceResult,
    RESULTS_QUEUE,
};

use crate::defaults::Defaults;

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
