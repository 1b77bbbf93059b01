//! Faults and latency through `Tracer::trace`: rates, kinds, retry hints, determinism.

use std::time::Duration as StdDuration;

use boxtrace::{ProviderCredentials, TraceError, TraceKind, TraceResult, Tracer};
use boxtrace_sim::{FaultConfig, SimConfig, SimTracer};
use chrono::Duration;

use crate::support::{export_data, request, sim_with};

const TRACES: usize = 2_000;

/// How one trace ended: an answer, an error, or no answer within an hour.
type Outcome = Option<Result<TraceResult, TraceError>>;

/// Traces one box `TRACES` times, a second of clock time apart.
async fn run(faults: FaultConfig) -> Vec<Outcome> {
    let (sim, clock) = sim_with(SimConfig {
        seed: 99,
        faults,
        ..SimConfig::default()
    });
    let request = request(TraceKind::Export, "CSQU3054383", export_data(None));
    let mut outcomes = Vec::with_capacity(TRACES);
    for _ in 0..TRACES {
        outcomes.push(trace(&sim, &request).await);
        clock.advance(Duration::seconds(1));
    }
    outcomes
}

async fn trace(sim: &SimTracer, request: &boxtrace::TraceRequest) -> Outcome {
    let credentials = ProviderCredentials::new();
    tokio::time::timeout(
        StdDuration::from_secs(3600),
        sim.trace(request, &credentials),
    )
    .await
    .ok()
}

fn assert_about_30_percent(count: usize, what: &str) {
    assert!(
        (TRACES / 5..TRACES * 2 / 5).contains(&count),
        "{count} of {TRACES} traces were {what}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_faults_by_default() {
    let outcomes = run(FaultConfig::default()).await;
    assert!(outcomes.iter().all(|o| matches!(o, Some(Ok(_)))));
}

#[tokio::test(start_paused = true)]
async fn transient_faults_strike_at_their_rate() {
    let outcomes = run(FaultConfig {
        transient: 0.3,
        ..FaultConfig::default()
    })
    .await;
    let transient = outcomes
        .iter()
        .filter(|o| matches!(o, Some(Err(TraceError::Transient { .. }))))
        .count();
    assert_about_30_percent(transient, "transient errors");
    let ok = outcomes.iter().filter(|o| matches!(o, Some(Ok(_)))).count();
    assert_eq!(ok + transient, TRACES, "no other kind of failure");
}

#[tokio::test(start_paused = true)]
async fn rate_limits_carry_the_configured_retry_after() {
    let outcomes = run(FaultConfig {
        rate_limited: 0.3,
        retry_after: StdDuration::from_secs(90),
        ..FaultConfig::default()
    })
    .await;
    let limited: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Some(Err(e @ TraceError::RateLimited { .. })) => Some(e),
            _ => None,
        })
        .collect();
    assert_about_30_percent(limited.len(), "rate limited");
    assert!(limited
        .iter()
        .all(|e| e.retry_after() == Some(StdDuration::from_secs(90))));
}

#[tokio::test(start_paused = true)]
async fn timeouts_never_answer() {
    let outcomes = run(FaultConfig {
        timeout: 0.3,
        ..FaultConfig::default()
    })
    .await;
    let hung = outcomes.iter().filter(|o| o.is_none()).count();
    assert_about_30_percent(hung, "left unanswered");
    assert!(outcomes.iter().flatten().all(Result::is_ok));
}

#[tokio::test(start_paused = true)]
async fn the_same_clock_fails_the_same_traces() {
    let faults = FaultConfig {
        transient: 0.2,
        rate_limited: 0.1,
        ..FaultConfig::default()
    };
    let first = run(faults.clone()).await;
    let second = run(faults).await;
    assert_eq!(first, second);
}

#[tokio::test(start_paused = true)]
async fn latency_is_real_time_and_leaves_the_clock_alone() {
    let (sim, clock) = sim_with(SimConfig {
        latency: StdDuration::from_millis(250),
        ..SimConfig::default()
    });
    let request = request(TraceKind::Export, "CSQU3054383", export_data(None));
    let started = tokio::time::Instant::now();
    let before = clock_now(&clock);
    let answer = trace(&sim, &request).await;
    assert!(matches!(answer, Some(Ok(_))));
    assert!(started.elapsed() >= StdDuration::from_millis(250));
    assert_eq!(clock_now(&clock), before);
}

fn clock_now(clock: &boxtrace::ManualClock) -> chrono::DateTime<chrono::Utc> {
    boxtrace::Clock::now(clock)
}
