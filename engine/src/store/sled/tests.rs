//! Unit tests of the sled store: damaged records, schema upgrades, cursors.

use super::*;
use crate::model::{Status, Tenant, TraceKind, TraceResult, TrackingState, VesselVisit};
use crate::testing::{container, request, t0};

#[tokio::test]
async fn a_corrupt_job_record_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let tenant = Tenant::new("o", "s");
    let mut ids = Vec::new();
    for n in 0..3 {
        let (job, _) = store
            .publish(
                request(&tenant, TraceKind::Empty, "p", &container(n)),
                true,
                t0(),
            )
            .await
            .unwrap();
        ids.push(job.id);
    }
    store
        .shared
        .tree
        .insert(keys::job(ids[1]), &b"{not json"[..])
        .unwrap();
    let until = t0() + chrono::Duration::minutes(1);
    let claimed = store.claim_due(t0(), 10, until).await.unwrap();
    assert_eq!(claimed.len(), 2, "the two sound jobs are still traced");
}

#[tokio::test]
async fn a_store_of_schema_1_opens_and_its_jobs_trace_on() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Tenant::new("o", "s");
    let key = request(&tenant, TraceKind::Export, "p", &container(3)).key;
    {
        // What schema 1 wrote: the whole job as JSON, no schedule record.
        let store = SledStore::open_path(dir.path()).unwrap();
        let (job, _) = store
            .publish(
                request(&tenant, TraceKind::Export, "p", &container(3)),
                true,
                t0(),
            )
            .await
            .unwrap();
        let tree = &store.shared.tree;
        tree.insert(keys::job(job.id), serde_json::to_vec(&job).unwrap())
            .unwrap();
        tree.remove(keys::schedule(job.id)).unwrap();
        tree.insert(keys::meta("schema"), &1u64.to_be_bytes())
            .unwrap();
        store.flush().await.unwrap();
    }
    let store = SledStore::open_path(dir.path()).unwrap();
    let version = store.shared.tree.get(keys::meta("schema")).unwrap();
    assert_eq!(version.as_deref(), Some(&SCHEMA_VERSION.to_be_bytes()[..]));
    let legacy = store.get(&key).await.unwrap().expect("the old job reads");
    assert_eq!(legacy.due_at, Some(t0()));

    let until = t0() + chrono::Duration::minutes(1);
    let claimed = store.claim_due(t0(), 10, until).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let mut next = claimed[0].job.clone();
    next.trace_count += 1;
    next.due_at = Some(t0() + chrono::Duration::hours(1));
    store
        .complete(TraceCommit {
            token: claimed[0].token,
            job: next,
            emit: None,
            now: t0(),
        })
        .await
        .unwrap();
    let traced = store.get(&key).await.unwrap().unwrap();
    assert_eq!(traced.trace_count, 1);
    assert_eq!(traced.lease, None);
    assert_eq!(traced.due_at, Some(t0() + chrono::Duration::hours(1)));
    assert_eq!(traced.request, legacy.request);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open_path(dir.path()).unwrap();
        store
            .shared
            .tree
            .insert(keys::meta("schema"), &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        store.flush().await.unwrap();
    }
    let err = SledStore::open_path(dir.path()).unwrap_err();
    assert!(err.to_string().contains("run a newer boxtrace"), "{err}");
}

#[tokio::test]
async fn a_foreign_cursor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let query = ListQuery {
        after: Some("zz".into()),
        ..ListQuery::default()
    };
    let err = store
        .list(&Tenant::new("o", "s"), &query)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor(_)));
}

#[tokio::test]
async fn a_store_of_schema_2_gets_its_history_in_the_results_feed() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Tenant::new("o", "s");
    let event = {
        let store = SledStore::open_path(dir.path()).unwrap();
        let r = request(&tenant, TraceKind::Export, "p", &container(4));
        store.publish(r.clone(), true, t0()).await.unwrap();
        let event = store.cancel(&r.key, t0()).await.unwrap().unwrap();
        // What schema 2 wrote: history, and no feed.
        let tree = &store.shared.tree;
        let feed: Vec<_> = tree.scan_prefix([keys::FEED]).keys().collect();
        assert_eq!(feed.len(), 1);
        for key in feed {
            tree.remove(key.unwrap()).unwrap();
        }
        tree.insert(keys::meta("schema"), &2u64.to_be_bytes())
            .unwrap();
        assert!(store
            .results(&tenant, FeedCursor::START, 10)
            .await
            .unwrap()
            .entries
            .is_empty());
        store.flush().await.unwrap();
        event
    };
    let store = SledStore::open_path(dir.path()).unwrap();
    let page = store.results(&tenant, FeedCursor::START, 10).await.unwrap();
    let events: Vec<_> = page.entries.into_iter().map(|e| e.event).collect();
    assert_eq!(events, vec![event], "the old history is in the feed");
}

#[tokio::test]
async fn a_results_cursor_of_another_backend_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let foreign = FeedCursor { major: 5, minor: 1 };
    let err = store
        .results(&Tenant::new("o", "s"), foreign, 10)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor(_)), "{err}");
}

