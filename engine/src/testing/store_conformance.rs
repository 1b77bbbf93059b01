//! The store conformance suites, one per capability. Every job store passes
//! [`run_job_store`], the core the engine needs; a job store that overrides an optional
//! method passes its suite too: [`run_feed`] ([`JobStore::results`]), [`run_retention`]
//! ([`JobStore::purge_finished`]), [`run_cohort`] ([`JobStore::expedite_cohort`]),
//! [`run_release`] ([`JobStore::release`]). An [`Outbox`] passes [`run_outbox`] (with the
//! job store that feeds it), and [`run_settle`] if it overrides [`Outbox::settle`];
//! [`run_outbox_retention`] checks a store with both an outbox and retention;
//! [`Records`] pass [`run_records`]. [`run_all`] runs everything, for a backend that offers
//! every capability ([`Store`] and every optional method), as sled and PostgreSQL do.
//!
#![cfg_attr(feature = "sled", doc = "```no_run")]
#![cfg_attr(not(feature = "sled"), doc = "```ignore")]
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
mod jobs;
mod operator;
mod outbox;
mod records;
mod retention;
mod settle;

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use crate::model::{
    EmitReason, Job, ResultEvent, Status, Tenant, TraceRequest, TraceResult, TrackingState,
};
use crate::store::{Claimed, Committed, JobStore, Outbox, Records, Store, StoreError, TraceCommit};
use crate::testing::t0;

type Check<S> = (
    &'static str,
    fn(S) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
);

/// A check of a suite, named after the function that runs it.
macro_rules! check {
    ($module:ident :: $name:ident) => {
        (stringify!($name), |s| Box::pin($module::$name(s)))
    };
}

/// Runs `checks`, each on a fresh store from `make`.
async fn run<S, F, Fut>(checks: Vec<Check<S>>, make: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, check) in checks {
        let store = make().await;
        tracing::info!(check = name, "store conformance");
        check(store).await;
    }
}

/// Runs the checks every job store must pass: what the engine needs to run (publish,
/// cancel, reads, claims, leases, commits, the due index). A store that keeps the trait's
/// defaults of the optional methods passes it; each optional capability has a suite of
/// its own ([`run_feed`], [`run_retention`], [`run_cohort`], [`run_release`]).
pub async fn run_job_store<S: JobStore, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![
        check!(jobs::publish_creates_forces_and_keeps_workflow),
        check!(jobs::tenants_and_kinds_are_separate_jobs),
        check!(jobs::due_index_is_ordered_and_limited),
        check!(jobs::leases_lapse_and_fence),
        check!(jobs::trace_commit_is_one_step),
        check!(jobs::unchanged_commit_writes_no_event),
        check!(jobs::history_keeps_the_newest_events),
        check!(jobs::cancel_stops_and_emits_once),
        check!(jobs::force_during_lease_runs_after_commit),
        check!(jobs::finished_job_restarts),
        check!(jobs::list_filters_and_pages),
        check!(jobs::renew_extends_only_the_holders_lease),
        check!(ahead::claims_ahead_lease_each_job_from_its_own_due_time),
        check!(ahead::a_released_job_comes_due_at_its_own_time),
        check!(operator::list_all_spans_tenants_and_pages),
    ];
    run(checks, &make).await;
}

/// Runs the checks of the results feed ([`JobStore::results`]), for a job store that
/// offers one (the default answers `Unsupported`).
pub async fn run_feed<S: JobStore, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![check!(feed::results_feed_pages_a_tenants_events_in_order)];
    run(checks, &make).await;
}

/// Runs the checks of retention ([`JobStore::purge_finished`]), for a job store that
/// removes finished jobs (the default removes none). Where the store also offers the
/// results feed, they check that a removed job's events leave it.
pub async fn run_retention<S: JobStore, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![
        check!(retention::purge_removes_only_jobs_finished_before_the_cutoff),
        check!(retention::a_purge_racing_re_publishes_never_takes_a_live_job),
    ];
    run(checks, &make).await;
}

/// Runs the checks of the cohort index ([`JobStore::expedite_cohort`]), for a job store
/// that brings a cohort forward (the default moves none).
pub async fn run_cohort<S: JobStore, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![
        check!(cohort::cohort_news_brings_only_the_visits_other_boxes_forward),
        check!(cohort::a_box_that_leaves_its_visit_leaves_the_cohort),
    ];
    run(checks, &make).await;
}

/// Runs the check of a true release ([`JobStore::release`] overridden): a job handed back
/// is held by no one, so that a claim ahead may take it before its due time (the default
/// renews the lease to the due time instead, which [`run_job_store`] accepts).
pub async fn run_release<S: JobStore, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![check!(ahead::a_released_job_can_be_claimed_ahead_again)];
    run(checks, &make).await;
}

