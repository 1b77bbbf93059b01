//! Many boxes per request: due jobs grouped by provider and batch key, requests filled
//! with jobs due within the window, equal questions shared across tenants (never across
//! credentials), one outcome per box, limits counted in requests, and cohort news.

use std::time::Duration;

use async_trait::async_trait;
use boxtrace::testing::{t0, ScriptedTracer};
use boxtrace::{
    Credentials, CredentialsError, Engine, EngineConfig, JobKey, Location, ManualClock, Policy,
    ProviderCredentials, ProviderLimits, SledStore, StaticCredentials, Status, Tenant, TraceError,
    TraceKind, TraceResult, VesselVisit, VisitPhase,
};
use chrono::Duration as Span;
use serde_json::json;
use tempfile::TempDir;

use crate::support::event;

struct Batching {
    engine: Engine,
    tracer: ScriptedTracer,
    clock: ManualClock,
    _dir: TempDir,
}

fn batching(size: usize, window: Duration, policy: Policy) -> Batching {
    batching_with(size, window, policy, StaticCredentials::new())
}

fn batching_with(
    size: usize,
    window: Duration,
    policy: Policy,
    credentials: impl Credentials,
) -> Batching {
    let tracer = ScriptedTracer::new("scripted")
        .batching_by("locationCode")
        .with_limits(
            ProviderLimits::default()
                .with_concurrency(64)
                .with_rate(None, 1)
                .with_trace_timeout(Duration::from_secs(10))
                .with_batch(size, window),
        );
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let engine = Engine::builder()
        .store(SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(credentials)
        .clock(clock.clone())
        .policy(policy)
        .config(EngineConfig {
            lease: Duration::from_secs(60),
            ..EngineConfig::default()
        })
        .seed(7)
        .build()
        .unwrap();
    Batching {
        engine,
        tracer,
        clock,
        _dir: dir,
    }
}

fn boxes(n: u32) -> Vec<String> {
    (100..100 + n)
        .map(|i| boxtrace::testing::container(i).to_string())
        .collect()
}

async fn publish(b: &Batching, org: &str, container: &str, terminal: &str, booking: &str) {
    b.engine
        .handle_event(&event(
            org,
            "TRACE_EXPORT_REQUESTED",
            container,
            json!({ "bookingNumber": booking, "locationCode": terminal }),
        ))
        .await
        .unwrap();
}

fn key(org: &str, container: &str) -> JobKey {
    JobKey {
        tenant: Tenant::new(org, "svc-1"),
        kind: TraceKind::Export,
        provider_id: "scripted".into(),
        container: container.into(),
    }
}

fn sorted(mut requests: Vec<Vec<String>>) -> Vec<Vec<String>> {
    for r in &mut requests {
        r.sort();
    }
    requests.sort();
    requests
}

#[tokio::test]
async fn due_boxes_of_one_terminal_share_requests_and_each_is_traced_once() {
    let b = batching(3, Duration::ZERO, Policy::fixed(Duration::from_secs(7200)));
    let all = boxes(9);
    for (i, c) in all.iter().enumerate() {
        let terminal = if i < 7 { "MICT" } else { "SBITC" };
        publish(&b, "org-a", c, terminal, "BKG1").await;
    }
    assert_eq!(b.engine.run_due().await.unwrap(), 9);
    let mut sizes: Vec<usize> = b.tracer.requests().iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 3, 3], "MICT in 3 + 3 + 1, SBITC in 2");
    for c in &all {
        assert_eq!(b.tracer.calls(c), 1, "{c} traced once");
        let history = b.engine.history(&key("org-a", c), 10).await.unwrap();
        assert_eq!(history.len(), 1, "{c} has its own first result");
    }
    assert_eq!(b.engine.metrics().requests_total(), 4);
    assert_eq!(b.engine.metrics().traces_total(), 9);
}

