//! The [`Store`] conformance suite: every backend must pass it unchanged.
//!
//! ```no_run
//! # async fn f() {
//! use boxtrace::{testing::store_conformance, SledStore};
//! store_conformance::run_all(|| async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = SledStore::open_path(dir.path()).unwrap();
//!     std::mem::forget(dir); // keep the directory for the store's lifetime
//!     store
//! })
//! .await;
//! # }
//! ```
//!
//! Each check gets a fresh store from the factory and panics with a message naming the
//! check and the rule on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ahead;
mod cohort;
mod feed;
mod operator;

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::{container, request, t0};
use crate::model::{
    EmitReason, Fenced, Job, PublishOutcome, ResultAction, Status, Tenant, TraceKind, TraceResult,
    TrackingState,
};
use crate::store::{FanOutEntry, ListQuery, Store, StoreError, TraceCommit, RESULTS_QUEUE};

type Check<S> = (
    &'static str,
    fn(S) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
);

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let checks: Vec<Check<S>> = vec![
        ("publish_creates_forces_and_keeps_workflow", |s| {
            Box::pin(publish_creates_forces_and_keeps_workflow(s))
        }),
        ("tenants_and_kinds_are_separate_jobs", |s| {
            Box::pin(tenants_and_kinds_are_separate_jobs(s))
        }),
        ("due_index_is_ordered_and_limited", |s| {
            Box::pin(due_index_is_ordered_and_limited(s))
        }),
        ("leases_lapse_and_fence", |s| {
            Box::pin(leases_lapse_and_fence(s))
        }),
        ("trace_commit_is_one_step", |s| {
            Box::pin(trace_commit_is_one_step(s))
        }),
        ("unchanged_commit_writes_no_event", |s| {
            Box::pin(unchanged_commit_writes_no_event(s))
        }),
        ("cancel_stops_and_emits_once", |s| {
            Box::pin(cancel_stops_and_emits_once(s))
        }),
        ("force_during_lease_runs_after_commit", |s| {
            Box::pin(force_during_lease_runs_after_commit(s))
        }),
        ("outbox_is_ordered_per_job", |s| {
            Box::pin(outbox_is_ordered_per_job(s))
        }),
        ("finished_job_restarts", |s| {
            Box::pin(finished_job_restarts(s))
        }),
        ("list_filters_and_pages", |s| {
            Box::pin(list_filters_and_pages(s))
        }),
        ("queues_fan_out_bury_and_replay", |s| {
            Box::pin(queues_fan_out_bury_and_replay(s))
        }),
        ("fan_out_all_keeps_order_and_fences_each", |s| {
            Box::pin(fan_out_all_keeps_order_and_fences_each(s))
        }),
        ("records_are_kept_by_kind_and_key", |s| {
            Box::pin(records_are_kept_by_kind_and_key(s))
        }),
        ("renew_extends_only_the_holders_lease", |s| {
            Box::pin(renew_extends_only_the_holders_lease(s))
        }),
        (
            "cohort_news_brings_only_the_visits_other_boxes_forward",
            |s| Box::pin(cohort::cohort_news_brings_only_the_visits_other_boxes_forward(s)),
        ),
        ("a_box_that_leaves_its_visit_leaves_the_cohort", |s| {
            Box::pin(cohort::a_box_that_leaves_its_visit_leaves_the_cohort(s))
        }),
        ("claims_ahead_lease_each_job_from_its_own_due_time", |s| {
            Box::pin(ahead::claims_ahead_lease_each_job_from_its_own_due_time(s))
        }),
        ("a_released_job_can_be_claimed_ahead_again", |s| {
            Box::pin(ahead::a_released_job_can_be_claimed_ahead_again(s))
        }),
        ("list_all_spans_tenants_and_pages", |s| {
            Box::pin(operator::list_all_spans_tenants_and_pages(s))
        }),
        ("outbox_entries_show_live_and_dead", |s| {
            Box::pin(operator::outbox_entries_show_live_and_dead(s))
        }),
        ("results_feed_pages_a_tenants_events_in_order", |s| {
            Box::pin(feed::results_feed_pages_a_tenants_events_in_order(s))
        }),
    ];
    for (name, check) in checks {
        let store = make().await;
        tracing::info!(check = name, "store conformance");
        check(store).await;
    }
}

