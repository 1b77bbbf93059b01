//! `/api/webhooks`: a tenant's web-hook endpoints.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{json_rejection, ApiError, Problem};
use crate::state::AppState;
use crate::webhooks::{DeliveryOutcome, Trigger, Webhook};

/// A registration request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    /// Where to POST events: an https URL of a public address (http and private
    /// addresses only where the operator allows them).
    #[schema(format = "uri")]
    pub url: String,
    /// `TRACE_RESULT` and/or `TRACE_ERROR`: at least one.
    #[schema(min_items = 1)]
    pub triggers: Vec<Trigger>,
    /// `CONTAINER` (the default).
    #[serde(default)]
    #[schema(pattern = "^CONTAINER$")]
    pub entity_type: Option<String>,
}

/// A registered endpoint as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Triggers.
    pub triggers: Vec<Trigger>,
    /// `CONTAINER`.
    pub entity_type: String,
    /// When registered.
    pub created_at: DateTime<Utc>,
    /// Why deliveries stopped, if they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// Events waiting for delivery.
    pub pending: usize,
    /// Events given up on (replayable).
    pub dead: usize,
}

/// A new registration, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// Triggers.
    pub triggers: Vec<Trigger>,
    /// `CONTAINER`.
    pub entity_type: String,
    /// When registered.
    pub created_at: DateTime<Utc>,
    /// The Standard Webhooks signing secret, `whsec_…`. Store it now.
    pub secret: String,
}

/// A ping's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingResult {
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// Its status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A replay's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    /// Dead events queued again.
    pub replayed: usize,
}

/// Register a web-hook endpoint.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", operation_id = "createWebhook",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Registered; the secret is shown once", body = CreatedWebhook),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid URL or triggers, or a URL that resolves to a non-public address", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateWebhook>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body.map_err(json_rejection)?;
    let invalid = |field: &str, detail: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-webhook",
            "Invalid web-hook",
            detail,
        )
        .with_field(field)
    };
    if let Some(entity) = request.entity_type.as_deref().filter(|e| *e != "CONTAINER") {
        return Err(invalid(
            "entityType",
            format!("'{entity}' is not supported; accepted: CONTAINER"),
        ));
    }
    if request.triggers.is_empty() {
        return Err(invalid(
            "triggers",
            "must name at least one of TRACE_RESULT, TRACE_ERROR".into(),
        ));
    }
    let url = Url::parse(&request.url).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
    state.guard.check_url(&url).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook-url-refused",
            "Web-hook URL refused",
            e.to_string(),
        )
        .with_field("url")
    })?;
    let mut triggers = request.triggers;
    triggers.dedup();
    let now = state.engine.clock().now();
    let hook = state
        .webhooks
        .create(&caller.tenant, url.to_string(), triggers, now)
        .await?;
    tracing::info!(webhook = %hook.id, org = %hook.org_id, endpoint = %crate::webhooks::redacted(&hook.url), "web-hook registered");
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            id: hook.id,
            url: hook.url,
            triggers: hook.triggers,
            entity_type: hook.entity_type,
            created_at: hook.created_at,
            secret: hook.secret,
        }),
    ))
}

/// List the caller's web-hook endpoints.
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's endpoints, without secrets", body = [WebhookView])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let mut views = Vec::new();
    for hook in state.webhooks.list(&caller.tenant).await? {
        let stats = state.deliveries.stats(&hook.destination()).await?;
        views.push(WebhookView {
            id: hook.id,
            url: hook.url,
            triggers: hook.triggers,
            entity_type: hook.entity_type,
            created_at: hook.created_at,
            disabled: hook.disabled,
            pending: stats.pending,
            dead: stats.dead,
        });
    }
    Ok(Json(views))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Webhook, ApiError> {
    // Another tenant's endpoint is simply not found: its existence is not disclosed.
    state
        .webhooks
        .get(&caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no web-hook '{id}'")))
}

/// Remove a web-hook endpoint and its pending deliveries.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", operation_id = "deleteWebhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Web-hook id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such web-hook of the caller", body = Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hook = owned(&state, &caller, &id).await?;
    state.webhooks.delete(&caller.tenant, &id).await?;
    // The endpoint is gone once its registration is: a failed purge only leaves its
    // queued events behind, undelivered (no worker serves a queue without a
    // registration), and a retry would find no endpoint to delete. So the answer is 204.
    if let Err(e) = state.deliveries.purge(&hook.destination()).await {
        tracing::warn!(webhook = %hook.id, queue = %hook.destination(), error = %e, "web-hook deleted, but purging its queued events failed; they stay in the store, undelivered");
    }
    // The deliverer re-reads the registrations now and stops the endpoint's worker,
    // rather than at its next poll with entries it claimed ahead.
    state.deliveries.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Send a signed test event to the endpoint now.
#[utoipa::path(post, path = "/api/webhooks/{id}/ping", tag = "webhooks", operation_id = "pingWebhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Web-hook id")),
    responses((status = 200, description = "What the endpoint answered", body = PingResult), (status = 404, description = "No such web-hook of the caller", body = Problem, content_type = "application/problem+json")))]
pub async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PingResult>, ApiError> {
    let hook = owned(&state, &caller, &id).await?;
    let now = state.engine.clock().now();
    let event = crate::webhooks::ping_event(&hook, now);
    let outcome = state.deliverer.send(&hook, &event).await;
    Ok(Json(match outcome {
        DeliveryOutcome::Delivered(status) => PingResult {
            delivered: true,
            status: Some(status),
            error: None,
        },
        DeliveryOutcome::Gone => PingResult {
            delivered: false,
            status: Some(410),
            error: Some("the endpoint answered 410 Gone".into()),
        },
        DeliveryOutcome::Failed(reason) | DeliveryOutcome::Throttled { reason, .. } => PingResult {
            delivered: false,
            status: None,
            error: Some(reason),
        },
    }))
}

/// Queue the endpoint's dead events again (and re-enable it if it was disabled).
#[utoipa::path(post, path = "/api/webhooks/{id}/replay", tag = "webhooks", operation_id = "replayWebhook",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Web-hook id")),
    responses((status = 200, description = "How many dead events were queued again", body = ReplayResult), (status = 404, description = "No such web-hook of the caller", body = Problem, content_type = "application/problem+json")))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayResult>, ApiError> {
    let hook = owned(&state, &caller, &id).await?;
    let replayed = crate::webhooks::resume(&state.webhooks, &state.deliveries, &hook).await?;
    tracing::info!(webhook = %hook.id, replayed, "dead web-hook events replayed");
    Ok(Json(ReplayResult { replayed }))
}
