//! Conformance of the job store ([`JobStore`]): publish, cancel, reads, claims, leases
//! and commits.

use chrono::Duration;

use super::{claim_one, commit, first_results, mins, refused, tenant, traced};
use crate::model::{
    EmitReason, Fenced, PublishOutcome, ResultAction, Status, Tenant, TraceKind, TrackingState,
};
use crate::store::{JobStore, ListQuery, StoreError};
use crate::testing::{container, request, t0};

pub(super) async fn publish_creates_forces_and_keeps_workflow<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(1));
    let (job, outcome) = store.publish(r.clone(), true, t0()).await.unwrap();
    assert_eq!(outcome, PublishOutcome::Created, "a new key creates a job");
    assert_eq!(job.due_at, Some(t0()), "the initial trace is due at once");
    assert_eq!(
        store.get(&r.key).await.unwrap().as_ref(),
        Some(&job),
        "get returns what publish stored"
    );

    first_results(&store, t0(), t0() + mins(240)).await;

    let (job, outcome) = store
        .publish(r.clone(), false, t0() + mins(5))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PublishOutcome::AlreadyTracked,
        "not real-time: nothing forced"
    );
    assert_eq!(job.due_at, Some(t0() + mins(240)));
    let (job, outcome) = store
        .publish(r.clone(), true, t0() + mins(6))
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Forced, "real-time: forced");
    assert_eq!(
        job.due_at,
        Some(t0() + mins(6)),
        "a forced trace is due at once"
    );
    assert_eq!(store.next_due().await.unwrap(), Some(t0() + mins(6)));
}

pub(super) async fn tenants_and_kinds_are_separate_jobs<S: JobStore>(store: S) {
    let other = Tenant::new("org-b", "svc-1");
    let c = container(2);
    for (t, kind) in [
        (tenant(), TraceKind::Export),
        (tenant(), TraceKind::Empty),
        (other.clone(), TraceKind::Export),
    ] {
        let (_, outcome) = store
            .publish(request(&t, kind, "p", &c), true, t0())
            .await
            .unwrap();
        assert_eq!(
            outcome,
            PublishOutcome::Created,
            "{t:?} {kind:?} is its own job"
        );
    }
    let mine = store.list(&tenant(), &ListQuery::default()).await.unwrap();
    assert_eq!(mine.jobs.len(), 2, "a tenant lists only its own jobs");
    assert!(mine.jobs.iter().all(|j| j.request.key.tenant == tenant()));
    let theirs = store.list(&other, &ListQuery::default()).await.unwrap();
    assert_eq!(theirs.jobs.len(), 1);
    let cancelled = store
        .cancel(&request(&other, TraceKind::Export, "p", &c).key, t0())
        .await
        .unwrap();
    assert!(cancelled.is_some());
    let mine_still = store
        .get(&request(&tenant(), TraceKind::Export, "p", &c).key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mine_still.state,
        TrackingState::Active,
        "another tenant's cancel leaves mine alone"
    );
}

pub(super) async fn due_index_is_ordered_and_limited<S: JobStore>(store: S) {
    // Published at t0 + i minutes, so due then, in reverse insertion order of ids.
    for i in (0..20).rev() {
        store
            .publish(
                request(&tenant(), TraceKind::Empty, "p", &container(100 + i)),
                true,
                t0() + mins(i as i64),
            )
            .await
            .unwrap();
    }
    let now = t0() + mins(9);
    let first = store.claim_due(now, 4, now + mins(1)).await.unwrap();
    let due: Vec<_> = first
        .iter()
        .map(|c| c.job.request.key.container.clone())
        .collect();
    let expected: Vec<_> = (0..4)
        .map(|i| container(100 + i).as_str().to_owned())
        .collect();
    assert_eq!(due, expected, "earliest due first, at most the limit");
    let rest = store.claim_due(now, 100, now + mins(1)).await.unwrap();
    assert_eq!(rest.len(), 6, "only jobs due by now: 10 in all");
    assert!(
        store
            .claim_due(now, 100, now + mins(1))
            .await
            .unwrap()
            .is_empty(),
        "claimed jobs are leased"
    );
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() + mins(10)),
        "the next unclaimed job and the leases lapse then"
    );
}