fn tenant() -> Tenant {
    Tenant::new("org-a", "svc-1")
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

/// The job after a successful trace at `now` with `status`, next due at `next`.
fn traced(job: &Job, status: Status, now: DateTime<Utc>, next: Option<DateTime<Utc>>) -> Job {
    let mut job = job.clone();
    job.last_result = Some(TraceResult::new(status, now));
    job.last_traced_at = Some(now);
    job.trace_count += 1;
    job.force.handled = job.force.requested;
    match next {
        Some(at) => job.due_at = Some(at),
        None => {
            job.state = TrackingState::Completed;
            job.due_at = None;
        }
    }
    job
}

async fn publish_creates_forces_and_keeps_workflow<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(1));
    let (job, outcome) = store.publish(r.clone(), true, t0()).await.unwrap();
    assert_eq!(outcome, PublishOutcome::Created, "a new key creates a job");
    assert_eq!(job.due_at, Some(t0()), "the initial trace is due at once");
    assert_eq!(
        store.get(&r.key).await.unwrap().as_ref(),
        Some(&job),
        "get returns what publish stored"
    );

    let claimed = store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap();
    let next = traced(
        &claimed[0].job,
        Status::Expected,
        t0(),
        Some(t0() + mins(240)),
    );
    store
        .complete(TraceCommit {
            token: claimed[0].token,
            job: next,
            emit: Some(EmitReason::FirstResult),
            now: t0(),
        })
        .await
        .unwrap();

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

async fn tenants_and_kinds_are_separate_jobs<S: Store>(store: S) {
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

async fn due_index_is_ordered_and_limited<S: Store>(store: S) {
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

async fn leases_lapse_and_fence<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(3));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let first = store
        .claim_due(t0(), 10, lease)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(
        store
            .claim_due(t0() + Duration::seconds(59), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "leased until its expiry"
    );
    let second = store
        .claim_due(lease, 10, lease + mins(1))
        .await
        .unwrap()
        .pop()
        .expect("a lapsed lease comes due by itself");
    assert!(second.token > first.token, "a new claim gets a new token");
    let stale = traced(&first.job, Status::Loaded, lease, None);
    let err = store
        .complete(TraceCommit {
            token: first.token,
            job: stale,
            emit: Some(EmitReason::Changed),
            now: lease,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced(Fenced::LeaseLost)),
        "a stale holder is fenced: {err:?}"
    );
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        0,
        "a fenced commit writes nothing"
    );
    assert_eq!(
        store.get(&r.key).await.unwrap().unwrap().state,
        TrackingState::Active
    );
}

async fn trace_commit_is_one_step<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(4));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let next = traced(&c.job, Status::GatedIn, t0(), Some(t0() + mins(120)));
    let committed = store
        .complete(TraceCommit {
            token: c.token,
            job: next,
            emit: Some(EmitReason::FirstResult),
            now: t0(),
        })
        .await
        .unwrap();
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
    let claims = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, t0() + mins(1))
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        claims[0].entry.event, event,
        "the outbox holds the same event"
    );
    store
        .ack_outbox(RESULTS_QUEUE, claims[0].entry.seq, claims[0].token)
        .await
        .unwrap();
    assert_eq!(store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 0);
}

async fn unchanged_commit_writes_no_event<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Empty, "p", &container(5));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let next = traced(&c.job, Status::Receivable, t0(), Some(t0() + mins(60)));
    let committed = store
        .complete(TraceCommit {
            token: c.token,
            job: next,
            emit: None,
            now: t0(),
        })
        .await
        .unwrap();
    assert!(committed.event.is_none());
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        0,
        "no outbox entry without a change"
    );
    assert!(
        store.history(&r.key, 10).await.unwrap().is_empty(),
        "no history without a change"
    );
    assert_eq!(
        store.get(&r.key).await.unwrap().unwrap().due_at,
        Some(t0() + mins(60))
    );
}

async fn cancel_stops_and_emits_once<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(6));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
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
    assert!(
        matches!(
            store
                .complete(TraceCommit {
                    token: c.token,
                    job: late,
                    emit: Some(EmitReason::FirstResult),
                    now: t0()
                })
                .await,
            Err(StoreError::Fenced(_))
        ),
        "a trace running at cancel time cannot write"
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
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        1,
        "exactly one final event"
    );
    assert_eq!(store.next_due().await.unwrap(), None);
}

async fn force_during_lease_runs_after_commit<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(8));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
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
    let committed = store
        .complete(TraceCommit {
            token: c.token,
            job: next,
            emit: Some(EmitReason::FirstResult),
            now,
        })
        .await
        .unwrap();
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

