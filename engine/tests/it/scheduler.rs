//! The scheduler under a simulated clock: re-traces on time, cancels stick, forced traces
//! run once, and clients hear about every change exactly once.

use std::time::Duration;

use boxtrace::testing::ScriptedTracer;
use boxtrace::{
    EmitReason, JobKey, ListQuery, PermanentReason, Policy, PublishOutcome, ResultAction, Status,
    Tenant, TraceError, TraceKind, TrackingState, Workflow,
};
use chrono::Duration as Span;
use serde_json::json;

use crate::support::{event, export, harness, harness_with, Harness};

fn key(kind: TraceKind, container: &str) -> JobKey {
    JobKey {
        tenant: Tenant::new("org-a", "svc-1"),
        kind,
        provider_id: "scripted".into(),
        container: container.into(),
    }
}

const BOX: &str = "CSQU3054383";

/// Advances the clock by `by` and traces what is due.
async fn step(h: &Harness, by: Span) -> usize {
    h.clock.advance(by);
    h.engine.run_due().await.unwrap()
}

/// Every outbox entry's (reason, status, state), oldest first, acknowledging them.
async fn drain_outbox(h: &Harness) -> Vec<(EmitReason, Option<Status>, TrackingState)> {
    let mut seen = Vec::new();
    loop {
        let claims = h
            .engine
            .claim_outbox(100, Duration::from_secs(30))
            .await
            .unwrap();
        if claims.is_empty() {
            return seen;
        }
        for c in claims {
            let p = &c.entry.event.payload;
            seen.push((p.reason, p.status, p.tracking_state));
            h.engine.ack_outbox(c.entry.seq, c.token).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_running_dispatcher_retraces_every_job_by_its_due_time() {
    let h = harness();
    let containers: Vec<String> = (0..24)
        .map(|n| boxtrace::testing::container(n).to_string())
        .collect();
    for (i, c) in containers.iter().enumerate() {
        if i % 2 == 0 {
            h.engine.handle_event(&export(c)).await.unwrap();
        } else {
            h.tracer.push_status(c, Status::Receivable);
            h.engine
                .handle_event(&event("org-a", "TRACE_EMPTY_REQUESTED", c, json!({})))
                .await
                .unwrap();
        }
    }
    let running = h.engine.start();
    let slack = Span::seconds(1);
    // A simulated day in 10-minute steps; after each, every job due by now must have
    // been traced (within a second of wall time of the dispatcher noticing).
    for _ in 0..144 {
        h.clock.advance(Span::minutes(10));
        let now = boxtrace::Clock::now(&h.clock);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for (i, c) in containers.iter().enumerate() {
            let kind = if i % 2 == 0 {
                TraceKind::Export
            } else {
                TraceKind::Empty
            };
            loop {
                let job = h.engine.get(&key(kind, c)).await.unwrap().unwrap();
                let due = job.due_at.unwrap();
                if job.lease.is_none() && due + slack > now {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{c} due at {due} not traced by {now}"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    running.shutdown().await;
    let traces = h.tracer.total_calls();
    // Default intervals: in the yard every 2 h (20 min right after a change), receivable
    // every hour. A day is 12 yard traces and 24 receivable ones, give or take jitter.
    assert!(
        (12 * 24..=40 * 24).contains(&(traces as i32)),
        "{traces} traces"
    );
    assert_eq!(
        h.tracer.max_overlap(),
        1,
        "never two traces of one job at once"
    );
}

#[tokio::test]
async fn a_retry_sooner_than_the_dispatcher_planned_to_look_runs_on_time() {
    let h = harness();
    h.tracer
        .push(BOX, Err(TraceError::transient("terminal busy")))
        .push_status(BOX, Status::Expected);
    h.engine.handle_event(&export(BOX)).await.unwrap();
    // The first trace is held until the dispatcher has gone to sleep, so that the failed
    // commit lands while it sleeps until the trace's lease would lapse.
    h.tracer.pause();
    let running = h.engine.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.tracer.calls(BOX) < 1 {
        assert!(tokio::time::Instant::now() < deadline, "never traced");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.tracer.resume();
    // The failed trace leaves the job due again within the backoff, before its lease
    // would have lapsed: the time the dispatcher went to sleep until.
    let due = loop {
        let job = h
            .engine
            .get(&key(TraceKind::Export, BOX))
            .await
            .unwrap()
            .unwrap();
        if job.consecutive_errors == 1 && job.lease.is_none() {
            break job.due_at.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first trace never failed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Due keys keep whole milliseconds, rounded up: the job is due by the next one.
    h.clock.set(due + Span::milliseconds(1));
    while h.tracer.calls(BOX) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry due at {due} did not run when the clock reached it"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    running.shutdown().await;
}

#[tokio::test]
async fn one_event_per_change_and_none_when_unchanged() {
    let h = harness();
    for status in [
        Status::Expected,
        Status::Expected,
        Status::GatedIn,
        Status::GatedIn,
        Status::OnHold,
        Status::GatedIn,
        Status::GatedIn,
        Status::Loaded,
    ] {
        h.tracer.push_status(BOX, status);
    }
    h.engine.handle_event(&export(BOX)).await.unwrap();
    assert_eq!(
        h.engine.run_due().await.unwrap(),
        1,
        "the initial trace runs right after publish"
    );
    for _ in 0..(6 * 24 * 3) {
        step(&h, Span::minutes(10)).await;
    }
    assert_eq!(
        h.tracer.calls(BOX),
        8,
        "traced until the terminal status, then never again"
    );
    let events = drain_outbox(&h).await;
    assert_eq!(
        events,
        vec![
            (
                EmitReason::FirstResult,
                Some(Status::Expected),
                TrackingState::Active
            ),
            (
                EmitReason::Changed,
                Some(Status::GatedIn),
                TrackingState::Active
            ),
            (
                EmitReason::Changed,
                Some(Status::OnHold),
                TrackingState::Active
            ),
            (
                EmitReason::Changed,
                Some(Status::GatedIn),
                TrackingState::Active
            ),
            (
                EmitReason::TrackingStopped,
                Some(Status::Loaded),
                TrackingState::Completed
            ),
        ]
    );
    let history = h
        .engine
        .history(&key(TraceKind::Export, BOX), 100)
        .await
        .unwrap();
    assert_eq!(history.len(), 5, "history holds the same five events");
}

#[tokio::test]
async fn a_cancelled_job_is_never_traced_again() {
    let h = harness();
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    let cancelled = h
        .engine
        .handle_event(&event("org-a", "TRACE_EXPORT_CANCELLED", BOX, json!({})))
        .await
        .unwrap();
    assert_eq!(
        cancelled.cancelled,
        Some(boxtrace::CancelOutcome::Cancelled)
    );
    for _ in 0..(24 * 10) {
        step(&h, Span::hours(1)).await;
    }
    assert_eq!(h.tracer.calls(BOX), 1);
    let events = drain_outbox(&h).await;
    assert_eq!(
        events.last().map(|e| e.2),
        Some(TrackingState::Cancelled),
        "a final event"
    );
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_forced_trace_runs_once_however_often_it_is_published() {
    let h = harness();
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    h.clock.advance(Span::minutes(1));
    let publishes: Vec<_> = (0..20)
        .map(|_| {
            let engine = h.engine.clone();
            tokio::spawn(async move { engine.handle_event(&export(BOX)).await })
        })
        .collect();
    for p in publishes {
        assert_eq!(
            p.await.unwrap().unwrap().published,
            Some(PublishOutcome::Forced)
        );
    }
    assert_eq!(
        h.engine.run_due().await.unwrap(),
        1,
        "twenty publishes, one forced trace"
    );
    assert_eq!(h.tracer.calls(BOX), 2);

    // Publishes that arrive while the forced trace runs make one more trace, after it.
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.tracer.pause();
    let engine = h.engine.clone();
    let run = tokio::spawn(async move { engine.run_due().await });
    while h.tracer.running() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for _ in 0..10 {
        h.engine.handle_event(&export(BOX)).await.unwrap();
    }
    h.tracer.resume();
    assert_eq!(
        run.await.unwrap().unwrap(),
        2,
        "the running trace, then exactly one more"
    );
    assert_eq!(h.tracer.calls(BOX), 4);
    assert_eq!(
        h.tracer.max_overlap(),
        1,
        "never two traces of one job at once"
    );
    let reasons: Vec<_> = drain_outbox(&h).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        reasons,
        vec![
            EmitReason::FirstResult,
            EmitReason::Forced,
            EmitReason::Forced,
            EmitReason::Forced
        ]
    );
}

#[tokio::test]
async fn a_provider_that_is_not_real_time_is_not_forced() {
    let tracer = ScriptedTracer::new("scripted").with_workflow(Workflow::ProviderDriven);
    let h = harness_with(tracer, Policy::default());
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    let again = h.engine.handle_event(&export(BOX)).await.unwrap();
    assert_eq!(again.published, Some(PublishOutcome::AlreadyTracked));
    assert_eq!(h.engine.run_due().await.unwrap(), 0);
    assert_eq!(h.tracer.calls(BOX), 1);
}

#[tokio::test]
async fn finished_jobs_restart_and_kinds_and_tenants_stay_apart() {
    let h = harness();
    h.tracer.push_kind(
        TraceKind::Empty,
        BOX,
        Ok(boxtrace::TraceResult::new(
            Status::Returned,
            boxtrace::testing::t0(),
        )),
    );
    let empty = event("org-a", "TRACE_EMPTY_REQUESTED", BOX, json!({}));
    h.engine.handle_event(&empty).await.unwrap();
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine
        .handle_event(&event("org-b", "TRACE_EMPTY_REQUESTED", BOX, json!({})))
        .await
        .unwrap();
    assert_eq!(h.engine.run_due().await.unwrap(), 3);
    let empty_job = h
        .engine
        .get(&key(TraceKind::Empty, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        empty_job.state,
        TrackingState::Completed,
        "RETURNED completes the empty trace"
    );
    let export_job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        export_job.state,
        TrackingState::Active,
        "the export trace of the same box goes on"
    );
    let mine = h
        .engine
        .list(&Tenant::new("org-a", "svc-1"), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(mine.jobs.len(), 2, "org-b's job is not org-a's");

    h.clock.advance(Span::days(2));
    let again = h.engine.handle_event(&empty).await.unwrap();
    assert_eq!(again.published, Some(PublishOutcome::Restarted));
    assert_eq!(
        h.engine.run_due().await.unwrap(),
        2,
        "the restarted empty (and the export, due by now)"
    );
}

#[tokio::test]
async fn not_found_is_retried_slowly_then_given_up() {
    let h = harness();
    h.tracer.push(BOX, Err(TraceError::NotFound));
    h.engine
        .handle_event(&event(
            "org-a",
            "TRACE_EXPORT_REQUESTED",
            BOX,
            json!({"bookingNumber": "TASF883714"}),
        ))
        .await
        .unwrap();
    h.engine.run_due().await.unwrap();
    for _ in 0..(24 * 9) {
        step(&h, Span::hours(1)).await;
    }
    let job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, TrackingState::Expired);
    let calls = h.tracer.calls(BOX);
    // Every 6 hours (less jitter) for 7 days.
    assert!((28..=34).contains(&calls), "{calls} traces");
    let events = drain_outbox(&h).await;
    assert_eq!(
        events,
        vec![
            (
                EmitReason::FirstResult,
                Some(Status::NotFound),
                TrackingState::Active
            ),
            (
                EmitReason::TrackingStopped,
                Some(Status::NotFound),
                TrackingState::Expired
            ),
        ]
    );
}

#[tokio::test]
async fn an_empty_not_yet_returned_is_traced_for_weeks_not_days() {
    let h = harness();
    h.tracer.push(BOX, Err(TraceError::NotFound));
    h.engine
        .handle_event(&event("org-a", "TRACE_EMPTY_REQUESTED", BOX, json!({})))
        .await
        .unwrap();
    h.engine.run_due().await.unwrap();
    let policy = boxtrace::Policy::default();
    let give_up = Span::from_std(policy.empty.not_returned_give_up).unwrap();
    let mut waited = Span::zero();
    while waited < Span::days(9) {
        step(&h, Span::hours(1)).await;
        waited += Span::hours(1);
    }
    let key = key(TraceKind::Empty, BOX);
    let job = h.engine.get(&key).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        TrackingState::Active,
        "a quarter of empties come back after more than a week"
    );
    while waited <= give_up + Span::hours(4) {
        step(&h, Span::hours(1)).await;
        waited += Span::hours(1);
    }
    let job = h.engine.get(&key).await.unwrap().unwrap();
    assert_eq!(job.state, TrackingState::Expired);
    let calls = h.tracer.calls(BOX) as i64;
    let every = Span::from_std(policy.empty.not_returned).unwrap();
    let expected = give_up.num_minutes() / every.num_minutes();
    assert!(
        (expected..=expected * 12 / 10 + 2).contains(&calls),
        "{calls} traces, about one every {every} for {give_up}"
    );
}

#[tokio::test]
async fn transient_errors_back_off_and_permanent_ones_fail_with_trace_error() {
    let h = harness();
    let retry = Duration::from_secs(1800);
    h.tracer
        .push(BOX, Err(TraceError::transient("502 from upstream")));
    h.tracer.push(
        BOX,
        Err(TraceError::RateLimited {
            retry_after: Some(retry),
        }),
    );
    h.tracer.push_status(BOX, Status::Expected);
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    let job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.consecutive_errors, 1);
    let first_delay = job.due_at.unwrap() - boxtrace::Clock::now(&h.clock);
    assert!(
        first_delay <= Span::seconds(60) && first_delay >= Span::seconds(30),
        "{first_delay}"
    );
    assert_eq!(step(&h, first_delay).await, 1);
    let job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.due_at.unwrap() - boxtrace::Clock::now(&h.clock),
        Span::seconds(1800),
        "Retry-After honoured"
    );
    assert_eq!(step(&h, Span::seconds(1800)).await, 1);
    assert!(
        drain_outbox(&h).await.len() == 1,
        "errors emit nothing; the result does"
    );

    // (A rejection of the operator's credentials suspends instead: see `breaker`.)
    let h = harness();
    h.tracer.push(
        BOX,
        Err(TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            message: "the provider does not know this terminal".into(),
        }),
    );
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    let claims = h
        .engine
        .claim_outbox(10, Duration::from_secs(10))
        .await
        .unwrap();
    let event = &claims[0].entry.event;
    assert_eq!(event.action, ResultAction::TraceError);
    assert_eq!(event.payload.tracking_state, TrackingState::Failed);
    assert_eq!(
        event.payload.error.as_ref().map(|e| e.reason.as_str()),
        Some("request_rejected")
    );
    for _ in 0..48 {
        step(&h, Span::hours(1)).await;
    }
    assert_eq!(h.tracer.calls(BOX), 1, "a failed job is not traced again");
}

#[tokio::test]
async fn shutdown_lets_a_running_trace_commit() {
    let h = harness();
    let mut results = h.engine.subscribe();
    h.tracer.pause();
    let running = h.engine.start();
    h.engine.handle_event(&export(BOX)).await.unwrap();
    while h.tracer.running() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the running trace"
    );
    h.tracer.resume();
    stopping.await.unwrap();
    let event = results.recv().await.unwrap();
    assert_eq!(event.payload.reason, EmitReason::FirstResult);
    let job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.trace_count, 1);
    assert!(job.lease.is_none());
}

/// Behind a provider held to one trace a second, a claimed batch waits for the provider's
/// limits; shutdown must not wait for them (30 s here, with a grace of 120 s) but hand the
/// waiting jobs back at once, due and unleased.
#[tokio::test]
async fn shutdown_hands_back_jobs_waiting_for_the_provider_limits() {
    let dir = tempfile::tempdir().unwrap();
    let tracer = ScriptedTracer::new("scripted").with_limits(
        boxtrace::ProviderLimits::default()
            .with_concurrency(1)
            .with_rate(Some(1), 1),
    );
    let clock = boxtrace::ManualClock::new(boxtrace::testing::t0());
    let engine = boxtrace::Engine::builder()
        .store(boxtrace::SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(boxtrace::StaticCredentials::new())
        .clock(clock.clone())
        .config(boxtrace::EngineConfig {
            shutdown_grace: Duration::from_secs(120),
            ..boxtrace::EngineConfig::default()
        })
        .build()
        .unwrap();
    let boxes: Vec<String> = (0..30)
        .map(|n| boxtrace::testing::container(n).to_string())
        .collect();
    for c in &boxes {
        engine.handle_event(&export(c)).await.unwrap();
    }
    let running = engine.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracer.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no trace started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(15), running.shutdown())
        .await
        .expect("shutdown waits for no rate-limit token");
    let traced = tracer.requests().len();
    assert!(
        traced < boxes.len(),
        "shutdown came before the limits let every job through"
    );
    let mut handed_back = 0;
    for c in &boxes {
        let job = engine
            .get(&key(TraceKind::Export, c))
            .await
            .unwrap()
            .unwrap();
        let now = boxtrace::Clock::now(&clock);
        assert!(
            job.lease.is_none_or(|lease| lease.until <= now),
            "{c} is still leased after shutdown: {:?}",
            job.lease
        );
        if job.trace_count == 0 {
            assert!(job.due_at.is_some(), "{c} was handed back due");
            handed_back += 1;
        }
    }
    assert_eq!(handed_back, boxes.len() - traced);
}

#[tokio::test]
async fn a_forced_trace_that_fails_transiently_reports_on_its_retry() {
    let h = harness();
    h.tracer.push_status(BOX, Status::Expected);
    h.tracer.push(BOX, Err(TraceError::transient("503")));
    h.tracer.push_status(BOX, Status::Expected);
    h.engine.handle_event(&export(BOX)).await.unwrap();
    h.engine.run_due().await.unwrap();
    h.engine.handle_event(&export(BOX)).await.unwrap();
    assert_eq!(
        h.engine.run_due().await.unwrap(),
        1,
        "the forced trace fails"
    );
    let job = h
        .engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert!(job.force.pending(), "the force waits for the retry");
    let retry_in = job.due_at.unwrap() - boxtrace::Clock::now(&h.clock);
    assert!(
        retry_in > Span::zero(),
        "the retry follows the backoff, not at once"
    );
    assert_eq!(step(&h, retry_in).await, 1);
    let reasons: Vec<_> = drain_outbox(&h).await.into_iter().map(|e| e.0).collect();
    assert_eq!(reasons, vec![EmitReason::FirstResult, EmitReason::Forced]);
}

#[tokio::test]
async fn slow_credentials_count_against_the_trace_timeout() {
    use async_trait::async_trait;
    use boxtrace::{Credentials, CredentialsError, ProviderCredentials, ProviderLimits, Tenant};

    #[derive(Debug)]
    struct SlowVault;
    #[async_trait]
    impl Credentials for SlowVault {
        async fn credentials(
            &self,
            _: &str,
            _: &Tenant,
        ) -> Result<ProviderCredentials, CredentialsError> {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(ProviderCredentials::new())
        }
    }
    let tracer = ScriptedTracer::new("scripted")
        .with_limits(ProviderLimits::default().with_trace_timeout(Duration::from_millis(50)));
    let dir = tempfile::tempdir().unwrap();
    let clock = boxtrace::ManualClock::new(boxtrace::testing::t0());
    let engine = boxtrace::Engine::builder()
        .store(boxtrace::SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(SlowVault)
        .clock(clock)
        .build()
        .unwrap();
    engine.handle_event(&export(BOX)).await.unwrap();
    engine.run_due().await.unwrap();
    let job = engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    let error = job.last_error.expect("the trace timed out");
    assert_eq!(error.class, "transient");
    assert!(
        error.message.contains("did not answer"),
        "{}",
        error.message
    );
    assert_eq!(tracer.total_calls(), 0, "the provider was never called");
}

#[tokio::test]
async fn leases_outlast_traces_under_a_fast_clock() {
    use async_trait::async_trait;
    use boxtrace::{DataError, ProviderCredentials, TraceRequest, TraceResult, Tracer};

    /// A provider that takes 40 ms of wall time per trace.
    #[derive(Debug, Clone, Default)]
    struct Slow(std::sync::Arc<std::sync::atomic::AtomicU32>);
    #[async_trait]
    impl Tracer for Slow {
        fn id(&self) -> &str {
            "scripted"
        }
        fn validate(
            &self,
            _: TraceKind,
            _: &serde_json::Map<String, serde_json::Value>,
        ) -> Result<(), DataError> {
            Ok(())
        }
        async fn trace(
            &self,
            _: &TraceRequest,
            _: &ProviderCredentials,
        ) -> Result<TraceResult, TraceError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(TraceResult::new(Status::GatedIn, boxtrace::testing::t0()))
        }
    }
    let slow = Slow::default();
    let dir = tempfile::tempdir().unwrap();
    // An hour of clock time per wall second: a 60 s lease is 17 ms of wall time.
    let clock = boxtrace::AcceleratedClock::new(boxtrace::testing::t0(), 3600.0);
    let engine = boxtrace::Engine::builder()
        .store(boxtrace::SledStore::open_path(dir.path()).unwrap())
        .provider(slow.clone())
        .credentials(boxtrace::StaticCredentials::new())
        .clock(clock)
        .build()
        .unwrap();
    engine.handle_event(&export(BOX)).await.unwrap();
    let running = engine.start();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.shutdown().await;
    let job = engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    let calls = slow.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!(calls >= 1);
    assert_eq!(
        u64::from(calls),
        job.trace_count,
        "every provider call committed; none was fenced by a lapsed lease"
    );
}

#[tokio::test]
async fn bad_dispatcher_settings_are_refused_and_huge_leases_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let build = |config: boxtrace::EngineConfig| {
        boxtrace::Engine::builder()
            .store(
                boxtrace::SledStore::open_path(dir.path().join(format!("{}", config.claim_batch)))
                    .unwrap(),
            )
            .provider(ScriptedTracer::new("scripted"))
            .config(config)
            .build()
    };
    let zero = boxtrace::EngineConfig {
        claim_batch: 0,
        ..boxtrace::EngineConfig::default()
    };
    assert!(matches!(build(zero), Err(boxtrace::Error::Config(_))));
    let engine = build(boxtrace::EngineConfig::default()).unwrap();
    assert!(engine
        .claim_outbox(10, Duration::MAX)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_lease_shorter_than_a_trace_is_raised_to_the_trace_timeout_plus_5_s() {
    // BOXTRACE_LEASE_SECS=10 with a provider whose traces may take 10 s: the README
    // promises a lease of the longest trace timeout plus 5 s, not a refusal to start.
    let tracer = ScriptedTracer::new("scripted").with_limits(
        boxtrace::ProviderLimits::default().with_trace_timeout(Duration::from_secs(10)),
    );
    let dir = tempfile::tempdir().unwrap();
    let clock = boxtrace::ManualClock::new(boxtrace::testing::t0());
    let engine = boxtrace::Engine::builder()
        .store(boxtrace::SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(boxtrace::StaticCredentials::new())
        .clock(clock.clone())
        .config(boxtrace::EngineConfig {
            lease: Duration::from_secs(10),
            ..boxtrace::EngineConfig::default()
        })
        .build()
        .expect("a short lease is raised, not refused");
    engine.handle_event(&export(BOX)).await.unwrap();
    tracer.pause();
    let running = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run_due().await })
    };
    while tracer.running() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let job = engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    let lease = job.lease.expect("leased while traced");
    assert_eq!(lease.until, boxtrace::testing::t0() + Span::seconds(15));
    tracer.resume();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_provider_that_does_not_answer_in_time_is_counted_as_a_timeout_not_transient() {
    let tracer = ScriptedTracer::new("scripted").with_limits(
        boxtrace::ProviderLimits::default().with_trace_timeout(Duration::from_millis(50)),
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = boxtrace::Engine::builder()
        .store(boxtrace::SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(boxtrace::StaticCredentials::new())
        .clock(boxtrace::ManualClock::new(boxtrace::testing::t0()))
        .build()
        .unwrap();
    engine.handle_event(&export(BOX)).await.unwrap();
    // A paused tracer never answers: the engine's trace timeout ends the trace.
    tracer.pause();
    engine.run_due().await.unwrap();
    tracer.resume();
    let job = engine
        .get(&key(TraceKind::Export, BOX))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.last_error.expect("the trace failed").class, "timeout");
    let mut metrics = String::new();
    engine.metrics().render_prometheus(&mut metrics);
    assert!(
        metrics.contains(r#"boxtrace_traces_total{provider="scripted",outcome="timeout"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"outcome="transient""#), "{metrics}");
}
