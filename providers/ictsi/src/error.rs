//! The crate's error: why an ICTSI tracer could not be built from its configuration.
//!
//! Trace failures are not errors of this crate: they are classified
//! [`TraceError`](boxtrace::TraceError)s that tell the engine's scheduler what to do.

use boxtrace::ProviderBuildError;

/// Why an [`IctsiTracer`](crate::IctsiTracer) could not be built. Each variant names the
/// configuration field to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `baseUrl` is not an absolute `http`/`https` URL.
    #[error("baseUrl: {url:?} is not an absolute http(s) URL ({reason})")]
    BaseUrl {
        /// The configured value.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration does not read as [`IctsiConfig`](crate::IctsiConfig).
    #[error("{path}: {message}")]
    Parse {
        /// Where, e.g. `limits.traceTimeout` (`.` for the whole configuration).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The camelCase field, e.g. `limits.concurrency`.
        field: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The HTTP client could not be built (for example, no TLS backend could start).
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for ProviderBuildError {
    fn from(error: Error) -> Self {
        ProviderBuildError::Config(format!("ictsi: {error}"))
    }
}
