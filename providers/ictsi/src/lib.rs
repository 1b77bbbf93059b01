//! boxtrace-ictsi: the ICTSI terminal provider (Manila `MICT`, Subic Bay `SBITC`).
//!
//! Traces export boxes (from pre-advice to the vessel's departure) and empty returns at
//! ICTSI's terminals through its partner track-and-trace API, and maps what ICTSI answers
//! to boxtrace's normalized result: status, DCSA equipment events, UN/LOCODE and facility,
//! vessel and voyage, holds and key dates.
//!
//! - Request `data`: `locationCode` (`MICT` or `SBITC`), and `bookingNumber` for exports.
//! - Credentials, from the engine's credentials source (never from `data`):
//!   `subscriptionKey` and `subscriptionId`; with the default environment source,
//!   `BOXTRACE_ICTSI_SUBSCRIPTION_KEY` and `BOXTRACE_ICTSI_SUBSCRIPTION_ID`.
//! - Configuration: [`IctsiConfig`] (base URL, timeouts, user agent, limits with the
//!   batch size, vessel visit cache).
//! - Batches: up to `limits.batchSize` boxes ([`DEFAULT_BATCH_SIZE`]) of one terminal,
//!   container type and booking in one container details call (comma-separated
//!   `container-number`), each with its own outcome; bookings are never mixed in a call,
//!   because ICTSI unmasks a record under any booking named.
//! - Every value put in a query matches a strict pattern, checked at publish time
//!   ([`Tracer::validate_container`](boxtrace::Tracer::validate_container) for the id,
//!   also with `data.normalize = false`) and again before it is sent.
//!
//! Linking this crate registers the provider `ictsi` ([`build`] is its factory); it can
//! also be built directly with [`IctsiTracer::new`].
//!
//! # Example
//!
//! ```
//! use boxtrace::{ProviderContext, TraceKind};
//! use serde_json::json;
//! // A binary names the provider crates it ships, or the linker drops their registration.
//! use boxtrace_ictsi as _;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cx = ProviderContext::new().with_config(json!({
//!     "baseUrl": "https://api.ictsi.net/external/tnt/",
//!     "limits": { "concurrency": 2 }
//! }));
//! let ictsi = boxtrace::build_provider("ictsi", cx)?;
//! assert_eq!(ictsi.id(), "ictsi");
//! assert_eq!(ictsi.limits().concurrency, 2);
//! assert_eq!(ictsi.limits().rate_per_second, Some(5)); // polite by default
//! assert_eq!(ictsi.limits().batch_size, 20); // boxes per container details call
//!
//! let data = json!({ "locationCode": "MNL", "bookingNumber": "TASF883714" });
//! let refused = ictsi.validate(TraceKind::Export, data.as_object().ok_or("object")?);
//! assert_eq!(refused.unwrap_err().to_string(), "locationCode: must be one of MICT, SBITC");
//! # Ok(())
//! # }
//! ```
//!
//! # What was confirmed
//!
//! ICTSI publishes no open documentation. Paths, headers and field names follow public
//! integration pages and a public source tree that appears to be the API's backend; the
//! wire format is kept in one module so that a correction is a one-line change. See the
//! crate's README for what is and is not confirmed.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod ask;
mod cache;
mod client;
mod config;
mod error;
mod lookup;
mod mapping;
mod patterns;
mod response;
mod select;
mod terminal;
mod tracer;
mod wire;

use std::sync::Arc;

use boxtrace::{ProviderBuildError, ProviderContext, ProviderRegistration, Tracer};

pub use config::{IctsiConfig, DEFAULT_BASE_URL, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};
pub use error::{Error, Result};
pub use terminal::Terminal;
pub use tracer::{IctsiTracer, PROVIDER_ID};

/// The registry's factory for `ictsi`: reads [`IctsiConfig`] from the context's
/// configuration (`null` for the defaults), checks it, and builds the HTTP client.
pub fn build(cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
    let config = IctsiConfig::from_value(&cx.config)?;
    Ok(Arc::new(IctsiTracer::new(config, &cx)?))
}

boxtrace::inventory::submit! {
    ProviderRegistration::new(
        "ictsi",
        "ICTSI terminals (MICT Manila, SBITC Subic Bay): export and empty traces",
        build,
    )
}
