//! boxtrace: an embeddable engine that traces shipping containers at terminal and carrier
//! providers, re-traces each one at intervals that adapt to what it last found, and tells
//! the client application about every change.
//!
//! - [`Engine`]: takes events ([`Engine::handle_event`]), keeps jobs in a [`JobStore`],
//!   dispatches traces to [`Tracer`]s under per-provider limits, and emits
//!   [`ResultEvent`]s to a live [`Subscription`] and, when its store has one, to a
//!   durable [`Outbox`].
//! - [`Tracer`]: the provider interface. Provider crates register a factory with
//!   `inventory` ([`ProviderRegistration`]); an embedder can also pass instances.
//! - Stores: the engine runs on a [`JobStore`]; a backend may also offer an [`Outbox`] of
//!   result events for deliverers and [`Records`] for an adapter's own state ([`Store`]: all
//!   three). `SledStore` (feature `sled`, on by default): the embedded store
//!   (group-committed, crash-safe). With the feature `postgres`, `PostgresStore`: several
//!   processes on one PostgreSQL database.
//! - Delivery: [`Engine::deliver_to`] runs the outbox's result events to an adapter's
//!   [`Destinations`] (fan-out, a queue per destination, in order per container, retries,
//!   dead and replay); the adapter only delivers one event and says how it went.
//! - [`Policy`]: the adaptive re-trace rules. [`Clock`]: injected time.
//! - [`DcsaEquipmentEvent`]: result events carry their equipment events in DCSA Track &
//!   Trace 2.2 form too. With the feature `utoipa`, the model types that cross an API
//!   derive `utoipa::ToSchema`, for adapters that publish an OpenAPI document.
//!
//! # Example
//!
//! (On the embedded store: the example is only run with the feature `sled`.)
//!
#![cfg_attr(feature = "sled", doc = "```")]
#![cfg_attr(not(feature = "sled"), doc = "```ignore")]
//! use async_trait::async_trait;
//! use boxtrace::{
//!     DataError, Engine, ManualClock, ProviderCredentials, SledStore, Status, TraceError,
//!     TraceKind, TraceRequest, TraceResult, Tracer,
//! };
//! use serde_json::{Map, Value};
//!
//! /// A provider that always finds the box in the yard.
//! #[derive(Debug)]
//! struct Yard;
//!
//! #[async_trait]
//! impl Tracer for Yard {
//!     fn id(&self) -> &str { "yard" }
//!     fn validate(&self, _: TraceKind, _: &Map<String, Value>) -> Result<(), DataError> { Ok(()) }
//!     async fn trace(&self, _: &TraceRequest, _: &ProviderCredentials) -> Result<TraceResult, TraceError> {
//!         Ok(TraceResult::new(Status::GatedIn, chrono::Utc::now()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let clock = ManualClock::new(chrono::Utc::now());
//! let engine = Engine::builder()
//!     .store(SledStore::open_path(dir.path())?)
//!     .provider(Yard)
//!     .clock(clock.clone())
//!     .build()?;
//! let mut results = engine.subscribe();
//!
//! let accepted = engine.handle_event(br#"{
//!     "orgId": "acme", "svcId": "tms-1", "type": "CONTAINER",
//!     "action": "TRACE_EXPORT_REQUESTED", "origin": "doc",
//!     "payload": { "id": "CSQU3054383", "providerId": "yard",
//!                  "data": { "bookingNumber": "TASF883714" } }
//! }"#).await?;
//! assert_eq!(accepted.key.container, "CSQU3054383");
//!
//! engine.run_due().await?; // or engine.start() to run the dispatcher
//! let event = results.recv().await.expect("first result");
//! assert_eq!(event.payload.status, Some(Status::GatedIn));
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod clock;
mod credentials;
mod delivery;
mod engine;
mod error;
mod model;
mod schedule;
mod store;
mod tracer;

#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{AcceleratedClock, Clock, ManualClock, Sleep, SystemClock};
pub use credentials::{
    Credentials, CredentialsError, EnvCredentials, ProviderCredentials, Secret, StaticCredentials,
};
pub use delivery::{
    ActiveDestination, Delivery, DeliveryConfig, DeliveryHandle, DestinationId, Destinations,
    DestinationsError,
};
pub use engine::{
    Accepted, CircuitState, Engine, EngineBuilder, EngineConfig, EngineHandle, EngineMetrics,
    Histogram, ProviderHealthStatus, Subscription, DEFAULT_RETENTION,
};
pub use error::{Error, Result};
pub use model::*;
pub use schedule::{
    cohort_news, AppointmentPolicy, Backoff, CohortPolicy, Decision, EmptyIntervals,
    ExportIntervals, Policy, PolicyInput, PolicyRule, VisitPolicy,
};
pub use store::{
    Claimed, Committed, DueClaim, EventSeq, FanOutEntry, FeedCursor, FeedEntry, FeedPage, JobPage,
    JobStore, ListQuery, Outbox, OutboxClaim, OutboxEntry, OutboxStats, Records, Settlement, Store,
    StoreError, StoreResult, TraceCommit, Verdict, MAX_FEED_PAGE, RESULTS_QUEUE,
};
#[cfg(feature = "postgres")]
pub use store::{PostgresConfig, PostgresError, PostgresStore};
#[cfg(feature = "sled")]
pub use store::{SledConfig, SledStore};
pub use tracer::{
    build_provider, default_lookup_key, registered_providers, BreakerConfig, DataError,
    HttpSettings, PermanentReason, ProviderBuildError, ProviderContext, ProviderLimits,
    ProviderRegistration, TraceError, Tracer, Workflow,
};

/// Re-exported so that provider crates register with the same `inventory` version.
pub use inventory;
