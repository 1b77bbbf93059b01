//! boxtrace-sim: a simulated container terminal for demos, tests and benchmarks.
//!
//! Every box the terminal is asked about has a lifecycle drawn from a seed, the trace
//! kind and the container id, anchored at an epoch: an export box's booking opens, the
//! box is expected, gates in, meets a hold in about a third of cases, is loaded and
//! leaves with its vessel within about a week; an empty becomes receivable and is
//! returned within four days. A trace answers with the lifecycle's state at the clock's
//! time, so a [`ManualClock`](boxtrace::ManualClock) or an
//! [`AcceleratedClock`](boxtrace::AcceleratedClock) runs days of terminal life in
//! seconds. Latency and faults (transient, timeout, rate limited) are configurable, and
//! seeded too.
//!
//! The request's `data.scenario` steers one box: `standard` (default), `hold`, `no-hold`,
//! `not-found` or `rejected` (see [`Scenario`]).
//!
//! Linking this crate registers the provider `sim` ([`build`] is its factory); it can
//! also be built directly with [`SimTracer::new`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use boxtrace::{ManualClock, ProviderContext, Status, TraceKind};
//! use boxtrace_sim::{SimConfig, SimTracer};
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let epoch = Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).single().ok_or("epoch")?;
//! let clock = ManualClock::new(epoch);
//! let config = SimConfig { seed: 7, ..SimConfig::default() };
//! let sim = SimTracer::new(config, Arc::new(clock));
//!
//! // The whole life of an export box, and the answer at any instant of it.
//! let data = json!({ "bookingNumber": "TASF883714", "scenario": "hold" });
//! let data = data.as_object().ok_or("an object")?;
//! let timeline = sim.timeline(TraceKind::Export, "CSQU3054383", data);
//! assert_eq!(timeline.first().map(|c| c.1), Some(Status::BookingNotFound));
//! assert!(timeline.iter().any(|c| c.1 == Status::OnHold));
//! assert_eq!(timeline.last().map(|c| c.1), Some(Status::Departed));
//! for (at, status) in &timeline {
//!     let result = sim.result_at(TraceKind::Export, "CSQU3054383", data, *at)?;
//!     assert_eq!(result.status, *status);
//! }
//!
//! // Or from the registry, as a binary that links this crate does.
//! let cx = ProviderContext::new().with_config(json!({ "seed": 7, "latency": "5ms" }));
//! let tracer = boxtrace::build_provider("sim", cx)?;
//! assert_eq!(tracer.id(), "sim");
//! # Ok(())
//! # }
//! ```
//!
//! # Configuration
//!
//! [`SimConfig`], camelCase, every field optional: `seed` (42), `epoch` (the clock's time
//! at build), `latency` (`0s`), `faults` (`transient`, `timeout`, `rateLimited`: 0;
//! `retryAfter`: `30s`), `workflow` (`realTime`), `limits` (concurrency 1,024, no rate
//! limit, trace timeout 10 s).
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod faults;
mod lifecycle;
mod scenario;
mod seed;
mod tracer;

use std::sync::Arc;

use boxtrace::{ProviderBuildError, ProviderContext, ProviderRegistration, Tracer};

pub use config::{FaultConfig, SimConfig};
pub use scenario::Scenario;
pub use tracer::SimTracer;

/// The registry's factory for `sim`: reads [`SimConfig`] from the context's configuration
/// (refusing fault rates that are not probabilities) and uses the context's clock.
pub fn build(cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
    let config: SimConfig = cx.config()?;
    config.check()?;
    Ok(Arc::new(SimTracer::new(config, cx.clock)))
}

boxtrace::inventory::submit! {
    ProviderRegistration::new(
        "sim",
        "Simulated terminal: seeded realistic lifecycles, latency and faults",
        build,
    )
}
