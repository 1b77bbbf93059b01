//! Web-hook delivery: signed deliveries per second from the real `boxtrace serve` to a
//! receiver in this process that checks every signature, and the time from a result to
//! its delivery.
//!
//! Throughput is measured on a backlog: the receiver holds its answers while N events
//! are published and traced, then lets them through; deliveries per second are counted
//! from that moment to the last delivery. Latency is measured apart, at a moderate
//! offered load with the receiver answering at once: receive time minus the event's
//! `createdAt` (the trace commit).
//!
//! The baseline, in the same run and after the server has stopped: the backlog's events
//! as the receiver got them, decoded, given new ids (`base_…`, so that the receiver counts
//! them apart), encoded again, signed and posted to the same receiver by the deliverer's
//! HTTP client with as many in flight, and no store (`crate::baseline::deliveries`). The
//! bodies are the same events, not the same bytes: a little longer for the prefix, and
//! as the harness encodes them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::baseline::deliveries;
use crate::load::{open_loop, publish_count, Target};
use crate::options::Options;
use crate::report::{Figure, Report};
use crate::server::{Launch, Server};
use crate::stats::{ms, Samples};

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: Bytes,
    at: Instant,
    latency: Option<Duration>,
}

#[derive(Debug)]
struct Receiver {
    key: Mutex<Vec<u8>>,
    open: watch::Receiver<bool>,
    log: Mutex<Vec<Received>>,
    bad_signatures: AtomicU64,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut open = receiver.open.clone();
    if open.wait_for(|open| *open).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let key = receiver
        .key
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if !verify(&key, id, timestamp, &body, signature) {
        receiver.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let created = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("createdAt")?.as_str()?.parse::<DateTime<Utc>>().ok());
    let latency = created.and_then(|c| (Utc::now() - c).to_std().ok());
    receiver
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Received {
            id: id.to_owned(),
            body,
            at: Instant::now(),
            latency,
        });
    StatusCode::NO_CONTENT
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, one of
/// several space-separated signatures.
fn verify(key: &[u8], id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

/// Runs the scenario.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let backlog: u64 = if options.quick { 300 } else { 50_000 };
    let concurrencies: &[usize] = if options.quick { &[16] } else { &[4, 64] };
    for &concurrency in concurrencies {
        report.extend(measure(options, backlog, concurrency).await?);
    }
    Ok(report)
}

