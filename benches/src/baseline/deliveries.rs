//! The web-hooks scenario's baseline: signed deliveries with no store, to see what the
//! HTTP client and the receiver allow on this machine.
//!
//! The client is built as the adapter's deliverer builds it
//! (`adapters/http/src/webhooks/deliver.rs`: no proxy, no redirects, the configured
//! timeout for the request and the connection, its user agent; the address guard is left
//! out, as a literal loopback address never reaches its resolver). Each delivery does
//! what the deliverer's `send` does: encode the event as JSON, sign it (Standard
//! Webhooks, as `adapters/http/src/webhooks/sign.rs`) and POST it with the same headers,
//! `in_flight` at a time, but claims and acknowledges nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::ResultEvent;

/// What the baseline measured.
#[derive(Debug, Clone)]
pub struct Deliveries {
    /// Deliveries answered 2xx.
    pub delivered: u64,
    /// Deliveries that failed, and the first reason.
    pub failed: (u64, Option<String>),
    /// From the first POST to the last answer.
    pub elapsed: Duration,
}

impl Deliveries {
    /// Deliveries answered 2xx per second.
    pub fn per_second(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
}

/// The deliverer's HTTP client, with its `timeout`.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .https_only(false)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("boxtrace-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Delivers every event of `events` to `url`, signed with `secret`, `in_flight` at a time.
pub async fn run(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    events: Arc<Vec<ResultEvent>>,
    in_flight: usize,
) -> anyhow::Result<Deliveries> {
    let url = reqwest::Url::parse(url)?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (client, url, secret) = (client.clone(), url.clone(), secret.to_owned());
        let (events, next) = (events.clone(), next.clone());
        tasks.spawn(async move {
            let mut delivered = 0u64;
            let mut failed = (0u64, None);
            while let Some(event) = events.get(next.fetch_add(1, Ordering::Relaxed)) {
                match deliver(&client, &url, &secret, event).await {
                    Ok(()) => delivered += 1,
                    Err(e) => {
                        failed.0 += 1;
                        failed.1.get_or_insert(e);
                    }
                }
            }
            (delivered, failed)
        });
    }
    let mut total = Deliveries {
        delivered: 0,
        failed: (0, None),
        elapsed: Duration::ZERO,
    };
    while let Some(done) = tasks.join_next().await {
        let (delivered, (failed, reason)) = done?;
        total.delivered += delivered;
        total.failed.0 += failed;
        if total.failed.1.is_none() {
            total.failed.1 = reason;
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn deliver(
    client: &reqwest::Client,
    url: &reqwest::Url,
    secret: &str,
    event: &ResultEvent,
) -> Result<(), String> {
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let timestamp = chrono::Utc::now().timestamp();
    // The adapter's own signing, so that the baseline pays exactly what a delivery pays.
    let signature = boxtrace_http::webhooks::sign::sign(secret, &event.id, timestamp, &body)
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}
