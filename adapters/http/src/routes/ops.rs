//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use boxtrace::ProviderHealthStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "Alive: `ok`", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the store: a store that does not answer in this time is
/// not ready, whatever its own deadlines are.
const READY_DEADLINE: Duration = Duration::from_secs(2);

/// What `/readyz` answers when ready: the checks, and each provider's circuit breaker.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready`.
    #[schema(pattern = "^ready$")]
    pub status: &'static str,
    /// `ok`: the store answers.
    #[schema(pattern = "^ok$")]
    pub store: &'static str,
    /// Each provider's circuit breaker. A suspended provider does not make the server
    /// unready: it still accepts publishes, and their jobs wait for the provider.
    pub providers: Vec<ProviderHealthStatus>,
}

/// Readiness: started, not stopping, the store can write, and it answers in time. The body
/// lists each provider's circuit breaker; a suspended provider leaves the server ready.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses((status = 200, description = "Ready, with each provider's circuit breaker", body = Readiness), (status = 503, description = "Not ready: starting, stopping, the store cannot write, or it does not answer", body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::unavailable("the server is starting or stopping"));
    }
    let store = &state.store;
    if let Err(e) = store.writable() {
        tracing::warn!(error = %e, "not ready: the store cannot write");
        return Err(ApiError::unavailable(format!("not ready: {e}")));
    }
    match tokio::time::timeout(READY_DEADLINE, state.deliveries.results_stats()).await {
        Ok(Ok(_)) => Ok(Json(Readiness {
            status: "ready",
            store: "ok",
            providers: state.engine.provider_health(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            Err(ApiError::unavailable("the store does not answer"))
        }
        Err(_) => {
            tracing::warn!(deadline = ?READY_DEADLINE, "not ready: the store did not answer in time");
            Err(ApiError::unavailable(format!(
                "the store did not answer within {READY_DEADLINE:?}"
            )))
        }
    }
}

/// Every request but `/healthz` while the server starts: its store is not open yet.
pub async fn starting() -> ApiError {
    ApiError::starting()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    state.engine.metrics().render_prometheus(&mut out);

    let _ = writeln!(
        out,
        "# HELP boxtrace_outbox_depth Events waiting for delivery, by queue and state."
    );
    let _ = writeln!(out, "# TYPE boxtrace_outbox_depth gauge");
    if let Ok(stats) = state.deliveries.results_stats().await {
        let _ = writeln!(
            out,
            "boxtrace_outbox_depth{{queue=\"results\",state=\"pending\"}} {}",
            stats.pending
        );
    }
    if let Ok(hooks) = crate::webhooks::with_queue_stats(&state.webhooks, &state.deliveries).await {
        for (hook, stats) in hooks {
            if let Ok(stats) = stats {
                let _ = writeln!(
                    out,
                    "boxtrace_outbox_depth{{queue=\"{}\",state=\"pending\"}} {}",
                    hook.id, stats.pending
                );
                let _ = writeln!(
                    out,
                    "boxtrace_outbox_depth{{queue=\"{}\",state=\"dead\"}} {}",
                    hook.id, stats.dead
                );
            }
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    Json(super::openapi::document())
}
