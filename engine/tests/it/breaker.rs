//! Provider health: after failed requests in a row, or at once when the provider rejects
//! the operator's credentials, the circuit opens and no request goes until the cool-off
//! ends; then exactly one probe goes, and its success closes the circuit. Jobs wait
//! meanwhile without failing, and a rejection tells each job's client once.

use std::time::Duration;

use boxtrace::testing::ScriptedTracer;
use boxtrace::{
    BreakerConfig, CircuitState, Clock, EmitReason, Job, JobKey, PermanentReason, Policy,
    ProviderHealthStatus, ProviderLimits, ResultAction, ResultEvent, Status, Tenant, TraceError,
    TraceKind, TraceResult, TrackingState,
};
use chrono::Duration as Span;

use crate::support::{engine_on, export, harness_with, Harness};

const COOL_OFF: Duration = Duration::from_secs(120);

fn breaker_harness() -> Harness {
    let tracer = ScriptedTracer::new("scripted").with_limits(
        ProviderLimits::default()
            .with_concurrency(256)
            .with_rate(None, 1)
            .with_trace_timeout(Duration::from_secs(10))
            .with_breaker(
                BreakerConfig::default()
                    .with_failures(3)
                    .with_cool_off(COOL_OFF, Duration::from_secs(600)),
            ),
    );
    harness_with(tracer, Policy::default())
}

fn boxes(range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|n| boxtrace::testing::container(n).to_string())
        .collect()
}

async fn publish(h: &Harness, containers: &[String]) {
    for c in containers {
        h.engine.handle_event(&export(c)).await.unwrap();
    }
}

async fn job(h: &Harness, container: &str) -> Job {
    let key = JobKey {
        tenant: Tenant::new("org-a", "svc-1"),
        kind: TraceKind::Export,
        provider_id: "scripted".into(),
        container: container.into(),
    };
    h.engine.get(&key).await.unwrap().unwrap()
}

fn health(h: &Harness) -> ProviderHealthStatus {
    h.engine.provider_health().remove(0)
}

fn requests(h: &Harness) -> usize {
    h.tracer.requests().len()
}

/// Every outbox event so far, oldest first, acknowledged.
async fn drain(h: &Harness) -> Vec<ResultEvent> {
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
            h.engine.ack_outbox(c.entry.seq, c.token).await.unwrap();
            seen.push(c.entry.event);
        }
    }
}

fn down() -> Result<TraceResult, TraceError> {
    Err(TraceError::transient("503 from the gateway"))
}

fn up() -> Result<TraceResult, TraceError> {
    Ok(TraceResult::new(Status::GatedIn, boxtrace::testing::t0()))
}

fn rejected() -> Result<TraceResult, TraceError> {
    Err(TraceError::Permanent {
        reason: PermanentReason::CredentialsRejected,
        message: "401 Unauthorized".into(),
    })
}

