//! Web-hooks: registrations (kept as store records), signing, the SSRF guard and delivery.

pub mod activity;
mod deliver;
mod retry;
pub mod sign;
pub mod ssrf;

use std::sync::Arc;

use boxtrace::{
    DeliveryHandle, DestinationId, OutboxStats, ResultAction, Store, StoreError, Tenant,
};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use deliver::{redacted, Deliverer, DeliveryOutcome};

/// The record kind registrations are stored under.
const KIND: &str = "webhook";

/// What a web-hook is called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trigger {
    /// Result events.
    TraceResult,
    /// Permanent trace failures.
    TraceError,
}

impl Trigger {
    /// Whether events of `action` fire this trigger.
    pub fn fires_on(self, action: ResultAction) -> bool {
        matches!(
            (self, action),
            (Self::TraceResult, ResultAction::TraceResult)
                | (Self::TraceError, ResultAction::TraceError)
        )
    }
}

/// A registered web-hook endpoint. Its `Debug` hides the signing secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    /// Owner's organization.
    pub org_id: String,
    /// Owner's service.
    pub svc_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// What it is called for.
    pub triggers: Vec<Trigger>,
    /// `CONTAINER`.
    pub entity_type: String,
    /// The signing secret (`whsec_…`). Shown to the client once, at creation.
    pub secret: String,
    /// When registered.
    pub created_at: DateTime<Utc>,
    /// Set when the endpoint answered 410 Gone: nothing more is sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("svc_id", &self.svc_id)
            .field("url", &redacted(&self.url))
            .field("triggers", &self.triggers)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The owner.
    pub fn tenant(&self) -> Tenant {
        Tenant::new(&self.org_id, &self.svc_id)
    }

    /// The outbox queue of this endpoint's deliveries.
    pub fn queue(&self) -> String {
        queue_of(&self.id)
    }

    /// This endpoint as a destination of the engine's deliverer (named by its queue).
    pub fn destination(&self) -> DestinationId {
        DestinationId::new(self.queue())
    }
}

/// The outbox queue of web-hook `id`.
pub fn queue_of(id: &str) -> String {
    format!("webhook:{id}")
}

fn tenant_prefix(tenant: &Tenant) -> String {
    // orgId and svcId never hold control characters (the event contract refuses them).
    format!("{}\u{1f}{}\u{1f}", tenant.org_id, tenant.svc_id)
}

/// Registrations in the store.
#[derive(Debug, Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
}

impl Webhooks {
    /// Registrations kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Registers an endpoint for `tenant`. The URL must already have passed the guard.
    pub async fn create(
        &self,
        tenant: &Tenant,
        url: String,
        triggers: Vec<Trigger>,
        now: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        let hook = Webhook {
            id: random_id("wh", 9),
            org_id: tenant.org_id.clone(),
            svc_id: tenant.svc_id.clone(),
            url,
            triggers,
            entity_type: "CONTAINER".into(),
            secret: sign::new_secret(),
            created_at: now,
            disabled: None,
        };
        self.put(&hook).await?;
        Ok(hook)
    }

    async fn put(&self, hook: &Webhook) -> Result<(), StoreError> {
        let key = format!("{}{}", tenant_prefix(&hook.tenant()), hook.id);
        let value = serde_json::to_value(hook).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store.put_record(KIND, &key, &value).await
    }

