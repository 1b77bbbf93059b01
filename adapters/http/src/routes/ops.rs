//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use boxtrace::RESULTS_QUEUE;
use utoipa::OpenApi as _;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: started, not stopping, and the store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready: starting, stopping, or the store does not answer", body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::unavailable("the server is starting or stopping"));
    }
    match state.engine.store().outbox_stats(RESULTS_QUEUE).await {
        Ok(_) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            Err(ApiError::unavailable("the store does not answer"))
        }
    }
}

/// Every request but `/healthz` while the server starts: its store is not open yet.
pub async fn starting() -> ApiError {
    ApiError::starting()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    state.engine.metrics().render_prometheus(&mut out);

    let store = state.engine.store();
    let _ = writeln!(
        out,
        "# HELP boxtrace_outbox_depth Events waiting for delivery, by queue and state."
    );
    let _ = writeln!(out, "# TYPE boxtrace_outbox_depth gauge");
    if let Ok(stats) = store.outbox_stats(RESULTS_QUEUE).await {
        let _ = writeln!(
            out,
            "boxtrace_outbox_depth{{queue=\"results\",state=\"pending\"}} {}",
            stats.pending
        );
    }
    if let Ok(hooks) = state.webhooks.all().await {
        for hook in hooks {
            if let Ok(stats) = store.outbox_stats(&hook.queue()).await {
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
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> impl IntoResponse {
    Json(super::ApiDoc::openapi())
}