/// Runs what is due in a task while the scripted provider holds every call, until one
/// call is in flight and `deferred` jobs were held back; then lets it answer.
async fn with_probe_in_flight(h: &Harness, deferred: u64) -> usize {
    h.tracer.pause();
    let engine = h.engine.clone();
    let round = tokio::spawn(async move { engine.run_due().await.unwrap() });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.tracer.running() == 0 || h.engine.metrics().deferred_total() < deferred {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected one call in flight and {deferred} jobs held back; got {} calls in flight, {} held back",
            h.tracer.running(),
            h.engine.metrics().deferred_total()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_flight = requests(h);
    h.tracer.resume();
    round.await.unwrap();
    in_flight
}

#[tokio::test]
async fn failures_open_the_circuit_then_one_probe_closes_it() {
    let h = breaker_harness();
    h.tracer.set_default(down());
    let first = boxes(0..3);
    publish(&h, &first).await;
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), 3);
    let opened = health(&h);
    assert_eq!(opened.circuit, CircuitState::Open);
    assert_eq!(opened.cause.as_deref(), Some("failures"));
    let now = h.clock.now();
    let retry_at = now + Span::from_std(COOL_OFF).unwrap();
    assert_eq!(opened.retry_at, Some(retry_at));

    // Open: nothing reaches the provider, and jobs wait without failing.
    let later = boxes(3..7);
    publish(&h, &later).await;
    h.engine.run_due().await.unwrap();
    h.clock.advance(Span::seconds(61)); // past the first jobs' retry backoff
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), 3, "no request while open");
    assert_eq!(h.engine.metrics().deferred_total(), 7);
    for c in later.iter() {
        let job = job(&h, c).await;
        assert_eq!(job.state, TrackingState::Active);
        assert_eq!((job.trace_count, job.consecutive_errors), (0, 0), "{c}");
        assert_eq!(job.due_at, Some(retry_at), "{c} waits for the probe");
    }
    for c in first.iter() {
        let job = job(&h, c).await;
        assert_eq!(job.consecutive_errors, 1, "only its own failure counts");
        assert_eq!(job.due_at, Some(retry_at));
    }
    assert!(drain(&h).await.is_empty(), "waiting is not an error");

    // Half-open, provider still down: exactly one probe, which opens it for longer.
    h.clock.set(retry_at);
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), 4, "exactly one probe");
    let reopened = health(&h);
    assert_eq!(reopened.circuit, CircuitState::Open);
    let retry_at = h.clock.now() + Span::from_std(COOL_OFF * 2).unwrap();
    assert_eq!(reopened.retry_at, Some(retry_at), "the cool-off doubled");
    // The jobs that waited for the probe's outcome now wait for the next probe.
    h.clock.advance(Span::seconds(15));
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), 4);

    // Half-open, provider back: one probe goes while the others wait for its outcome,
    // which closes the circuit; then everything is traced as usual.
    h.tracer.set_default(up());
    h.clock.set(retry_at);
    let deferred = h.engine.metrics().deferred_total();
    let in_flight = with_probe_in_flight(&h, deferred + 6).await;
    assert_eq!(in_flight, 5, "one probe, the six others held back");
    assert_eq!(health(&h).circuit, CircuitState::Closed);
    h.clock.advance(Span::seconds(15));
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), 11);
    for c in first.iter().chain(&later) {
        let job = job(&h, c).await;
        assert!(job.trace_count > 0 && job.last_error.is_none(), "{c}");
    }
    let events = drain(&h).await;
    assert_eq!(events.len(), 7);
    assert!(events
        .iter()
        .all(|e| e.payload.reason == EmitReason::FirstResult));

    let mut metrics = String::new();
    h.engine.metrics().render_prometheus(&mut metrics);
    for line in [
        "boxtrace_provider_circuit_state{provider=\"scripted\"} 0",
        "boxtrace_provider_circuit_transitions_total{provider=\"scripted\",to=\"open\"} 2",
        "boxtrace_provider_circuit_transitions_total{provider=\"scripted\",to=\"half_open\"} 2",
        "boxtrace_provider_circuit_transitions_total{provider=\"scripted\",to=\"closed\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_credential_rejection_suspends_every_job_with_one_trace_error_each() {
    let h = breaker_harness();
    h.tracer.set_default(rejected());
    let first = boxes(0..3);
    publish(&h, &first).await;
    h.engine.run_due().await.unwrap();
    let status = health(&h);
    assert_eq!(status.circuit, CircuitState::Open);
    assert_eq!(status.cause.as_deref(), Some("credentials_rejected"));
    let sent = requests(&h);
    assert!(
        (1..=3).contains(&sent),
        "the first rejection opens it: {sent}"
    );

    // A job published while suspended is told too, without a request.
    let late = boxes(3..4);
    publish(&h, &late).await;
    h.engine.run_due().await.unwrap();
    assert_eq!(requests(&h), sent);

    let events = drain(&h).await;
    assert_eq!(events.len(), 4, "one TRACE_ERROR per job");
    for e in &events {
        assert_eq!(e.action, ResultAction::TraceError);
        assert_eq!(e.payload.reason, EmitReason::Suspended);
        assert_eq!(e.payload.tracking_state, TrackingState::Active);
        assert_eq!(e.payload.next_trace_at, status.retry_at);
        let error = e.payload.error.as_ref().unwrap();
        assert_eq!(error.reason, "credentials_rejected");
        assert!(
            error
                .message
                .contains("rejected the operator's credentials")
                && error.message.contains("resumes by itself"),
            "{}",
            error.message
        );
    }
    for c in first.iter().chain(&late) {
        let job = job(&h, c).await;
        assert_eq!(
            (job.state, job.consecutive_errors),
            (TrackingState::Active, 0)
        );
    }

    // Every cool-off: one probe, rejected again, and nobody is told twice.
    for round in 1..=3 {
        let retry_at = health(&h).retry_at.unwrap();
        h.clock.set(retry_at);
        h.engine.run_due().await.unwrap();
        h.clock.advance(Span::seconds(15));
        h.engine.run_due().await.unwrap();
        assert_eq!(requests(&h), sent + round, "one probe per cool-off");
        assert!(drain(&h).await.is_empty(), "told once per suspension");
    }

    // The credentials are fixed: the next probe succeeds, tracing resumes by itself, and
    // each client hears the result.
    h.tracer.set_default(up());
    h.clock.set(health(&h).retry_at.unwrap());
    h.engine.run_due().await.unwrap();
    h.clock.advance(Span::seconds(15));
    h.engine.run_due().await.unwrap();
    assert_eq!(health(&h).circuit, CircuitState::Closed);
    let events = drain(&h).await;
    assert_eq!(events.len(), 4);
    assert!(events
        .iter()
        .all(|e| e.action == ResultAction::TraceResult && e.payload.error.is_none()));
}

