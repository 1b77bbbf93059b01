//! The engine's error type.

use crate::model::EventError;
use crate::store::StoreError;
use crate::tracer::ProviderBuildError;

/// An engine error. Each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event broke a rule of the contract: tell the client; nothing was stored.
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    /// The store failed: retry later; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A provider could not be built: fix the configuration.
    #[error(transparent)]
    Provider(#[from] ProviderBuildError),
    /// The engine is misconfigured: fix the builder call or configuration.
    #[error("engine configuration: {0}")]
    Config(String),
}

/// An engine result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
