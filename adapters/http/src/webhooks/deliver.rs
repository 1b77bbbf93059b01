//! The web-hook destination of the engine's deliverer: signed POSTs through the address
//! guard, 410 Gone disabling the registration, and the console's activity and metrics.
//! Fan-out, queues, order, retries, the dead state and replay are the engine's
//! (`boxtrace::DeliveryHandle`).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use boxtrace::{
    ActiveDestination, Clock, Delivery, DestinationId, Destinations, DestinationsError,
    OutboxEntry, ResultEvent, Tenant,
};
use url::Url;

use super::ssrf::{Guard, GuardedResolver};
use super::{retry, sign, Webhook, Webhooks};
use crate::config::DeliveryConfig;
use crate::metrics::Metrics;

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

/// The web-hook endpoints as the engine's delivery destinations. One per server.
#[derive(Debug)]
pub struct Deliverer {
    webhooks: Webhooks,
    client: reqwest::Client,
    guard: Guard,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// The engine's clock, for the console's activity.
    clock: Arc<dyn Clock>,
    /// The registrations as of the last [`Destinations::active`], by destination: what a
    /// delivery is signed with and sent to.
    hooks: RwLock<HashMap<DestinationId, Webhook>>,
    activity: super::activity::DeliveryActivity,
}

impl Deliverer {
    /// The destination of every registration in `webhooks`.
    pub fn new(
        webhooks: Webhooks,
        guard: Guard,
        config: &DeliveryConfig,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
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
            webhooks,
            client,
            guard,
            timeout: config.timeout,
            metrics,
            clock,
            hooks: RwLock::new(HashMap::new()),
            activity: Default::default(),
        }))
    }

    /// What it did lately (for the console).
    pub fn activity(&self) -> &super::activity::DeliveryActivity {
        &self.activity
    }

    fn hook(&self, to: &DestinationId) -> Option<Webhook> {
        self.hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(to)
            .cloned()
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
                DeliveryOutcome::Failed(format!("no answer within {:?}", self.timeout))
            }
            Err(e) => {
                DeliveryOutcome::Failed(format!("could not reach the endpoint: {}", root_cause(&e)))
            }
        }
    }
}

#[async_trait]
impl Destinations for Deliverer {
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<DestinationId>>, DestinationsError> {
        let mut by_tenant: HashMap<Tenant, Vec<Webhook>> = HashMap::new();
        let mut routes = Vec::with_capacity(events.len());
        for event in events {
            let tenant = Tenant::new(&event.org_id, &event.svc_id);
            if !by_tenant.contains_key(&tenant) {
                let hooks = self
                    .webhooks
                    .list(&tenant)
                    .await
                    .map_err(DestinationsError::new)?;
                by_tenant.insert(tenant.clone(), hooks);
            }
            routes.push(
                by_tenant
                    .get(&tenant)
                    .into_iter()
                    .flatten()
                    // Disabled endpoints still get their copy: it waits, undelivered,
                    // until a replay re-enables the endpoint, so no event is lost
                    // meanwhile.
                    .filter(|h| h.triggers.iter().any(|t| t.fires_on(event.action)))
                    .map(Webhook::destination)
                    .collect(),
            );
        }
        Ok(routes)
    }

    async fn active(&self) -> Result<Vec<ActiveDestination>, DestinationsError> {
        let hooks = self.webhooks.all().await.map_err(DestinationsError::new)?;
        let enabled: HashMap<DestinationId, Webhook> = hooks
            .into_iter()
            .filter(|h| h.disabled.is_none())
            .map(|h| (h.destination(), h))
            .collect();
        let active = enabled
            .keys()
            .map(|id| ActiveDestination {
                id: id.clone(),
                concurrency: None,
            })
            .collect();
        *self.hooks.write().unwrap_or_else(PoisonError::into_inner) = enabled;
        Ok(active)
    }

    async fn deliver(&self, to: &DestinationId, entry: &OutboxEntry) -> Delivery {
        let Some(hook) = self.hook(to) else {
            // Deleted or disabled since the worker started: the engine stops it soon.
            // Nothing was sent, so no attempt is counted.
            return Delivery::NotAttempted;
        };
        let started = Instant::now();
        let outcome = self.send(&hook, &entry.event).await;
        self.metrics.delivery(&outcome, started.elapsed());
        self.activity.record(
            &hook.id,
            &entry.event.id,
            entry.job_id,
            &outcome,
            self.clock.now(),
        );
        match outcome {
            DeliveryOutcome::Delivered(_) => Delivery::Delivered,
            DeliveryOutcome::Gone => {
                tracing::warn!(webhook = %hook.id, endpoint = %redacted(&hook.url), "endpoint answered 410 Gone; it is disabled and its pending events wait for a replay");
                if let Err(e) = self
                    .webhooks
                    .disable(&hook, "the endpoint answered 410 Gone".into())
                    .await
                {
                    tracing::warn!(webhook = %hook.id, error = %e, "disabling the endpoint failed; its next delivery will find it gone again");
                }
                self.hooks
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(to);
                Delivery::Gone {
                    reason: "410 Gone".into(),
                }
            }
            DeliveryOutcome::Failed(reason) => Delivery::Failed {
                reason,
                retry_after: None,
            },
            DeliveryOutcome::Throttled {
                reason,
                retry_after,
            } => Delivery::Failed {
                reason,
                retry_after: Some(retry_after),
            },
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
