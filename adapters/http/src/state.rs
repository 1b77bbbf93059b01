//! The state every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use boxtrace::{DeliveryHandle, Engine, Store};

use crate::auth::{Clients, OperatorToken, Tokens};
use crate::metrics::Metrics;
use crate::webhooks::{ssrf::Guard, Deliverer, Webhooks};

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The backend the engine runs on, whole: the adapter's records (web-hook
    /// registrations, API clients, console sign-outs). Its outbox is administered through
    /// [`AppState::deliveries`], never directly.
    pub store: Arc<dyn Store>,
    /// API clients.
    pub clients: Clients,
    /// Access tokens.
    pub tokens: Tokens,
    /// The operator token (`None`: the operator API and the console are off).
    pub operator: Option<OperatorToken>,
    /// Web-hook registrations.
    pub webhooks: Webhooks,
    /// The web-hook destination (pings, the console's activity).
    pub deliverer: Arc<Deliverer>,
    /// The engine's deliverer: queue stats, entries, replay, purge, wake-ups.
    pub deliveries: DeliveryHandle,
    /// The SSRF guard for registrations.
    pub guard: Guard,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Whether the server takes traffic (false while starting and stopping).
    pub ready: Arc<AtomicBool>,
}

impl AppState {
    /// Whether the server takes traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