async fn outbox_is_ordered_per_job<S: Store>(store: S) {
    let a = request(&tenant(), TraceKind::Export, "p", &container(9));
    let b = request(&tenant(), TraceKind::Export, "p", &container(10));
    for r in [&a, &b] {
        store.publish(r.clone(), true, t0()).await.unwrap();
    }
    // Two events for a (first result, then cancel), one for b.
    let claimed = store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap();
    for c in claimed {
        let next = traced(&c.job, Status::Expected, t0(), Some(t0() + mins(60)));
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
    store.cancel(&a.key, t0()).await.unwrap();
    let lease = t0() + mins(1);
    let first = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(first.len(), 2, "one entry per job at a time");
    assert!(
        store
            .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "nothing more while the first are in flight"
    );
    let a_first = first
        .iter()
        .find(|c| c.entry.event.payload.container_number == a.key.container)
        .unwrap();
    let b_first = first
        .iter()
        .find(|c| c.entry.event.payload.container_number == b.key.container)
        .unwrap();
    store
        .ack_outbox(RESULTS_QUEUE, b_first.entry.seq, b_first.token)
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .ack_outbox(RESULTS_QUEUE, a_first.entry.seq, a_first.token + 1)
                .await,
            Err(StoreError::Fenced(_))
        ),
        "a wrong token cannot ack"
    );
    store
        .retry_outbox(
            RESULTS_QUEUE,
            a_first.entry.seq,
            a_first.token,
            t0() + mins(5),
            Some("503".into()),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox(RESULTS_QUEUE, t0() + mins(2), 10, t0() + mins(3))
            .await
            .unwrap()
            .is_empty(),
        "a's later event waits behind its retried first"
    );
    let retried = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].entry.seq, a_first.entry.seq,
        "the retried entry comes back first"
    );
    assert_eq!(retried[0].entry.attempts, 1);
    assert_eq!(
        retried[0].entry.event.id, a_first.entry.event.id,
        "the event id is stable across retries"
    );
    store
        .ack_outbox(RESULTS_QUEUE, retried[0].entry.seq, retried[0].token)
        .await
        .unwrap();
    let second = store
        .claim_outbox(RESULTS_QUEUE, t0() + mins(5), 10, t0() + mins(6))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].entry.event.payload.tracking_state,
        TrackingState::Cancelled,
        "then a's second event"
    );
}

async fn finished_job_restarts<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Empty, "p", &container(11));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let done = traced(&c.job, Status::Returned, t0(), None);
    store
        .complete(TraceCommit {
            token: c.token,
            job: done,
            emit: Some(EmitReason::TrackingStopped),
            now: t0(),
        })
        .await
        .unwrap();
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

async fn list_filters_and_pages<S: Store>(store: S) {
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
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7, "pages cover every job once");
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

async fn renew_extends_only_the_holders_lease<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(12));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
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

async fn fan_out_all_keeps_order_and_fences_each<S: Store>(store: S) {
    for n in [21, 22, 23] {
        let r = request(&tenant(), TraceKind::Export, "p", &container(n));
        store.publish(r, true, t0()).await.unwrap();
    }
    let claimed = store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    for c in claimed {
        let next = traced(&c.job, Status::Expected, t0(), Some(t0() + mins(60)));
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
    let lease = t0() + mins(1);
    let events = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "three jobs, one event each");
    let to = vec!["hook-z".to_owned()];
    let entries: Vec<FanOutEntry> = events
        .iter()
        .enumerate()
        .map(|(i, c)| FanOutEntry {
            seq: c.entry.seq,
            // The middle claim is not ours (a stale token): it alone must be refused.
            token: if i == 1 { c.token + 1_000 } else { c.token },
            to: to.clone(),
        })
        .collect();
    let results = store.fan_out_all(RESULTS_QUEUE, &entries, t0()).await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "a stale token is refused: {results:?}");
    let copies = store.claim_outbox("hook-z", t0(), 10, lease).await.unwrap();
    let ids: Vec<&str> = copies.iter().map(|c| c.entry.event.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            events[0].entry.event.id.as_str(),
            events[2].entry.event.id.as_str()
        ],
        "copies in the order given; the refused entry is not copied"
    );
    let left = store
        .claim_outbox(RESULTS_QUEUE, lease, 10, lease + mins(1))
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the refused entry stays in its queue");
    assert_eq!(left[0].entry.event.id, events[1].entry.event.id);
}