#[tokio::test]
async fn a_request_with_room_takes_the_boxes_due_soonest_within_the_window() {
    let b = batching(
        10,
        Duration::from_secs(15 * 60),
        Policy::fixed(Duration::from_secs(7200)),
    );
    let [a, x, y, late] = <[String; 4]>::try_from(boxes(4)).unwrap();
    for c in [&a, &x, &y] {
        publish(&b, "org-a", c, "MICT", "BKG1").await;
    }
    b.engine.run_due().await.unwrap();
    b.clock.advance(Span::minutes(30));
    publish(&b, "org-a", &late, "MICT", "BKG1").await;
    b.engine.run_due().await.unwrap();
    // x and y are due at 2 h, late at 2 h 30: force a ten minutes early.
    b.clock.set(t0() + Span::minutes(110));
    publish(&b, "org-a", &a, "MICT", "BKG1").await;
    let before = b.tracer.requests().len();
    let traced = b.engine.run_due().await.unwrap();
    assert_eq!(traced, 3, "{:?} {a} {x} {y} {late}", b.tracer.requests());
    let request = &sorted(b.tracer.requests()[before..].to_vec())[0];
    let mut expected = vec![a.clone(), x.clone(), y.clone()];
    expected.sort();
    assert_eq!(
        request, &expected,
        "x and y ride along, late is beyond the window"
    );
    for c in [&x, &y] {
        let job = b.engine.get(&key("org-a", c)).await.unwrap().unwrap();
        assert_eq!(
            job.last_traced_at,
            Some(t0() + Span::minutes(110)),
            "traced early"
        );
    }
    let waiting = b.engine.get(&key("org-a", &late)).await.unwrap().unwrap();
    assert_eq!(
        waiting.due_at,
        Some(t0() + Span::minutes(150)),
        "handed back at its own time"
    );
    b.clock.set(t0() + Span::minutes(150));
    assert_eq!(
        b.engine.run_due().await.unwrap(),
        1,
        "never later than its due time"
    );
}

#[tokio::test]
async fn the_same_question_from_two_tenants_is_one_lookup_with_a_result_each() {
    let b = batching(10, Duration::ZERO, Policy::default());
    let [shared, own] = <[String; 2]>::try_from(boxes(2)).unwrap();
    publish(&b, "org-a", &shared, "MICT", "BKG1").await;
    publish(&b, "org-b", &shared, "MICT", "BKG1").await;
    // The same box under two bookings is two questions: never one tenant's answer for the
    // other's booking.
    publish(&b, "org-a", &own, "MICT", "BKG1").await;
    publish(&b, "org-b", &own, "MICT", "OTHER9").await;
    assert_eq!(b.engine.run_due().await.unwrap(), 4);
    let requests = b.tracer.requests();
    assert_eq!(requests.len(), 1);
    let mut asked = requests[0].clone();
    asked.sort();
    let mut expected = vec![shared.clone(), own.clone(), own.clone()];
    expected.sort();
    assert_eq!(asked, expected, "the shared question is asked once");
    for org in ["org-a", "org-b"] {
        for c in [&shared, &own] {
            let history = b.engine.history(&key(org, c), 10).await.unwrap();
            assert_eq!(history.len(), 1, "{org} hears about {c} itself");
            assert_eq!(history[0].org_id, org);
        }
    }
}

/// Credentials that differ by organization.
#[derive(Debug)]
struct PerOrg;

#[async_trait]
impl Credentials for PerOrg {
    async fn credentials(
        &self,
        _provider: &str,
        tenant: &Tenant,
    ) -> Result<ProviderCredentials, CredentialsError> {
        Ok(ProviderCredentials::new().with("apiKey", format!("key-of-{}", tenant.org_id)))
    }
}

#[tokio::test]
async fn tenants_under_different_credentials_never_share_a_call() {
    let b = batching_with(10, Duration::ZERO, Policy::default(), PerOrg);
    let [shared] = <[String; 1]>::try_from(boxes(1)).unwrap();
    publish(&b, "org-a", &shared, "MICT", "BKG1").await;
    publish(&b, "org-b", &shared, "MICT", "BKG1").await;
    assert_eq!(b.engine.run_due().await.unwrap(), 2);
    assert_eq!(
        b.tracer.requests().len(),
        2,
        "one call per set of credentials"
    );
    assert_eq!(b.engine.metrics().requests_total(), 2);
}

#[tokio::test]
async fn one_failing_box_never_fails_the_others_of_its_request() {
    let b = batching(10, Duration::ZERO, Policy::default());
    let [fine, unknown, refused] = <[String; 3]>::try_from(boxes(3)).unwrap();
    b.tracer.push(&unknown, Err(TraceError::NotFound));
    b.tracer.push(
        &refused,
        Err(TraceError::Permanent {
            reason: boxtrace::PermanentReason::RequestRejected,
            message: "no such booking".into(),
        }),
    );
    for c in [&fine, &unknown, &refused] {
        publish(&b, "org-a", c, "MICT", "BKG1").await;
    }
    b.engine.run_due().await.unwrap();
    assert_eq!(b.tracer.requests().len(), 1);
    let status = |c: &str| {
        let engine = b.engine.clone();
        let k = key("org-a", c);
        async move {
            let job = engine.get(&k).await.unwrap().unwrap();
            (job.state, job.last_result.map(|r| r.status))
        }
    };
    assert_eq!(status(&fine).await.1, Some(Status::GatedIn));
    assert_eq!(status(&unknown).await.1, Some(Status::NotFound));
    assert_eq!(status(&refused).await.0, boxtrace::TrackingState::Failed);
}