pub(super) async fn leases_lapse_and_fence<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(3));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let first = claim_one(&store, t0()).await;
    assert!(
        store
            .claim_due(t0() + Duration::seconds(59), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased until its expiry"
    );
    // A lapsed lease comes due by itself.
    let second = claim_one(&store, lease).await;
    assert!(second.token > first.token, "a new claim gets a new token");
    let stale = traced(&first.job, Status::Loaded, lease, None);
    let err = refused(&store, first.token, stale, Some(EmitReason::Changed), lease).await;
    assert!(
        matches!(err, StoreError::Fenced(Fenced::LeaseLost)),
        "a stale holder is fenced: {err:?}"
    );
    assert!(
        store.history(&r.key, 10).await.unwrap().is_empty(),
        "a fenced commit writes nothing"
    );
    assert_eq!(
        store.get(&r.key).await.unwrap().unwrap().state,
        TrackingState::Active
    );
}

pub(super) async fn trace_commit_is_one_step<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(4));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let next = traced(&c.job, Status::GatedIn, t0(), Some(t0() + mins(120)));
    let committed = commit(&store, c.token, next, Some(EmitReason::FirstResult), t0()).await;
    let event = committed.event.expect("an event was due");
    assert!(!event.id.is_empty(), "the store assigns the event id");
    assert_eq!(event.action, ResultAction::TraceResult);
    assert_eq!(event.payload.status, Some(Status::GatedIn));
    assert_eq!(event.payload.next_trace_at, Some(t0() + mins(120)));
    let stored = store.get(&r.key).await.unwrap().unwrap();
    assert_eq!(stored.lease, None, "the lease is released");
    assert_eq!(stored.due_at, Some(t0() + mins(120)), "rescheduled");
    assert_eq!(store.next_due().await.unwrap(), Some(t0() + mins(120)));
    let history = store.history(&r.key, 10).await.unwrap();
    assert_eq!(history, vec![event.clone()], "history holds the same event");
}

pub(super) async fn unchanged_commit_writes_no_event<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Empty, "p", &container(5));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let next = traced(&c.job, Status::Receivable, t0(), Some(t0() + mins(60)));
    let committed = commit(&store, c.token, next, None, t0()).await;
    assert!(committed.event.is_none());
    assert!(
        store.history(&r.key, 10).await.unwrap().is_empty(),
        "no history without a change"
    );
    assert_eq!(
        store.get(&r.key).await.unwrap().unwrap().due_at,
        Some(t0() + mins(60))
    );
}

/// A history longer than the limit answers its newest events, oldest first (not the
/// oldest ones).
pub(super) async fn history_keeps_the_newest_events<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(9));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let mut events = Vec::new();
    for (i, (status, emit)) in [
        (Status::Expected, EmitReason::FirstResult),
        (Status::GatedIn, EmitReason::Changed),
    ]
    .into_iter()
    .enumerate()
    {
        let now = t0() + mins(10 * i as i64);
        let c = claim_one(&store, now).await;
        let next = traced(&c.job, status, now, Some(now + mins(10)));
        let committed = commit(&store, c.token, next, Some(emit), now).await;
        events.push(committed.event.expect("an event was due"));
    }
    events.push(
        store
            .cancel(&r.key, t0() + mins(15))
            .await
            .unwrap()
            .expect("an active job is cancelled"),
    );
    assert_eq!(
        store.history(&r.key, 10).await.unwrap(),
        events,
        "every event, oldest first"
    );
    assert_eq!(
        store.history(&r.key, 2).await.unwrap(),
        events[1..].to_vec(),
        "the newest two, oldest first"
    );
    assert_eq!(
        store.history(&r.key, 1).await.unwrap(),
        events[2..].to_vec(),
        "the newest one"
    );
}

pub(super) async fn cancel_stops_and_emits_once<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(6));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let event = store
        .cancel(&r.key, t0())
        .await
        .unwrap()
        .expect("an active job is cancelled");
    assert_eq!(event.payload.tracking_state, TrackingState::Cancelled);
    assert_eq!(event.payload.reason, EmitReason::TrackingStopped);
    assert!(
        store.cancel(&r.key, t0()).await.unwrap().is_none(),
        "cancelling again is a no-op"
    );
    let unknown = request(&tenant(), TraceKind::Export, "p", &container(7));
    assert!(
        store.cancel(&unknown.key, t0()).await.unwrap().is_none(),
        "cancelling the unknown is a no-op"
    );
    let late = traced(&c.job, Status::GatedIn, t0(), Some(t0() + mins(60)));
    let err = refused(&store, c.token, late, Some(EmitReason::FirstResult), t0()).await;
    assert!(
        matches!(err, StoreError::Fenced(_)),
        "a trace running at cancel time cannot write: {err:?}"
    );
    assert!(
        store
            .claim_due(t0() + mins(600), 10, t0() + mins(601))
            .await
            .unwrap()
            .is_empty(),
        "a cancelled job is never due"
    );
    assert_eq!(
        store.history(&r.key, 10).await.unwrap(),
        vec![event],
        "exactly one final event"
    );
    assert_eq!(store.next_due().await.unwrap(), None);
}

