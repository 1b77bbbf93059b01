//! `POST /api/events`: the event contract.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use boxtrace::{Accepted, Command};

use super::openapi::EventEnvelope;
use crate::auth::Caller;
use crate::error::{body_rejection, is_json, unsupported_media_type, ApiError, Problem};
use crate::state::AppState;

/// Publish or cancel a container trace. Answered once the event is durable.
#[utoipa::path(
    post,
    path = "/api/events",
    tag = "events",
    operation_id = "publishEvent",
    security(("bearer" = [])),
    request_body(content = EventEnvelope, content_type = "application/json",
        description = "An event of the contract: one envelope per action"),
    responses(
        (status = 202, description = "Accepted and durable", body = Accepted),
        (status = 400, description = "Malformed JSON (with line and column)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The event's orgId/svcId is not the token's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event breaks a rule of the contract (field named)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "An unexpected engine failure (logged); nothing acknowledged", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    // As `/api/webhooks` does: a body that is not declared JSON is refused before it is
    // read, so that a form or a text body is never taken for an event.
    if !is_json(&headers) {
        state.metrics.event("unknown", "rejected");
        return Err(unsupported_media_type());
    }
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
