//! The load generator: many concurrent HTTP/1.1 clients posting events on loopback as
//! fast as they are answered, or at a fixed rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::export_event;
use crate::stats::Samples;

/// What a load run saw inside its measured window.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Requests answered 202 in the window.
    pub accepted: u64,
    /// Requests answered otherwise, or failed, in the window.
    pub failed: u64,
    /// The window's length.
    pub elapsed: Duration,
    /// Latency of accepted requests in the window.
    pub latency: Samples,
    /// The first failure, to say why.
    pub first_failure: Option<String>,
}

impl LoadOutcome {
    /// Accepted requests per second.
    pub fn per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }
}

/// Where to post and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:port/api/events`.
    pub url: String,
    /// A bearer token, if the server wants one.
    pub token: Option<String>,
    /// Events are for containers `first_container..`, one new container per request.
    pub first_container: u64,
}

/// `connections` clients post events back to back for `warmup + window`; only the window
/// is counted. Each client keeps one connection.
pub async fn closed_loop(
    target: &Target,
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<LoadOutcome> {
    let next = Arc::new(AtomicU64::new(target.first_container));
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop = measure_from + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let client = one_connection()?;
        let target = target.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut outcome = LoadOutcome::default();
            loop {
                let sent = Instant::now();
                if sent >= stop {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                let status = post(&client, &target, n).await;
                let done = Instant::now();
                if sent < measure_from || done > stop {
                    continue;
                }
                match status {
                    Ok(202) => {
                        outcome.accepted += 1;
                        outcome.latency.push(done - sent);
                    }
                    other => {
                        outcome.failed += 1;
                        if outcome.first_failure.is_none() {
                            outcome.first_failure = Some(format!("{other:?}"));
                        }
                    }
                }
            }
            outcome
        });
    }
    let mut total = LoadOutcome {
        elapsed: window,
        ..LoadOutcome::default()
    };
    while let Some(done) = tasks.join_next().await {
        let one = done?;
        total.accepted += one.accepted;
        total.failed += one.failed;
        total.latency.extend(one.latency);
        if total.first_failure.is_none() {
            total.first_failure = one.first_failure;
        }
    }
    Ok(total)
}

/// Posts `count` events at `per_second`, each on its own task (an open loop: a slow
/// server does not slow the offered load). Returns the number answered 202.
pub async fn open_loop(target: &Target, per_second: f64, count: u64) -> anyhow::Result<u64> {
    let client = reqwest::Client::builder().http1_only().build()?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(1.0)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        tick.tick().await;
        let client = client.clone();
        let target = target.clone();
        tasks.spawn(async move { post(&client, &target, target.first_container + i).await });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        if matches!(done?, Ok(202)) {
            accepted += 1;
        }
    }
    Ok(accepted)
}

/// A client that keeps one HTTP/1.1 connection: one simulated client of the load.
fn one_connection() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .build()
}

async fn post(client: &reqwest::Client, target: &Target, n: u64) -> Result<u16, String> {
    let mut request = client
        .post(&target.url)
        .header("content-type", "application/json")
        .body(export_event(n));
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection is reused.
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Posts events for containers `first_container..first_container + count` over
/// `connections` clients as fast as they are answered. Returns the number answered 202.
pub async fn publish_count(target: &Target, count: u64, connections: usize) -> anyhow::Result<u64> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let client = one_connection()?;
        let target = target.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break accepted;
                }
                if matches!(
                    post(&client, &target, target.first_container + i).await,
                    Ok(202)
                ) {
                    accepted += 1;
                }
            }
        });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        accepted += done?;
    }
    Ok(accepted)
}
