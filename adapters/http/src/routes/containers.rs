//! `/api/containers`: a tenant's traces, their current results and history.

use axum::extract::{Path, Query, State};
use axum::Json;
use boxtrace::{
    Job, JobKey, ListQuery, ResultEvent, Status, TraceFailure, TraceKind, TraceResult,
    TrackingState,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Most history entries returned with one trace.
const HISTORY_LIMIT: usize = 100;

/// One trace as a client sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceView {
    /// Container id.
    pub container_number: String,
    /// `EXPORT` or `EMPTY`.
    pub trace_kind: TraceKind,
    /// Provider id.
    pub provider_id: String,
    /// `ACTIVE`, `COMPLETED`, `EXPIRED`, `CANCELLED` or `FAILED`.
    pub tracking_state: TrackingState,
    /// Normalized status of the latest result.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Status>)]
    pub status: Option<String>,
    /// When the next trace is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_trace_at: Option<DateTime<Utc>>,
    /// When last traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_traced_at: Option<DateTime<Utc>>,
    /// Traces so far.
    pub trace_count: u64,
    /// First published.
    pub created_at: DateTime<Utc>,
    /// The latest normalized result.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TraceResult>)]
    pub result: Option<serde_json::Value>,
    /// The last failure, if the last trace failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<TraceFailure>,
}

impl From<Job> for TraceView {
    fn from(job: Job) -> Self {
        Self {
            container_number: job.request.key.container.clone(),
            trace_kind: job.request.key.kind,
            provider_id: job.request.key.provider_id.clone(),
            tracking_state: job.state,
            status: job.last_result.as_ref().map(|r| r.status.to_string()),
            next_trace_at: job.state.is_active().then_some(job.due_at).flatten(),
            last_traced_at: job.last_traced_at,
            trace_count: job.trace_count,
            created_at: job.created_at,
            result: job.last_result.map(|mut r| {
                r.raw = None;
                serde_json::to_value(r).unwrap_or_default()
            }),
            last_error: job.last_error,
        }
    }
}

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `ACTIVE`, `COMPLETED`, `EXPIRED`, `CANCELLED` or `FAILED` (any case).
    #[param(value_type = Option<TrackingState>)]
    pub state: Option<String>,
    /// `EXPORT` or `EMPTY` (any case).
    #[param(value_type = Option<TraceKind>)]
    pub kind: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100); larger values are clamped.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<usize>,
}

/// A page of traces.
#[derive(Debug, Serialize, ToSchema)]
pub struct TracePage {
    /// Traces, ordered by kind, provider and container.
    pub items: Vec<TraceView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn parse_upper<T: serde::de::DeserializeOwned>(
    field: &str,
    value: &str,
    accepted: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_ascii_uppercase())).map_err(|_| {
        ApiError::bad_request(
            "invalid-parameter",
            format!("'{value}' is not accepted; accepted: {accepted}"),
        )
        .with_field(field)
    })
}

/// List the caller's traces.
#[utoipa::path(get, path = "/api/containers", tag = "containers", operation_id = "listContainers",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of traces", body = TracePage),
        (status = 400, description = "A filter value or cursor that is not accepted (field named), or a malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "An unexpected engine failure (logged)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<TracePage>, ApiError> {
    let query = ListQuery {
        state: params
            .state
            .as_deref()
            .map(|s| parse_upper("state", s, "ACTIVE, COMPLETED, EXPIRED, CANCELLED, FAILED"))
            .transpose()?,
        kind: params
            .kind
            .as_deref()
            .map(|k| parse_upper("kind", k, "EXPORT, EMPTY"))
            .transpose()?,
        after: params.after,
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
    };
    let page = state.engine.list(&caller.tenant, &query).await?;
    Ok(Json(TracePage {
        items: page.jobs.into_iter().map(TraceView::from).collect(),
        next: page.next,
    }))
}

/// The trace kind in a path, lower case as links write it.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Documents the path parameter; the handler parses the kind itself.
pub enum PathKind {
    /// An export trace.
    Export,
    /// An empty trace.
    Empty,
}

/// One trace with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceDetail {
    /// The trace.
    pub trace: TraceView,
    /// Its result events, oldest first (the newest 100).
    pub history: Vec<ResultEvent>,
}

/// A trace's current result and history.
#[utoipa::path(get, path = "/api/containers/{kind}/{providerId}/{containerId}", tag = "containers",
    operation_id = "getContainer", security(("bearer" = [])),
    params(
        ("kind" = PathKind, Path, description = "`export` or `empty` (any case)"),
        ("providerId" = String, Path, description = "Provider id, e.g. `sim` (any case)"),
        ("containerId" = String, Path, description = "Container id as published; ISO 6346 numbers in any case and with separators"),
    ),
    responses(
        (status = 200, description = "The trace and its newest 100 result events", body = TraceDetail),
        (status = 400, description = "A `kind` that is neither export nor empty, or a path that is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trace of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "An unexpected engine failure (logged)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, provider_id, container)): Path<(String, String, String)>,
) -> Result<Json<TraceDetail>, ApiError> {
    let kind: TraceKind = parse_upper("kind", &kind, "export, empty")?;
    let key = JobKey {
        tenant: caller.tenant.clone(),
        kind,
        provider_id: provider_id.to_ascii_lowercase(),
        container: boxtrace::canonical_id(&container),
    };
    let job = state.engine.get(&key).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no {} trace of {container} at {provider_id}",
            kind.as_str().to_ascii_lowercase()
        ))
    })?;
    let history = state.engine.history(&key, HISTORY_LIMIT).await?;
    Ok(Json(TraceDetail {
        trace: job.into(),
        history,
    }))
}