#[tokio::test]
async fn a_store_of_schema_3_gets_its_finished_jobs_indexed_for_retention() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Tenant::new("o", "s");
    let finished = request(&tenant, TraceKind::Export, "p", &container(5));
    let active = request(&tenant, TraceKind::Export, "p", &container(6));
    {
        let store = SledStore::open_path(dir.path()).unwrap();
        store.publish(finished.clone(), true, t0()).await.unwrap();
        store.publish(active.clone(), true, t0()).await.unwrap();
        store.cancel(&finished.key, t0()).await.unwrap().unwrap();
        // What schema 3 wrote: no retention index.
        let tree = &store.shared.tree;
        let index: Vec<_> = tree.scan_prefix([keys::FINISHED]).keys().collect();
        assert_eq!(index.len(), 1, "the cancel indexed its job");
        for key in index {
            tree.remove(key.unwrap()).unwrap();
        }
        tree.insert(keys::meta("schema"), &3u64.to_be_bytes())
            .unwrap();
        let later = t0() + chrono::Duration::days(1);
        assert_eq!(store.purge_finished(later, 10).await.unwrap(), 0);
        store.flush().await.unwrap();
    }
    let store = SledStore::open_path(dir.path()).unwrap();
    let later = t0() + chrono::Duration::days(1);
    assert_eq!(
        store.purge_finished(later, 10).await.unwrap(),
        1,
        "the old finished job is indexed at open"
    );
    assert!(store.get(&finished.key).await.unwrap().is_none());
    assert!(store.get(&active.key).await.unwrap().is_some());
    assert!(
        store
            .shared
            .tree
            .scan_prefix([keys::HISTORY])
            .next()
            .is_none()
            && store.shared.tree.scan_prefix([keys::FEED]).next().is_none(),
        "its history and feed entries went with it"
    );
}

/// Makes the store's next id allocation fail, as a failing sled would.
fn fail_next_id(store: &SledStore) {
    store
        .shared
        .health
        .hooks
        .fail_id
        .store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test]
async fn a_cancel_whose_event_number_cannot_be_drawn_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let tenant = Tenant::new("o", "s");
    let r = request(&tenant, TraceKind::Export, "p", &container(8));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let until = t0() + chrono::Duration::minutes(1);
    let claimed = store.claim_due(t0(), 10, until).await.unwrap().remove(0);
    let mut traced = claimed.job.clone();
    let mut result = TraceResult::new(Status::GatedIn, t0());
    result.visit = Some(VesselVisit::new("V1"));
    traced.last_result = Some(result);
    traced.due_at = Some(t0() + chrono::Duration::hours(1));
    store
        .complete(TraceCommit {
            token: claimed.token,
            job: traced,
            emit: None,
            now: t0(),
        })
        .await
        .unwrap();
    let job = store.get(&r.key).await.unwrap().unwrap();
    let cohort = keys::cohort("p", &job.cohort().unwrap(), job.id);
    assert!(store.shared.tree.get(&cohort).unwrap().is_some());

    fail_next_id(&store);
    let err = store.cancel(&r.key, t0()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    let job = store.get(&r.key).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        TrackingState::Active,
        "the cancel did not happen"
    );
    assert!(
        store.shared.tree.get(&cohort).unwrap().is_some(),
        "the still-active job keeps its cohort entry"
    );
}

#[tokio::test]
async fn a_new_jobs_id_is_drawn_by_the_writer_and_a_failed_draw_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let tenant = Tenant::new("o", "s");
    let r = request(&tenant, TraceKind::Export, "p", &container(9));
    fail_next_id(&store);
    let err = store.publish(r.clone(), true, t0()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(store.get(&r.key).await.unwrap().is_none());
    assert!(
        store
            .shared
            .tree
            .scan_prefix([keys::JOB_KEY])
            .next()
            .is_none(),
        "no key index entry without its job"
    );
    let (job, outcome) = store.publish(r.clone(), true, t0()).await.unwrap();
    assert_eq!(outcome, PublishOutcome::Created);
    assert_eq!(store.get(&r.key).await.unwrap(), Some(job));
}

#[tokio::test]
async fn outbox_stats_count_an_entry_whose_event_is_damaged_as_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let tree = &store.shared.tree;
    tree.insert(
        keys::outbox("q", 1),
        &br#"{"seq":1,"event":7,"dead":true}"#[..],
    )
    .unwrap();
    tree.insert(
        keys::outbox("q", 2),
        &br#"{"seq":2,"event":7,"dead":false}"#[..],
    )
    .unwrap();
    tree.insert(keys::outbox("q", 3), &b"{not json"[..])
        .unwrap();
    let stats = store.outbox_stats("q").await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn a_finished_job_that_cannot_be_decoded_leaves_the_retention_index_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_path(dir.path()).unwrap();
    let tenant = Tenant::new("o", "s");
    let r = request(&tenant, TraceKind::Export, "p", &container(10));
    let (job, _) = store.publish(r.clone(), true, t0()).await.unwrap();
    store.cancel(&r.key, t0()).await.unwrap().unwrap();
    let tree = &store.shared.tree;
    tree.insert(keys::job(job.id), &b"{not json"[..]).unwrap();
    let later = t0() + chrono::Duration::days(1);
    assert_eq!(store.purge_finished(later, 10).await.unwrap(), 0);
    assert!(
        tree.scan_prefix([keys::FINISHED]).next().is_none(),
        "the next sweep does not meet it again"
    );
    assert!(
        tree.get(keys::job(job.id)).unwrap().is_some(),
        "kept for an operator"
    );
}