async fn queues_fan_out_bury_and_replay<S: Store>(store: S) {
    let r = request(&tenant(), TraceKind::Export, "p", &container(13));
    store.publish(r.clone(), true, t0()).await.unwrap();
    let c = store
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let next = traced(&c.job, Status::Expected, t0(), Some(t0() + mins(60)));
    store
        .complete(TraceCommit {
            token: c.token,
            job: next,
            emit: Some(EmitReason::FirstResult),
            now: t0(),
        })
        .await
        .unwrap();
    store.cancel(&r.key, t0()).await.unwrap();

    let lease = t0() + mins(1);
    let claimed = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "one at a time per job");
    let to = vec!["hook-a".to_owned(), "hook-b".to_owned()];
    store
        .fan_out(
            RESULTS_QUEUE,
            claimed[0].entry.seq,
            claimed[0].token,
            &to,
            t0(),
        )
        .await
        .unwrap();
    let second = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, lease)
        .await
        .unwrap();
    assert_eq!(
        second.len(),
        1,
        "the job's next event is free once the first fanned out"
    );
    store
        .fan_out(
            RESULTS_QUEUE,
            second[0].entry.seq,
            second[0].token,
            &to,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 0);

    let a = store.claim_outbox("hook-a", t0(), 10, lease).await.unwrap();
    assert_eq!(a.len(), 1, "a destination's queue keeps the job's order");
    assert_eq!(
        a[0].entry.event.id, claimed[0].entry.event.id,
        "copies keep the event id"
    );
    assert_eq!(a[0].entry.queue, "hook-a");
    store
        .bury_outbox("hook-a", a[0].entry.seq, a[0].token, "410 Gone".into())
        .await
        .unwrap();
    let after_dead = store.claim_outbox("hook-a", t0(), 10, lease).await.unwrap();
    assert_eq!(
        after_dead.len(),
        1,
        "a dead entry no longer holds back the next"
    );
    assert_eq!(
        after_dead[0].entry.event.payload.tracking_state,
        TrackingState::Cancelled
    );
    store
        .ack_outbox("hook-a", after_dead[0].entry.seq, after_dead[0].token)
        .await
        .unwrap();
    assert_eq!(
        store.outbox_stats("hook-a").await.unwrap(),
        crate::store::OutboxStats {
            pending: 0,
            dead: 1
        }
    );
    assert!(
        store
            .claim_outbox("hook-a", t0(), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "dead is never handed out"
    );
    assert_eq!(
        store.replay_outbox("hook-a", t0() + mins(2)).await.unwrap(),
        1
    );
    let replayed = store
        .claim_outbox("hook-a", t0() + mins(2), 10, lease + mins(2))
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert!(
        replayed[0].token > a[0].token,
        "a replayed entry's token is above every earlier one"
    );
    assert_eq!(
        replayed[0].entry.event.id, a[0].entry.event.id,
        "the replay delivers the same event"
    );
    assert_eq!(replayed[0].entry.last_error.as_deref(), Some("410 Gone"));

    let b = store.claim_outbox("hook-b", t0(), 10, lease).await.unwrap();
    assert_eq!(b.len(), 1, "hook-b is independent of hook-a");
    assert_eq!(store.purge_outbox("hook-b").await.unwrap(), 2);
    assert_eq!(
        store.outbox_stats("hook-b").await.unwrap(),
        crate::store::OutboxStats::default()
    );
}

async fn records_are_kept_by_kind_and_key<S: Store>(store: S) {
    let value = serde_json::json!({ "url": "https://tms.example/hook", "n": 1 });
    store
        .put_record("webhook", "org-a/1", &value)
        .await
        .unwrap();
    store
        .put_record("webhook", "org-a/2", &serde_json::json!({ "n": 2 }))
        .await
        .unwrap();
    store
        .put_record("webhook", "org-b/1", &serde_json::json!({ "n": 3 }))
        .await
        .unwrap();
    store
        .put_record("client", "org-a/1", &serde_json::json!({ "n": 4 }))
        .await
        .unwrap();
    assert_eq!(
        store.get_record("webhook", "org-a/1").await.unwrap(),
        Some(value)
    );
    assert_eq!(store.get_record("webhook", "org-c/1").await.unwrap(), None);
    let listed = store.list_records("webhook", "org-a/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        vec!["org-a/1", "org-a/2"],
        "by prefix, ordered, one kind only"
    );
    assert!(store.delete_record("webhook", "org-a/1").await.unwrap());
    assert!(
        !store.delete_record("webhook", "org-a/1").await.unwrap(),
        "deleting twice says so"
    );
    assert_eq!(store.list_records("webhook", "").await.unwrap().len(), 2);
}
