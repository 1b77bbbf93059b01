//! boxtrace-sim: a simulated container terminal for demos, tests and benchmarks.
//!
//! The default model (`vessels`) has the structure of a real export terminal: vessel calls
//! that many boxes share, each with a receiving window, a cut-off, an arrival estimate
//! revised over time, a berth, a working window and a departure; export boxes that gate in
//! in appointment slots bunched before the cut-off (some trucks late), meet holds, are
//! loaded while their vessel works and sometimes roll to the next call; empties that come
//! back days later, most in a booked slot. Its API answers a container lookup of up to
//! `batchSize` boxes of one terminal per request and a vessel-visit lookup, counts every
//! request by kind ([`SimTracer::requests`]), and shows each change after a configurable
//! lag. Lives are drawn from the seed, or replayed from a lifecycle file (JSON Lines; see
//! `README.md` and [`Lifecycles`]). The lifecycles of 2026-11, every box drawn on its own,
//! remain as the `independent` model, so that figures measured on them reproduce.
//!
//! A trace answers with the box's life at the clock's time, so a
//! [`ManualClock`](boxtrace::ManualClock) or an
//! [`AcceleratedClock`](boxtrace::AcceleratedClock) runs days of terminal life in seconds.
//! Latency and faults (transient, timeout, rate limited) are configurable and seeded.
//!
//! The request's `data.locationCode` names the terminal (default `SIM`), and
//! `data.scenario` steers one box: `not-found` or `rejected` under either model, and
//! `standard`, `hold`, `no-hold` under the `independent` one (see [`Scenario`]).
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
//! // The whole life of an export box at MICT, and the answer at any instant of it.
//! let data = json!({ "bookingNumber": "TASF883714", "locationCode": "MICT" });
//! let data = data.as_object().ok_or("an object")?;
//! let timeline = sim.timeline(TraceKind::Export, "CSQU3054383", data);
//! assert!(timeline.iter().any(|c| c.1 == Status::GatedIn));
//! assert_eq!(timeline.last().map(|c| c.1), Some(Status::Departed));
//! let lag = chrono::Duration::from_std(sim.config().lag)?;
//! for (at, status) in &timeline {
//!     // The terminal's API shows a change once its lag has passed.
//!     let result = sim.result_at(TraceKind::Export, "CSQU3054383", data, *at + lag)?;
//!     assert_eq!(result.status, *status);
//! }
//! // Every box of the call shares its vessel visit.
//! let loaded = sim.result_at(TraceKind::Export, "CSQU3054383", data, timeline[timeline.len() - 2].0 + lag)?;
//! assert!(loaded.visit.is_some_and(|v| v.id.starts_with("MICT")));
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
//! [`SimConfig`], camelCase, every field optional: `model` (`vessels`), `lifecycles` (a
//! file to replay), `vessels` (the [`VesselModel`]), `lag` (`2m`), `batchSize` (20),
//! `visitTtl` (`15m`), `defaultTerminal` (`SIM`), `seed` (42), `epoch` (the clock's time
//! at build), `latency` (`0s`), `faults` (`transient`, `timeout`, `rateLimited`: 0;
//! `retryAfter`: `30s`), `workflow` (`realTime`), `limits` (concurrency 1,024, no rate
//! limit, trace timeout 10 s, batches of `batchSize` taking jobs due within 15 min).
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod faults;
mod lifecycle;
mod scenario;
mod seed;
mod terminal;
mod tracer;
mod visits;

use std::sync::Arc;

use boxtrace::{ProviderBuildError, ProviderContext, ProviderRegistration, Tracer};

pub use config::{FaultConfig, SimConfig, SimModel};
pub use scenario::Scenario;
pub use terminal::{
    BoxLife, BoxState, Change, Fleet, LifecycleError, Lifecycles, RequestCounts, ScheduleEntry,
    TerminalApi, VesselModel, Visit, VisitState,
};
pub use tracer::SimTracer;

/// The registry's factory for `sim`: reads [`SimConfig`] from the context's configuration
/// (refusing fault rates that are not probabilities) and uses the context's clock.
pub fn build(cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
    let config: SimConfig = cx.config()?;
    config.check()?;
    match &config.lifecycles {
        Some(path) => {
            let lifecycles = Lifecycles::read_file(path)
                .map_err(|e| ProviderBuildError::Config(format!("lifecycles: {e}")))?;
            tracing::info!(
                file = %path.display(),
                visits = lifecycles.visits().count(),
                containers = lifecycles.boxes().count(),
                "the simulated terminal replays a lifecycle file"
            );
            Ok(Arc::new(SimTracer::with_lifecycles(
                config, cx.clock, lifecycles,
            )))
        }
        None => Ok(Arc::new(SimTracer::new(config, cx.clock))),
    }
}

boxtrace::inventory::submit! {
    ProviderRegistration::new(
        "sim",
        "Simulated terminal: seeded realistic lifecycles, latency and faults",
        build,
    )
}