/// Runs the checks every outbox must pass, on a backend that is also the job store
/// feeding its results queue (an outbox is only ever fed by its job store's commits and
/// cancels). An outbox that keeps the trait's defaults (`fan_out_all`, `settle`) passes
/// it; a store that overrides `settle` runs [`run_settle`] too.
pub async fn run_outbox<S: JobStore + Outbox, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![
        check!(outbox::commits_and_cancels_feed_the_results_queue),
        check!(outbox::a_fenced_commit_after_a_takeover_queues_nothing),
        check!(outbox::outbox_is_ordered_per_job),
        check!(outbox::queues_fan_out_bury_and_replay),
        check!(outbox::fan_out_all_keeps_order_and_fences_each),
        check!(outbox::a_released_entry_keeps_its_attempts),
        check!(operator::outbox_entries_show_live_and_dead),
        check!(retention::delivered_entries_leave_nothing_behind),
    ];
    run(checks, &make).await;
}

/// Runs the checks of a batched [`Outbox::settle`] that a store overrides: every verdict
/// applied and fenced on its own, and a release that ends the lease at once (the default
/// lets a released entry's lease lapse by itself, which [`run_outbox`] accepts).
pub async fn run_settle<S: JobStore + Outbox, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![check!(settle::settle_applies_each_verdict_and_fences_each)];
    run(checks, &make).await;
}

/// Runs the checks of retention beside an outbox, for a store that offers both: a purge
/// leaves the undelivered events of the jobs it removes in the outbox.
pub async fn run_outbox_retention<S: JobStore + Outbox, Fut: Future<Output = S>>(
    make: impl Fn() -> Fut,
) {
    let checks: Vec<Check<S>> = vec![check!(
        retention::a_purge_leaves_undelivered_events_in_the_outbox
    )];
    run(checks, &make).await;
}

/// Runs every check of adapter records.
pub async fn run_records<S: Records, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    let checks: Vec<Check<S>> = vec![check!(records::records_are_kept_by_kind_and_key)];
    run(checks, &make).await;
}

/// Runs every suite on a backend that offers every capability, each check on a fresh
/// store from `make`: what sled and PostgreSQL pass.
pub async fn run_all<S: Store, Fut: Future<Output = S>>(make: impl Fn() -> Fut) {
    run_job_store(&make).await;
    run_feed(&make).await;
    run_retention(&make).await;
    run_cohort(&make).await;
    run_release(&make).await;
    run_outbox(&make).await;
    run_settle(&make).await;
    run_outbox_retention(&make).await;
    run_records(&make).await;
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

/// Claims the one job a check expects due at `now`, leased a minute.
async fn claim_one<S: JobStore>(store: &S, now: DateTime<Utc>) -> Claimed {
    store
        .claim_due(now, 1, now + mins(1))
        .await
        .unwrap()
        .pop()
        .expect("a job is due")
}

/// Commits `job` under the lease `token` at `now`, with the event `emit` calls for.
async fn commit<S: JobStore>(
    store: &S,
    token: u64,
    job: Job,
    emit: Option<EmitReason>,
    now: DateTime<Utc>,
) -> Committed {
    store
        .complete(TraceCommit {
            token,
            job,
            emit,
            now,
        })
        .await
        .unwrap()
}

/// The error a commit of `job` under the lease `token` at `now` is refused with.
async fn refused<S: JobStore>(
    store: &S,
    token: u64,
    job: Job,
    emit: Option<EmitReason>,
    now: DateTime<Utc>,
) -> StoreError {
    store
        .complete(TraceCommit {
            token,
            job,
            emit,
            now,
        })
        .await
        .expect_err("the commit is refused")
}

/// Claims every job due at `now` and commits each as traced (expected) with a first
/// result, due again at `next`; returns the events, in claim order.
async fn first_results<S: JobStore>(
    store: &S,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Vec<ResultEvent> {
    let mut events = Vec::new();
    for c in store.claim_due(now, 100, now + mins(1)).await.unwrap() {
        let job = traced(&c.job, Status::Expected, now, Some(next));
        let committed = commit(store, c.token, job, Some(EmitReason::FirstResult), now).await;
        events.push(committed.event.expect("an event was due"));
    }
    events
}

/// Claims the job of `r` (the only one due at `at`) and commits a trace at `at` with an
/// event: the job finishes (completed) when `done`, else it is due far later.
async fn trace_only<S: JobStore>(
    store: &S,
    r: &TraceRequest,
    at: DateTime<Utc>,
    done: bool,
) -> ResultEvent {
    let mut claimed = store.claim_due(at, 10, at + mins(1)).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the job under test is due");
    let c = claimed.pop().unwrap();
    assert_eq!(c.job.request.key, r.key);
    let next = (!done).then(|| t0() + mins(10_000));
    let mut job = traced(&c.job, Status::GatedIn, at, next);
    job.updated_at = at;
    let emit = if done {
        EmitReason::TrackingStopped
    } else {
        EmitReason::FirstResult
    };
    commit(store, c.token, job, Some(emit), at)
        .await
        .event
        .expect("an event was due")
}

/// Publishes `r` at `at` and traces it there ([`trace_only`]).
async fn publish_and_trace<S: JobStore>(
    store: &S,
    r: &TraceRequest,
    at: DateTime<Utc>,
    done: bool,
) -> ResultEvent {
    store.publish(r.clone(), true, at).await.unwrap();
    trace_only(store, r, at, done).await
}