async fn measure(options: &Options, backlog: u64, concurrency: usize) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let (gate, open) = watch::channel(false);
    let receiver = Arc::new(Receiver {
        key: Mutex::new(Vec::new()),
        open,
        log: Mutex::new(Vec::new()),
        bad_signatures: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let hooks_url = format!("http://{}/hooks", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(receiver.clone());
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = options.scratch("webhooks")?;
    // The baseline's client takes the same timeout.
    let timeout = Duration::from_secs(300);
    let launch = Launch::new(options.server_bin()?, dir.path()).config(format!(
        "[delivery]\nconcurrencyPerEndpoint = {concurrency}\ntimeout = \"{}s\"\n",
        timeout.as_secs()
    ));
    let client = launch.create_client().await?;
    let (server, _) = launch.serve().await?;
    let outcome = drive(&server, &client, &hooks_url, &receiver, &gate, backlog).await;
    server.stop().await?;
    let baseline = match &outcome {
        Ok((_, _, _, secret)) => {
            baseline(
                &receiver,
                &hooks_url,
                secret,
                backlog as usize,
                concurrency,
                timeout,
            )
            .await
        }
        Err(_) => Ok(f64::NAN),
    };
    serving.abort();
    let (throughput, mut latency, offered, _) = outcome?;
    let baseline = baseline?;
    let bad = receiver.bad_signatures.load(Ordering::Relaxed);
    anyhow::ensure!(bad == 0, "{bad} deliveries had a bad signature");
    let mut figure = Figure::new(
        format!("webhooks/c{concurrency}/deliveries_per_s"),
        format!(
            "signed deliveries to one endpoint, {concurrency} in flight (backlog of {backlog})"
        ),
        throughput,
        "deliveries/s",
    )
    .baseline(
        format!("same client, same events re-encoded under base_ ids and signed, no store, {concurrency} in flight"),
        baseline,
    );
    if concurrency == 4 {
        figure = figure.target("≥ 8,000");
    } else if concurrency >= 64 {
        figure = figure.target("≥ 20,000");
    }
    report.push(figure);
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        report.push(Figure::new(
            format!("webhooks/c{concurrency}/latency_{name}"),
            format!(
                "result to delivery at {offered:.0} results/s, {concurrency} in flight, {name}"
            ),
            ms(latency.quantile(q)),
            "ms",
        ));
    }
    report.note(format!(
        "webhooks: the receiver checks every signature (HMAC-SHA256) and shares the 2 cores with the server; `concurrencyPerEndpoint` {concurrency} (default 4)"
    ));
    Ok(report)
}

async fn drive(
    server: &Server,
    client: &crate::server::ApiClient,
    hooks_url: &str,
    receiver: &Receiver,
    gate: &watch::Sender<bool>,
    backlog: u64,
) -> anyhow::Result<(f64, Samples, f64, String)> {
    let token = server.token(client).await?;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(server.url("/api/webhooks"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "url": hooks_url,
            "triggers": ["TRACE_RESULT", "TRACE_ERROR"],
            "entityType": "CONTAINER",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let secret = created
        .get("secret")
        .and_then(|s| s.as_str())
        .filter(|s| s.starts_with("whsec_"))
        .ok_or_else(|| anyhow::anyhow!("the registration answer holds no whsec_ secret"))?
        .to_owned();
    *receiver.key.lock().unwrap_or_else(PoisonError::into_inner) =
        base64::engine::general_purpose::STANDARD.decode(&secret["whsec_".len()..])?;

    // The backlog: published and traced while the receiver holds its answers.
    let target = Target {
        url: server.url("/api/events"),
        token: Some(token),
        first_container: 0,
    };
    let accepted = publish_count(&target, backlog, 32).await?;
    anyhow::ensure!(
        accepted == backlog,
        "{accepted} of {backlog} publishes accepted"
    );
    let waited = Instant::now();
    while server.metric("boxtrace_traces_total").await? < backlog as f64 {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(300),
            "the backlog was not traced in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = Instant::now();
    gate.send_replace(true);
    let last = wait_for(receiver, backlog as usize, Duration::from_secs(600)).await?;
    let throughput = backlog as f64 / (last - opened).as_secs_f64();

    // Latency at a moderate load, the receiver answering at once.
    // A load the whole pipeline (publish, trace, fan-out, delivery) carries on 2 cores.
    let offered = (throughput / 4.0).clamp(50.0, 1_000.0);
    let count = (offered * 5.0) as u64;
    let before = receiver
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    let target = Target {
        first_container: backlog,
        ..target
    };
    let accepted = open_loop(&target, offered, count).await?;
    wait_for(
        receiver,
        backlog as usize + accepted as usize,
        Duration::from_secs(120),
    )
    .await?;
    let log = receiver.log.lock().unwrap_or_else(PoisonError::into_inner);
    let mut latency = Samples::with_capacity(count as usize);
    for delivery in &log[before..] {
        if let Some(l) = delivery.latency {
            latency.push(l);
        }
    }
    Ok((throughput, latency, offered, secret))
}

/// The baseline: the first `backlog` distinct events the receiver got, posted again under
/// new ids (`base_…`, so that the receiver counts them apart) by the deliverer's client,
/// `in_flight` at a time. Deliveries per second.
async fn baseline(
    receiver: &Receiver,
    hooks_url: &str,
    secret: &str,
    backlog: usize,
    in_flight: usize,
    timeout: Duration,
) -> anyhow::Result<f64> {
    let events = {
        let log = receiver.log.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = HashSet::new();
        let mut events = Vec::with_capacity(backlog);
        for delivery in log
            .iter()
            .filter(|d| seen.insert(d.id.as_str()))
            .take(backlog)
        {
            let mut event: boxtrace::ResultEvent = serde_json::from_slice(&delivery.body)?;
            event.id = format!("base_{}", event.id);
            events.push(event);
        }
        events
    };
    let before = receiver
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    let client = deliveries::client(timeout)?;
    let outcome = deliveries::run(&client, hooks_url, secret, Arc::new(events), in_flight).await?;
    anyhow::ensure!(
        outcome.failed.0 == 0,
        "{} baseline deliveries failed, first: {}",
        outcome.failed.0,
        outcome.failed.1.unwrap_or_default()
    );
    let received = receiver
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
        - before;
    anyhow::ensure!(
        received as u64 == outcome.delivered,
        "the receiver logged {received} of {} baseline deliveries",
        outcome.delivered
    );
    Ok(outcome.per_second())
}

/// Waits until `distinct` different web-hook ids arrived; returns when the last did.
async fn wait_for(
    receiver: &Receiver,
    distinct: usize,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let started = Instant::now();
    loop {
        {
            let log = receiver.log.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: HashSet<&str> = log.iter().map(|r| r.id.as_str()).collect();
            if ids.len() >= distinct {
                return Ok(log.iter().map(|r| r.at).max().unwrap_or_else(Instant::now));
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "only {} of {distinct} deliveries arrived within {limit:?}",
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
