//! Delivery: fans result events out to each matching endpoint's queue, then POSTs them,
//! signed, at least once, in order per container, with retries and a dead state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use boxtrace::{Engine, FanOutEntry, Outbox, OutboxClaim, ResultEvent, RESULTS_QUEUE};
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::ssrf::{Guard, GuardedResolver};
use super::{retry, sign, Webhook, Webhooks};
use crate::config::DeliveryConfig;
use crate::metrics::Metrics;

/// Events fanned out per store call.
const FAN_OUT_BATCH: usize = 256;

/// How long a claimed batch of the results queue stays leased to one process. A batch
/// takes milliseconds; this is what the batch of a process that died waits before
/// another process fans it out, so it is short. A lease that lapses mid-batch costs
/// nothing but a retry: a fan-out is conditioned on its lease token.
const FAN_OUT_LEASE: Duration = Duration::from_secs(10);

/// What one POST achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered(u16),
    /// The receiver answered 410 Gone: the endpoint is disabled.
    Gone,
    /// Anything else (status, timeout, connection, refused address): retried.
    Failed(String),
    /// The receiver answered 429 or 503 with `Retry-After`: retried, not sooner than it
    /// asked (up to the retry schedule's longest step).
    Throttled {
        /// What the receiver answered.
        reason: String,
        /// The wait it asked for.
        retry_after: Duration,
    },
}

/// The web-hook deliverer. One per server.
#[derive(Debug)]
pub struct Deliverer {
    engine: Engine,
    /// The engine's backend, whose outbox the deliverer fans out and drains (until
    /// delivery moves into the engine, issue 15).
    outbox: Arc<dyn Outbox>,
    webhooks: Webhooks,
    client: reqwest::Client,
    guard: Guard,
    config: DeliveryConfig,
    metrics: Arc<Metrics>,
    wake: Notify,
    in_flight: Mutex<HashMap<String, usize>>,
    activity: super::activity::DeliveryActivity,
}

