//! Conformance of the operator's reads: every tenant's jobs in one listing, and a queue's
//! entries, live and dead.

use super::{mins, tenant};
use crate::model::{Tenant, TraceKind, TrackingState};
use crate::store::{JobStore, ListQuery, Outbox, RESULTS_QUEUE};
use crate::testing::{container, request, t0};

pub(super) async fn list_all_spans_tenants_and_pages<S: JobStore>(store: S) {
    let other = Tenant::new("org-b", "svc-2");
    for i in 0..5 {
        let owner = if i % 2 == 0 { tenant() } else { other.clone() };
        store
            .publish(
                request(&owner, TraceKind::Export, "p", &container(300 + i)),
                true,
                t0(),
            )
            .await
            .unwrap();
    }
    store
        .cancel(
            &request(&other, TraceKind::Export, "p", &container(301)).key,
            t0(),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 2,
        ..ListQuery::default()
    };
    loop {
        let page = store.list_all(&query).await.unwrap();
        assert!(page.jobs.len() <= 2);
        seen.extend(page.jobs.into_iter().map(|j| j.request.key));
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "pages cover every tenant's jobs once");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by tenant, then by key");
    assert_eq!(seen.iter().filter(|k| k.tenant == other).count(), 2);

    let cancelled = store
        .list_all(&ListQuery {
            state: Some(TrackingState::Cancelled),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(cancelled.jobs.len(), 1);
    assert_eq!(cancelled.jobs[0].request.key.tenant, other);
    assert!(store
        .list_all(&ListQuery {
            after: Some("not a cursor".into()),
            ..ListQuery::default()
        })
        .await
        .is_err());
}

pub(super) async fn outbox_entries_show_live_and_dead<S: JobStore + Outbox>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(320));
    store.publish(r.clone(), true, t0()).await.unwrap();
    store.cancel(&r.key, t0()).await.unwrap();
    assert!(store.outbox_entries("hook-x", 10).await.unwrap().is_empty());
    let lease = t0() + mins(1);
    let claimed = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .fan_out(
            RESULTS_QUEUE,
            claimed[0].entry.seq,
            claimed[0].token,
            &["hook-x".to_owned()],
            t0(),
        )
        .await
        .unwrap();
    let a = store.claim_outbox("hook-x", t0(), 10, lease).await.unwrap();
    store
        .bury_outbox("hook-x", a[0].entry.seq, a[0].token, "410 Gone".into())
        .await
        .unwrap();
    let entries = store.outbox_entries("hook-x", 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].dead);
    assert_eq!(entries[0].last_error.as_deref(), Some("410 Gone"));
    assert_eq!(entries[0].event.id, claimed[0].entry.event.id);
    assert!(store.outbox_entries("hook-x", 0).await.unwrap().is_empty());
    assert!(
        store.outbox_entries("hook", 10).await.unwrap().is_empty(),
        "a queue's name is not a prefix of another's"
    );
}
