//! The operator console at `/console`: server-rendered pages over every tenant's traces,
//! the providers and the web-hook endpoints, signed in with the operator token.
//!
//! - `session.rs`: sign-in, the session cookie, CSRF, sign-out;
//! - `overview.rs`: jobs, rates, errors, circuits, backlogs (live: the page polls);
//! - `containers.rs`: search across tenants, and one trace's page;
//! - `webhooks.rs`: endpoints, with replay and disable/enable (enable replays the dead
//!   events first, to keep each container's order);
//! - `efficiency.rs`: requests per container and detection delays;
//! - `page.rs`: templates (`templates/`), assets (`assets/`), headers, formatting;
//! - `reuse.rs`: results the polling pages share for a while (longer when slow to make).
//!
//! Every page handler takes a [`session::ConsoleSession`] first: without a valid session
//! nothing is read and the answer holds no data.

mod containers;
mod efficiency;
mod overview;
mod page;
mod reuse;
pub mod session;
mod webhooks;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::state::AppState;

/// What the console keeps between requests: signed-out sessions, rate samples, and the
/// latest counts.
#[derive(Debug, Default)]
pub struct Console {
    signed_out: session::SignedOut,
    live: overview::Live,
    efficiency: efficiency::Cached,
}

/// A page whose data the store could not give.
fn unavailable(e: boxtrace::Error) -> Response {
    tracing::warn!(error = %e, "console: the store did not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page::message(
            "Store unavailable",
            "The store did not answer; this page will work again once it does.",
        ),
    )
        .into_response()
}

/// The console's routes, all under `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/", get(overview::page))
        .route("/console/overview/live", get(overview::live))
        .route("/console/overview.json", get(overview::json))
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", axum::routing::post(session::logout))
        .route("/console/containers", get(containers::search))
        .route(
            "/console/containers/{org}/{svc}/{kind}/{provider}/{container}",
            get(containers::trace),
        )
        .route("/console/webhooks", get(webhooks::list))
        .route(
            "/console/webhooks/{id}/{action}",
            get(webhooks::confirm).post(webhooks::act),
        )
        .route("/console/efficiency", get(efficiency::page))
        .route("/console/assets/console.css", get(page::css))
        .route("/console/assets/console.js", get(page::js))
        .layer(axum::middleware::from_fn(page::headers))
        .layer(Extension(Arc::new(Console::default())))
}
