//! The router: every endpoint, its limits, and the OpenAPI document generated from the
//! handlers' annotations.

mod admin;
mod containers;
mod events;
mod openapi;
mod ops;
mod results;
mod webhooks;

pub use openapi::document as openapi_document;
pub(crate) use openapi::TokenRequest;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::config::HttpLimits;
use crate::state::AppState;

/// The OpenAPI document of the server, as utoipa generates it from the annotations;
/// [`openapi_document`] completes it and is what `/openapi.json` serves.
#[derive(OpenApi)]
#[openapi(
    info(title = "boxtrace", description = "Container tracing: publish containers, receive results through signed web-hooks."),
    paths(
        crate::auth::token,
        events::publish,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::ping, webhooks::replay,
        containers::list, containers::get,
        results::list,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
        admin::create, admin::list, admin::revoke,
    ),
    components(schemas(
        crate::error::Problem, crate::auth::TokenResponse, crate::auth::OAuthError,
        crate::webhooks::Trigger, webhooks::CreateWebhook, webhooks::CreatedWebhook, webhooks::WebhookView,
        webhooks::PingResult, webhooks::ReplayResult,
        containers::TraceView, containers::TracePage, containers::TraceDetail, containers::PathKind,
        results::ResultEntry, results::ResultsPage,
        ops::Readiness, boxtrace::ProviderHealthStatus, boxtrace::CircuitState,
        boxtrace::ResultEvent, boxtrace::DcsaEquipmentEvent,
        admin::CreateClient, admin::ClientView, crate::auth::NewClient,
    )),
    modifiers(&BearerAuth),
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            // The operator token is a bearer token too, but not an access token: a
            // tenant's token never opens `/admin`.
            let mut operator = Http::new(HttpAuthScheme::Bearer);
            operator.description = Some(
                "The operator token (operatorToken, BOXTRACE_OPERATOR_TOKEN), not an access token"
                    .into(),
            );
            components.add_security_scheme("operator", SecurityScheme::Http(operator));
        }
    }
}

/// What the server answers while it starts, before its store is open: alive, not ready,
/// and 503 with `Retry-After` for everything else.
pub(crate) fn starting() -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::starting))
        .fallback(ops::starting)
        .layer(axum::middleware::from_fn(crate::error::problem_fallback))
}

/// The application's routes with body limits and request timeouts.
pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    Router::new()
        .route("/oauth/token", post(crate::auth::token))
        .route("/api/events", post(events::publish))
        .route("/api/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/api/webhooks/{id}",
            axum::routing::delete(webhooks::delete),
        )
        .route("/api/webhooks/{id}/ping", post(webhooks::ping))
        .route("/api/webhooks/{id}/replay", post(webhooks::replay))
        .route("/api/containers", get(containers::list))
        .route(
            "/api/containers/{kind}/{provider_id}/{container_id}",
            get(containers::get),
        )
        .route("/api/results", get(results::list))
        .route("/admin/clients", post(admin::create).get(admin::list))
        .route("/admin/clients/{id}", axum::routing::delete(admin::revoke))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        // Outside the timeout, so that the timeout's bare 503 gets its problem details
        // and `Retry-After` too (the last layer added is the outermost).
        .layer(axum::middleware::from_fn(crate::error::problem_fallback))
        .with_state(state)
}
