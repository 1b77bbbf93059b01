//! `POST /api/events`: the event contract.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use boxtrace::Command;

use crate::auth::Caller;
use crate::error::{body_rejection, ApiError, Problem};
use crate::state::AppState;

/// Publish or cancel a container trace. Answered once the event is durable.
#[utoipa::path(
    post,
    path = "/api/events",
    tag = "events",
    security(("bearer" = [])),
    request_body(content = Object, description = "An event: orgId, svcId, type CONTAINER, action (TRACE_EXPORT_REQUESTED, TRACE_EMPTY_REQUESTED, TRACE_EXPORT_CANCELLED, TRACE_EMPTY_CANCELLED), origin, payload {id, providerId, siteId, data}"),
    responses(
        (status = 202, description = "Accepted and durable", body = Object),
        (status = 400, description = "Malformed JSON (with line and column)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The event's orgId/svcId is not the token's", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event breaks a rule of the contract (field named)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable; nothing stored; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(body_rejection)?;
    let command = Command::from_json(&body).inspect_err(|e| {
        state.metrics.event("unknown", "rejected");
        tracing::debug!(field = %e.field, code = e.kind.code(), "event rejected");
    })?;
    caller.require(&command.key().tenant)?;
    let action = command.action().as_str();
    match state.engine.execute(command).await {
        Ok(accepted) => {
            state.metrics.event(action, "accepted");
            Ok((StatusCode::ACCEPTED, Json(accepted)))
        }
        Err(e) => {
            state.metrics.event(action, "rejected");
            Err(e.into())
        }
    }
}