#[tokio::test]
async fn a_suspended_job_that_had_results_hears_when_tracing_resumes() {
    let h = breaker_harness();
    let c = &boxes(0..1)[0];
    publish(&h, std::slice::from_ref(c)).await;
    h.engine.run_due().await.unwrap();
    assert_eq!(drain(&h).await.len(), 1, "first result");

    h.tracer.set_default(rejected());
    h.clock.set(job(&h, c).await.due_at.unwrap());
    h.engine.run_due().await.unwrap();
    let told = drain(&h).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].payload.reason, EmitReason::Suspended);
    assert_eq!(
        told[0].payload.status,
        Some(Status::GatedIn),
        "last result kept"
    );

    h.tracer.set_default(up());
    h.clock.set(health(&h).retry_at.unwrap());
    h.engine.run_due().await.unwrap();
    let resumed = drain(&h).await;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].payload.reason, EmitReason::Resumed);
    assert_eq!(resumed[0].action, ResultAction::TraceResult);
}

#[tokio::test]
async fn a_restart_closes_the_circuit_and_suspended_jobs_resume() {
    let h = breaker_harness();
    h.tracer.set_default(rejected());
    let all = boxes(0..3);
    publish(&h, &all).await;
    h.engine.run_due().await.unwrap();
    let retry_at = health(&h).retry_at.unwrap();
    assert_eq!(drain(&h).await.len(), 3);

    // The operator fixes the credentials and restarts: the new engine starts closed, and
    // the suspended jobs come due when the probe would have gone.
    let Harness {
        engine,
        tracer,
        clock,
        _dir: dir,
    } = h;
    drop(engine);
    tracer.set_default(up());
    let engine = engine_on(&dir, &tracer, &clock, Policy::default());
    assert_eq!(engine.provider_health()[0].circuit, CircuitState::Closed);
    assert_eq!(engine.run_due().await.unwrap(), 0, "still waiting");
    clock.set(retry_at);
    assert_eq!(engine.run_due().await.unwrap(), 3);
    for c in &all {
        assert!(tracer.calls(c) >= 1);
    }
    let claims = engine
        .claim_outbox(100, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claims.len(), 3);
    assert!(claims
        .iter()
        .all(|c| c.entry.event.action == ResultAction::TraceResult));
}
