//! Conformance checks of the results feed ([`JobStore::results`]).

use std::collections::HashSet;

use super::{commit, mins, tenant, traced};
use crate::model::{EmitReason, ResultEvent, Status, Tenant, TraceKind};
use crate::store::{FeedCursor, JobStore};
use crate::testing::{container, request, t0};

/// Publishes, traces (with an event) and, if `cancel`, cancels a box of `tenant`; returns
/// the events in the order the store emitted them.
async fn emit<S: JobStore>(store: &S, tenant: &Tenant, n: u32, cancel: bool) -> Vec<ResultEvent> {
    let r = request(tenant, TraceKind::Export, "p", &container(n));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let claimed = store
        .claim_due(t0() + mins(1_000), 100, t0() + mins(1_001))
        .await
        .unwrap();
    let c = claimed
        .into_iter()
        .find(|c| c.job.request.key == r.key)
        .expect("the new job is due");
    let next = traced(&c.job, Status::GatedIn, t0(), Some(t0() + mins(2_000)));
    let committed = commit(store, c.token, next, Some(EmitReason::FirstResult), t0()).await;
    let mut events = vec![committed.event.expect("an event was due")];
    if cancel {
        events.push(store.cancel(&r.key, t0()).await.unwrap().expect("active"));
    }
    events
}

/// Waits until `tenant`'s feed after `after` holds `want` entries. A store may show an
/// event a little after its commit returned (PostgreSQL waits for older transactions to
/// end, so that no later commit lands behind a cursor), but not much later.
pub(super) async fn settle<S: JobStore>(
    store: &S,
    tenant: &Tenant,
    after: FeedCursor,
    want: usize,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = store.results(tenant, after, 1000).await.unwrap();
        if page.entries.len() >= want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the feed shows {} of {want} committed events 30 s after their commits",
            page.entries.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every page of `tenant`'s feed from the start, `limit` entries at a time, and the cursor
/// after the last.
async fn read_all<S: JobStore>(
    store: &S,
    tenant: &Tenant,
    limit: usize,
) -> (Vec<ResultEvent>, FeedCursor) {
    let mut after = FeedCursor::START;
    let mut events = Vec::new();
    loop {
        let page = store.results(tenant, after, limit).await.unwrap();
        assert!(
            page.entries.len() <= limit,
            "a page holds at most its limit"
        );
        let mut previous = after;
        for entry in &page.entries {
            assert!(entry.cursor > previous, "cursors grow along the feed");
            previous = entry.cursor;
        }
        assert_eq!(
            page.next, previous,
            "next is the last entry's cursor, or the one asked for"
        );
        events.extend(page.entries.into_iter().map(|e| e.event));
        after = page.next;
        if !page.more {
            return (events, after);
        }
        assert_eq!(
            events.len() % limit,
            0,
            "only a full page says there is more"
        );
    }
}

pub(super) async fn results_feed_pages_a_tenants_events_in_order<S: JobStore>(store: S) {
    let other = Tenant::new("org-b", "svc-1");
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for n in 0..5 {
        mine.extend(emit(&store, &tenant(), 900 + n, n % 2 == 0).await);
        theirs.extend(emit(&store, &other, 950 + n, false).await);
    }
    assert_eq!(mine.len(), 8);
    settle(&store, &tenant(), FeedCursor::START, mine.len()).await;
    settle(&store, &other, FeedCursor::START, theirs.len()).await;
    let (read, end) = read_all(&store, &tenant(), 3).await;
    assert_eq!(
        read, mine,
        "every event of the tenant, once, in the order emitted, as stored"
    );
    let ids: HashSet<_> = read.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), read.len(), "no duplicates");
    let (read, _) = read_all(&store, &other, 100).await;
    assert_eq!(read, theirs, "another tenant sees its own events only");

    let idle = store.results(&tenant(), end, 10).await.unwrap();
    assert!(
        idle.entries.is_empty() && !idle.more,
        "nothing after the end"
    );
    assert_eq!(idle.next, end, "polling at the end keeps the cursor");

    let later = emit(&store, &tenant(), 999, false).await;
    settle(&store, &tenant(), end, later.len()).await;
    let page = store.results(&tenant(), end, 10).await.unwrap();
    let events: Vec<_> = page.entries.into_iter().map(|e| e.event).collect();
    assert_eq!(
        events, later,
        "a new event comes after the cursor handed out before it"
    );

    let history = store
        .history(
            &request(&tenant(), TraceKind::Export, "p", &container(900)).key,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        history,
        mine[..2].to_vec(),
        "the feed carries the history's events"
    );
    assert!(
        store
            .results(&Tenant::new("org-c", "svc-1"), FeedCursor::START, 10)
            .await
            .unwrap()
            .entries
            .is_empty(),
        "a tenant without events has an empty feed"
    );
}