#[tokio::test]
async fn limits_count_requests_not_boxes() {
    // One request at a time, one a second: forty boxes of one terminal still trace
    // together.
    let tracer = ScriptedTracer::new("scripted")
        .batching_by("locationCode")
        .with_limits(
            ProviderLimits::default()
                .with_concurrency(1)
                .with_rate(Some(1), 1)
                .with_trace_timeout(Duration::from_secs(10))
                .with_batch(50, Duration::ZERO),
        );
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let engine = Engine::builder()
        .store(SledStore::open_path(dir.path()).unwrap())
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .seed(7)
        .build()
        .unwrap();
    let b = Batching {
        engine,
        tracer,
        clock,
        _dir: dir,
    };
    b.tracer.pause();
    for c in boxes(40) {
        publish(&b, "org-a", &c, "MICT", "BKG1").await;
    }
    let running = b.engine.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.tracer.running() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 40 boxes in flight under a concurrency of one request",
            b.tracer.running()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.tracer.resume();
    running.shutdown().await;
    assert_eq!(b.tracer.requests().len(), 1, "{:?}", b.tracer.requests());
}

#[tokio::test]
async fn the_running_dispatcher_claims_ahead_yet_traces_each_job_once() {
    let b = batching(
        20,
        Duration::from_secs(15 * 60),
        Policy::fixed(Duration::from_secs(3600)),
    );
    let all = boxes(30);
    let running = b.engine.start();
    for c in &all {
        publish(&b, "org-a", c, "MICT", "BKG1").await;
    }
    let wait_for = |total: u64| {
        let tracer = b.tracer.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tracer.total_calls() < total {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} of {total} traces",
                    tracer.total_calls()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(30).await;
    // Give a re-claiming dispatcher the time to trace again: it must not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.tracer.total_calls(),
        30,
        "each job once, however far ahead claims reach"
    );
    b.clock.advance(Span::minutes(60));
    wait_for(60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.tracer.total_calls(), 60);
    assert_eq!(b.tracer.max_overlap(), 1);
    running.shutdown().await;
}

fn on_visit(phase: VisitPhase) -> Result<TraceResult, TraceError> {
    let mut result = TraceResult::new(Status::GatedIn, t0());
    let mut visit = VesselVisit::new("V1");
    visit.phase = Some(phase);
    result.visit = Some(visit);
    result.location = Some(Location {
        facility_code: Some("MICT".into()),
        ..Location::default()
    });
    Ok(result)
}

#[tokio::test]
async fn news_about_a_visit_brings_its_other_boxes_forward() {
    let b = batching(
        10,
        Duration::ZERO,
        // Fixed polling consults no cohort: turn it on to see only the cohort at work.
        Policy {
            cohort: boxtrace::CohortPolicy::default(),
            ..Policy::fixed(Duration::from_secs(4 * 3600))
        },
    );
    let [first, sibling, elsewhere] = <[String; 3]>::try_from(boxes(3)).unwrap();
    b.tracer.push(&first, on_visit(VisitPhase::Inbound));
    b.tracer.push(&first, on_visit(VisitPhase::Working));
    b.tracer.push(&sibling, on_visit(VisitPhase::Inbound));
    b.tracer
        .push(&elsewhere, Ok(TraceResult::new(Status::GatedIn, t0())));
    for c in [&first, &sibling] {
        publish(&b, "org-a", c, "MICT", "BKG1").await;
    }
    publish(&b, "org-a", &elsewhere, "SBITC", "BKG2").await;
    b.engine.run_due().await.unwrap();
    let due = |c: &str| {
        let engine = b.engine.clone();
        let k = key("org-a", c);
        async move { engine.get(&k).await.unwrap().unwrap().due_at.unwrap() }
    };
    assert_eq!(due(&sibling).await, t0() + Span::hours(4));
    // An hour on, the client forces the first box: it reveals that the vessel works.
    b.clock.set(t0() + Span::hours(1));
    publish(&b, "org-a", &first, "MICT", "BKG1").await;
    b.engine.run_due().await.unwrap();
    assert_eq!(
        due(&sibling).await,
        t0() + Span::hours(1) + Span::seconds(60),
        "the sibling comes due a minute after the news"
    );
    assert_eq!(
        due(&elsewhere).await,
        t0() + Span::hours(4),
        "another visit keeps its schedule"
    );
    let mut metrics = String::new();
    b.engine.metrics().render_prometheus(&mut metrics);
    assert!(
        metrics.contains("boxtrace_cohort_expedited_total{provider=\"scripted\"} 1"),
        "{metrics}"
    );
}