    fn decode(value: serde_json::Value) -> Result<Webhook, StoreError> {
        serde_json::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// A tenant's endpoints.
    pub async fn list(&self, tenant: &Tenant) -> Result<Vec<Webhook>, StoreError> {
        self.store
            .list_records(KIND, &tenant_prefix(tenant))
            .await?
            .into_iter()
            .map(|(_, v)| Self::decode(v))
            .collect()
    }

    /// Every endpoint of every tenant.
    pub async fn all(&self) -> Result<Vec<Webhook>, StoreError> {
        self.store
            .list_records(KIND, "")
            .await?
            .into_iter()
            .map(|(_, v)| Self::decode(v))
            .collect()
    }

    /// A tenant's endpoint `id` (another tenant's is not found).
    pub async fn get(&self, tenant: &Tenant, id: &str) -> Result<Option<Webhook>, StoreError> {
        let key = format!("{}{id}", tenant_prefix(tenant));
        self.store
            .get_record(KIND, &key)
            .await?
            .map(Self::decode)
            .transpose()
    }

    /// Removes a tenant's endpoint; false if it did not exist. Its pending deliveries
    /// are the engine's to purge (`DeliveryHandle::purge`), after this: a fan-out that
    /// read the registration before the delete may still add to the queue, and purging
    /// after the delete catches what it added by then.
    pub async fn delete(&self, tenant: &Tenant, id: &str) -> Result<bool, StoreError> {
        let key = format!("{}{id}", tenant_prefix(tenant));
        self.store.delete_record(KIND, &key).await
    }

    /// Resumes deliveries to a disabled endpoint.
    pub async fn enable(&self, hook: &Webhook) -> Result<(), StoreError> {
        // Read as stored now: the caller's copy may predate a 410 (or an edit), and an
        // endpoint deleted meanwhile stays deleted.
        let Some(mut current) = self.get(&hook.tenant(), &hook.id).await? else {
            return Ok(());
        };
        if current.disabled.take().is_none() {
            return Ok(());
        }
        self.put(&current).await
    }

    /// Stops deliveries to an endpoint (it answered 410 Gone). An endpoint deleted
    /// meanwhile stays deleted.
    pub async fn disable(&self, hook: &Webhook, reason: String) -> Result<(), StoreError> {
        let Some(mut current) = self.get(&hook.tenant(), &hook.id).await? else {
            return Ok(());
        };
        current.disabled = Some(reason);
        self.put(&current).await
    }
}

/// Resumes deliveries to `hook` in order: queues its dead events again, then enables it
/// if it is disabled, then wakes the deliverer; returns how many events were queued
/// again. Both the API's replay and the console's replay and enable go through here.
///
/// The order is what keeps a container's events in order. A dead entry no longer holds
/// its job's later entries back, and a 410 buries one entry while the job's next waits
/// behind it: an endpoint enabled before the replay could have that next entry claimed
/// first (and, enabled without a replay, delivered while the earlier one stays dead).
/// Replayed while the endpoint is still disabled, the dead entry is back in its place
/// before any worker can claim. Should the replay fail, the endpoint stays disabled.
pub async fn resume(
    webhooks: &Webhooks,
    deliveries: &DeliveryHandle,
    hook: &Webhook,
) -> Result<usize, boxtrace::Error> {
    let replayed = deliveries.replay(&hook.destination()).await?;
    // Whatever `hook` said: a 410 may have disabled the endpoint since it was read.
    webhooks.enable(hook).await?;
    // The replay's own wake-up came while the endpoint was disabled.
    deliveries.wake();
    Ok(replayed)
}

/// Every tenant's registrations, each with its queue's sizes, read one by one: the
/// caller decides whether one that failed fails the whole (the console's overview) or
/// is left out (the metrics).
pub async fn with_queue_stats(
    webhooks: &Webhooks,
    deliveries: &DeliveryHandle,
) -> Result<Vec<(Webhook, Result<OutboxStats, boxtrace::Error>)>, StoreError> {
    let mut out = Vec::new();
    for hook in webhooks.all().await? {
        let stats = deliveries.stats(&hook.destination()).await;
        out.push((hook, stats));
    }
    Ok(out)
}

/// The signed test event a ping sends: a result event for the made-up container
/// `PING0000000` at provider `ping`, so that a receiver exercises its normal path, marked
/// `payload.test = true` so that it is never taken for a real box.
pub fn ping_event(hook: &Webhook, now: DateTime<Utc>) -> boxtrace::ResultEvent {
    use boxtrace::{EmitReason, ResultEvent, ResultPayload, TraceKind, TrackingState};
    ResultEvent {
        id: random_id("ping", 8),
        org_id: hook.org_id.clone(),
        svc_id: hook.svc_id.clone(),
        entity_type: "CONTAINER".into(),
        action: ResultAction::TraceResult,
        origin: "boxtrace-ping".into(),
        created_at: now,
        payload: ResultPayload {
            container_number: "PING0000000".into(),
            provider_id: "ping".into(),
            trace_kind: TraceKind::Export,
            booking_number: None,
            traced_at: now,
            next_trace_at: None,
            tracking_state: TrackingState::Active,
            reason: EmitReason::Forced,
            status: None,
            loaded: None,
            carrier: None,
            destination: None,
            events: Vec::new(),
            equipment_events: Vec::new(),
            result: None,
            error: None,
            test: true,
        },
    }
}

/// `prefix_` and `bytes` random bytes in hex.
fn random_id(prefix: &str, bytes: usize) -> String {
    let mut id = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut id);
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registrations() -> (tempfile::TempDir, Webhooks) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(boxtrace::SledStore::open_path(dir.path()).unwrap());
        (dir, Webhooks::new(store))
    }

    #[tokio::test]
    async fn enable_acts_on_the_endpoint_as_stored_not_on_the_callers_copy() {
        let (_dir, webhooks) = registrations();
        let tenant = Tenant::new("o", "s");
        let hook = webhooks
            .create(
                &tenant,
                "https://tms.example/hook".into(),
                vec![],
                Utc::now(),
            )
            .await
            .unwrap();
        // The copy read before a 410 disabled the endpoint says it is enabled.
        let stale = hook.clone();
        webhooks.disable(&hook, "410 Gone".into()).await.unwrap();
        webhooks.enable(&stale).await.unwrap();
        let stored = webhooks.get(&tenant, &hook.id).await.unwrap().unwrap();
        assert!(stored.disabled.is_none(), "enabled whatever the copy said");

        // An endpoint deleted since it was read stays deleted.
        webhooks.disable(&hook, "410 Gone".into()).await.unwrap();
        assert!(webhooks.delete(&tenant, &hook.id).await.unwrap());
        webhooks.enable(&stale).await.unwrap();
        assert!(webhooks.get(&tenant, &hook.id).await.unwrap().is_none());
    }
}