pub(super) async fn force_during_lease_runs_after_commit<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(8));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let (during, outcome) = store
        .publish(r.clone(), true, t0() + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Forced);
    assert_eq!(
        during.due_at,
        Some(t0() + mins(1)),
        "no second trace while one runs"
    );
    assert!(store
        .claim_due(t0() + Duration::seconds(6), 10, t0() + mins(2))
        .await
        .unwrap()
        .is_empty());
    let now = t0() + Duration::seconds(10);
    let next = traced(&c.job, Status::Expected, now, Some(now + mins(180)));
    let committed = commit(&store, c.token, next, Some(EmitReason::FirstResult), now).await;
    assert_eq!(
        committed.job.due_at,
        Some(now),
        "the force requested mid-trace is due at commit"
    );
    let again = store.claim_due(now, 10, now + mins(1)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(
        again[0].job.force.pending(),
        "the claimed snapshot shows the pending force"
    );
}

pub(super) async fn finished_job_restarts<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Empty, "p", &container(11));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    let done = traced(&c.job, Status::Returned, t0(), None);
    commit(
        &store,
        c.token,
        done,
        Some(EmitReason::TrackingStopped),
        t0(),
    )
    .await;
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "a completed job is not due"
    );
    let later = t0() + mins(600);
    let (job, outcome) = store.publish(r.clone(), true, later).await.unwrap();
    assert_eq!(outcome, PublishOutcome::Restarted);
    assert_eq!(job.state, TrackingState::Active);
    assert_eq!(job.due_at, Some(later));
    assert_eq!(
        store
            .claim_due(later, 10, later + mins(1))
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(super) async fn list_filters_and_pages<S: JobStore>(store: S) {
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            TraceKind::Export
        } else {
            TraceKind::Empty
        };
        store
            .publish(
                request(&tenant(), kind, "p", &container(200 + i)),
                true,
                t0(),
            )
            .await
            .unwrap();
    }
    store
        .cancel(
            &request(&tenant(), TraceKind::Export, "p", &container(200)).key,
            t0(),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 3,
        ..ListQuery::default()
    };
    loop {
        let page = store.list(&tenant(), &query).await.unwrap();
        assert!(page.jobs.len() <= 3);
        seen.extend(page.jobs.into_iter().map(|j| j.request.key));
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(
        (seen.len(), distinct.len()),
        (7, 7),
        "pages cover every job once: {seen:?}"
    );
    // The store's key order is its own (an encoding of the key), but paging follows it.
    let whole: Vec<_> = store
        .list(&tenant(), &ListQuery::default())
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.request.key)
        .collect();
    assert_eq!(seen, whole, "pages follow the order of one whole listing");
    let exports = store
        .list(
            &tenant(),
            &ListQuery {
                kind: Some(TraceKind::Export),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(exports.jobs.len(), 4);
    let cancelled = store
        .list(
            &tenant(),
            &ListQuery {
                state: Some(TrackingState::Cancelled),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cancelled.jobs.len(), 1);
}

pub(super) async fn renew_extends_only_the_holders_lease<S: JobStore>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(12));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = claim_one(&store, t0()).await;
    store
        .renew(c.job.id, c.token, t0() + mins(5))
        .await
        .unwrap();
    assert!(
        store
            .claim_due(t0() + mins(2), 10, t0() + mins(3))
            .await
            .unwrap()
            .is_empty(),
        "renewed lease holds"
    );
    assert!(matches!(
        store.renew(c.job.id, c.token + 1, t0() + mins(9)).await,
        Err(StoreError::Fenced(_))
    ));
    assert_eq!(
        store
            .claim_due(t0() + mins(5), 10, t0() + mins(6))
            .await
            .unwrap()
            .len(),
        1
    );
}
