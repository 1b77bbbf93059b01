//! boxtrace-http: the standalone server a client application (a TMS) integrates with.
//!
//! - `POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 §4.4); JWT bearer tokens.
//! - `POST /api/events`: the event contract, validated by the engine; 202 once durable.
//! - `/api/webhooks`: endpoints that receive result events, signed per Standard Webhooks,
//!   at least once, in order per container, with retries, a dead state and replay.
//! - `/api/containers`: a tenant's traces and their history.
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
//! - `/console`: the operator console (signed in with the operator token).
//!
//! The adapter is thin: every rule of the contract lives in the `boxtrace` engine. It
//! ships as the `boxtrace` binary (`serve`, `demo`, `clients`).
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod config;
pub mod console;
pub mod demo;
pub mod error;
mod listen;
pub mod metrics;
mod routes;
pub mod server;
pub mod state;
pub mod webhooks;

pub use config::ServerConfig;
pub use routes::{openapi_document, router, ApiDoc};
pub use server::{App, ServerError};

/// Provider crates this server ships. Naming them keeps the linker from dropping them,
/// and their `inventory` registrations with them.
pub fn linked_providers() {
    use boxtrace_ictsi as _;
    use boxtrace_sim as _;
}