impl Deliverer {
    /// A deliverer for `engine`'s results, which the engine's backend appends to `outbox`.
    pub fn new(
        engine: Engine,
        outbox: Arc<dyn Outbox>,
        webhooks: Webhooks,
        guard: Guard,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A proxy would resolve the target itself, out of the guard's sight.
            .no_proxy()
            // Registrations are checked, but one made while http was allowed must not be
            // delivered in clear once it is not.
            .https_only(!guard.allows_insecure())
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver::new(guard))
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("boxtrace-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Arc::new(Self {
            engine,
            outbox,
            webhooks,
            client,
            guard,
            config,
            metrics,
            wake: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            activity: Default::default(),
        }))
    }

    /// What it did lately (for the console).
    pub fn activity(&self) -> &super::activity::DeliveryActivity {
        &self.activity
    }

    /// Looks for work at once (after a registration or a replay).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown`, then lets deliveries in flight finish (up to the timeout).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut results = self.engine.subscribe();
        let mut deliveries = JoinSet::new();
        loop {
            while deliveries.try_join_next().is_some() {}
            if shutdown.is_cancelled() {
                break;
            }
            if let Err(e) = self.fan_out(&shutdown).await {
                tracing::warn!(error = %e, "fanning result events out to web-hooks failed; retrying");
            }
            if let Err(e) = self.clone().dispatch(&mut deliveries).await {
                tracing::warn!(error = %e, "claiming web-hook deliveries failed; retrying");
            }
            tokio::select! {
                _ = results.recv() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        let grace = self.config.timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, async {
            while deliveries.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(
                "deliveries still in flight at shutdown are retried after their leases lapse"
            );
        }
    }

    /// Moves result events from the engine's queue to each matching endpoint's queue.
    async fn fan_out(&self, shutdown: &CancellationToken) -> Result<(), boxtrace::Error> {
        let store = &self.outbox;
        loop {
            // A long backlog (a million first results) must not hold a shutdown: what
            // is left waits in the results queue for the next start.
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let claims = self
                .engine
                .claim_outbox(FAN_OUT_BATCH, FAN_OUT_LEASE)
                .await?;
            let full = claims.len() == FAN_OUT_BATCH;
            let mut entries = Vec::with_capacity(claims.len());
            let mut by_tenant: HashMap<boxtrace::Tenant, Vec<Webhook>> = HashMap::new();
            for claim in claims {
                let event = &claim.entry.event;
                let tenant = boxtrace::Tenant::new(&event.org_id, &event.svc_id);
                if !by_tenant.contains_key(&tenant) {
                    let hooks = self.webhooks.list(&tenant).await?;
                    by_tenant.insert(tenant.clone(), hooks);
                }
                let targets: Vec<String> = by_tenant
                    .get(&tenant)
                    .into_iter()
                    .flatten()
                    // Disabled endpoints still get their copy: it waits, undelivered, until
                    // a replay re-enables the endpoint, so no event is lost meanwhile.
                    .filter(|h| h.triggers.iter().any(|t| t.fires_on(event.action)))
                    .map(Webhook::queue)
                    .collect();
                entries.push(FanOutEntry {
                    seq: claim.entry.seq,
                    token: claim.token,
                    to: targets,
                });
            }
            // The whole batch in one call: the store makes it one durable write.
            let now = self.engine.clock().now();
            let results = store.fan_out_all(RESULTS_QUEUE, &entries, now).await;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(e.into());
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Claims due deliveries of every endpoint, within its concurrency limit.
    async fn dispatch(
        self: Arc<Self>,
        deliveries: &mut JoinSet<()>,
    ) -> Result<(), boxtrace::Error> {
        let store = self.outbox.clone();
        for hook in self.webhooks.all().await? {
            if hook.disabled.is_some() {
                continue;
            }
            let busy = self.in_flight().get(&hook.id).copied().unwrap_or(0);
            let free = self
                .config
                .concurrency_per_endpoint
                .max(1)
                .saturating_sub(busy);
            if free == 0 {
                continue;
            }
            let now = self.engine.clock().now();
            let lease = self
                .engine
                .clock()
                .elapsed_during(self.config.timeout * 2 + Duration::from_secs(5));
            let claims = store
                .claim_outbox(&hook.queue(), now, free, now + lease)
                .await?;
            for claim in claims {
                let slot = InFlight::take(self.clone(), &hook.id);
                deliveries.spawn(self.clone().deliver(hook.clone(), claim, slot));
            }
        }
        Ok(())
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn deliver(self: Arc<Self>, hook: Webhook, claim: OutboxClaim, _slot: InFlight) {
        let started = Instant::now();
        let outcome = self.send(&hook, &claim.entry.event).await;
        self.metrics.delivery(&outcome, started.elapsed());
        self.activity.record(
            &hook.id,
            &claim.entry.event.id,
            claim.entry.job_id,
            &outcome,
            self.engine.clock().now(),
        );
        let store = &self.outbox;
        let (queue, seq, token) = (hook.queue(), claim.entry.seq, claim.token);
        let event_id = &claim.entry.event.id;
        let result = match &outcome {
            DeliveryOutcome::Delivered(_) => store.ack_outbox(&queue, seq, token).await,
            DeliveryOutcome::Gone => {
                tracing::warn!(webhook = %hook.id, endpoint = %redacted(&hook.url), "endpoint answered 410 Gone; it is disabled and its pending events wait for a replay");
                let _ = self
                    .webhooks
                    .disable(&hook, "the endpoint answered 410 Gone".into())
                    .await;
                store
                    .bury_outbox(&queue, seq, token, "410 Gone".into())
                    .await
            }
            DeliveryOutcome::Failed(reason)
            | DeliveryOutcome::Throttled {
                reason,
                retry_after: _,
            } => {
                let asked = match &outcome {
                    DeliveryOutcome::Throttled { retry_after, .. } => Some(*retry_after),
                    _ => None,
                };
                let attempt = claim.entry.attempts as usize;
                match self.config.retry_schedule.get(attempt) {
                    Some(delay) => {
                        // A jitter from configuration may be anything, NaN included.
                        let jitter = if self.config.jitter.is_finite() {
                            self.config.jitter.clamp(0.0, 0.9)
                        } else {
                            0.0
                        };
                        let spread = 1.0 - rand::rng().random_range(0.0..=jitter);
                        let longest = self
                            .config
                            .retry_schedule
                            .iter()
                            .max()
                            .copied()
                            .unwrap_or_default();
                        let delay = retry::delay(*delay, spread, asked, longest);
                        let delay = self.engine.clock().elapsed_during(delay);
                        let at = self
                            .engine
                            .clock()
                            .now()
                            .checked_add_signed(delay)
                            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
                        tracing::info!(webhook = %hook.id, event = %event_id, attempt = attempt + 1, %reason, retry_at = %at, "web-hook delivery failed; will retry");
                        store
                            .retry_outbox(&queue, seq, token, at, Some(reason.clone()))
                            .await
                    }
                    None => {
                        tracing::warn!(webhook = %hook.id, event = %event_id, attempts = attempt + 1, %reason, "web-hook delivery failed for good; the event is dead until replayed");
                        store.bury_outbox(&queue, seq, token, reason.clone()).await
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "recording a delivery outcome failed; the delivery is retried when its lease lapses");
        }
        self.wake();
    }

    /// POSTs `event` to `hook`, signed. Also used for pings.
    pub async fn send(&self, hook: &Webhook, event: &ResultEvent) -> DeliveryOutcome {
        let url = match Url::parse(&hook.url) {
            Ok(url) => url,
            Err(e) => return DeliveryOutcome::Failed(format!("invalid URL: {e}")),
        };
        // The resolver guards names; literal addresses never reach it.
        if let Some(Ok(ip)) = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').parse())
        {
            if let Err(e) = self.guard.check_addr(ip) {
                return DeliveryOutcome::Failed(e.to_string());
            }
        }
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => return DeliveryOutcome::Failed(format!("cannot serialize the event: {e}")),
        };
        // Receivers compare the timestamp with their own wall clock.
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match sign::sign(&hook.secret, &event.id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => return DeliveryOutcome::Failed(e.to_string()),
        };
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => DeliveryOutcome::Delivered(r.status().as_u16()),
            Ok(r) if r.status() == reqwest::StatusCode::GONE => DeliveryOutcome::Gone,
            Ok(r) => {
                let reason = format!("the endpoint answered {}", r.status());
                match retry::asked_wait(r.status(), r.headers(), chrono::Utc::now()) {
                    Some(retry_after) => DeliveryOutcome::Throttled {
                        reason: format!("{reason} with Retry-After {retry_after:?}"),
                        retry_after,
                    },
                    None => DeliveryOutcome::Failed(reason),
                }
            }
            Err(e) if e.is_timeout() => {
                DeliveryOutcome::Failed(format!("no answer within {:?}", self.config.timeout))
            }
            Err(e) => {
                DeliveryOutcome::Failed(format!("could not reach the endpoint: {}", root_cause(&e)))
            }
        }
    }
}

/// A slot of an endpoint's concurrency limit, given back when dropped, whether the
/// delivery finished, panicked or was cancelled.
struct InFlight {
    deliverer: Arc<Deliverer>,
    hook: String,
}

impl InFlight {
    fn take(deliverer: Arc<Deliverer>, hook: &str) -> Self {
        *deliverer.in_flight().entry(hook.to_owned()).or_default() += 1;
        Self {
            deliverer,
            hook: hook.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = self.deliverer.in_flight().get_mut(&self.hook) {
            *n = n.saturating_sub(1);
        }
    }
}

/// An endpoint URL for logs: scheme, host, port and path; never userinfo or query,
/// which may carry the receiver's own tokens.
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "(invalid URL)".to_owned(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
