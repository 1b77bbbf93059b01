//! The provider registry: provider crates register a factory with `inventory`, binaries
//! build providers by id.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Tracer;
use crate::clock::{Clock, SystemClock};

/// HTTP client settings a provider that speaks HTTP should honour.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for a whole request.
    pub request_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            user_agent: concat!("boxtrace/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// What a provider factory gets: the engine's clock, the provider's own configuration,
/// HTTP settings and the engine's shutdown signal. Fields are added here, never to the
/// factory's signature, so that adding one never breaks a provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderContext {
    /// The engine's clock.
    pub clock: Arc<dyn Clock>,
    /// The provider's section of the configuration (`null` when there is none).
    pub config: serde_json::Value,
    /// HTTP client settings.
    pub http: HttpSettings,
    /// Cancelled when the engine shuts down; background tasks of the provider stop then.
    pub shutdown: CancellationToken,
}

impl ProviderContext {
    /// A context with the system clock, no configuration and default HTTP settings.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            config: serde_json::Value::Null,
            http: HttpSettings::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `config` as the provider's configuration.
    pub fn with_config(mut self, config: serde_json::Value) -> Self {
        self.config = config;
        self
    }

    /// Uses `http` settings.
    pub fn with_http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Uses `shutdown` as the shutdown signal.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Deserializes the provider's configuration into `T` (`null` gives `T::default()`).
    pub fn config<T>(&self) -> Result<T, ProviderBuildError>
    where
        T: serde::de::DeserializeOwned + Default,
    {
        if self.config.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.config.clone())
            .map_err(|e| ProviderBuildError::Config(e.to_string()))
    }
}

impl Default for ProviderContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a provider could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderBuildError {
    /// No provider with this id is linked into the binary.
    #[error("no provider '{id}' is registered; registered: {registered}")]
    Unknown {
        /// The id asked for.
        id: String,
        /// The ids that are registered, comma-separated.
        registered: String,
    },
    /// The provider's configuration is invalid.
    #[error("invalid provider configuration: {0}")]
    Config(String),
}

/// A provider factory, registered by a provider crate:
///
/// ```
/// # use std::sync::Arc;
/// # use boxtrace::{ProviderContext, ProviderRegistration, ProviderBuildError, Tracer};
/// fn build(cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
///     # unimplemented!()
///     // Ok(Arc::new(MyTracer::new(cx.config()?, cx.clock)))
/// }
/// inventory::submit! {
///     ProviderRegistration::new("my-terminal", "My terminal's track and trace API", build)
/// }
/// ```
pub struct ProviderRegistration {
    id: &'static str,
    description: &'static str,
    build: fn(ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError>,
}

impl ProviderRegistration {
    /// A registration for provider `id`.
    pub const fn new(
        id: &'static str,
        description: &'static str,
        build: fn(ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError>,
    ) -> Self {
        Self {
            id,
            description,
            build,
        }
    }

    /// The provider id.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// A one-line description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// Builds the provider.
    pub fn build(&self, cx: ProviderContext) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
        (self.build)(cx)
    }
}

impl fmt::Debug for ProviderRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderRegistration")
            .field("id", &self.id)
            .field("description", &self.description)
            .finish()
    }
}

inventory::collect!(ProviderRegistration);

/// Every provider linked into this binary, sorted by id.
///
/// The linker drops a crate that nothing references, and its registration with it: a
/// binary names each provider crate it ships (`use boxtrace_sim as _;`).
pub fn registered_providers() -> Vec<&'static ProviderRegistration> {
    let mut all: Vec<_> = inventory::iter::<ProviderRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|r| r.id);
    all
}

/// Builds the registered provider `id`.
pub fn build_provider(
    id: &str,
    cx: ProviderContext,
) -> Result<Arc<dyn Tracer>, ProviderBuildError> {
    let all = registered_providers();
    match all.iter().find(|r| r.id.eq_ignore_ascii_case(id)) {
        Some(registration) => registration.build(cx),
        None => Err(ProviderBuildError::Unknown {
            id: id.to_owned(),
            registered: all.iter().map(|r| r.id).collect::<Vec<_>>().join(", "),
        }),
    }
}
