//! The provider interface: [`Tracer`], its errors, its limits, and the provider registry.

mod registry;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::credentials::ProviderCredentials;
use crate::model::{ContainerId, TraceKind, TraceRequest, TraceResult};

pub use registry::{
    build_provider, registered_providers, HttpSettings, ProviderBuildError, ProviderContext,
    ProviderRegistration,
};

/// How a provider delivers updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Workflow {
    /// Every trace asks the provider now (a request/response API). Publishing an active
    /// container again forces an immediate trace.
    #[default]
    RealTime,
    /// The provider pushes or batches updates on its own schedule; a forced trace would
    /// find nothing new, so re-publishing changes nothing.
    ProviderDriven,
}

/// Politeness limits for one provider: the engine never exceeds them.
///
/// Built from the default with `with_*` methods, so that a new field never breaks a
/// provider:
///
/// ```
/// let limits = boxtrace::ProviderLimits::default()
///     .with_concurrency(4)
///     .with_rate(Some(5), 5)
///     .with_trace_timeout(std::time::Duration::from_secs(15));
/// assert_eq!(limits.concurrency, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderLimits {
    /// Traces running at once.
    pub concurrency: usize,
    /// Traces started per second, on average; `None` for no rate limit.
    pub rate_per_second: Option<u32>,
    /// Traces that may start at once after a quiet period.
    pub burst: u32,
    /// A trace that takes longer is abandoned and counted as a transient error. For a
    /// batch, the whole provider request.
    #[serde(with = "humantime_serde")]
    pub trace_timeout: Duration,
    /// Boxes of one batch key ([`Tracer::batch_key`]) traced in one provider request; 1
    /// (the default) traces every box alone. Concurrency and rate count requests, not
    /// boxes.
    pub batch_size: usize,
    /// How far ahead a request that has room takes jobs of its batch key that are not due
    /// yet: they are traced early, for free, and never later than their due time. Zero
    /// (the default) takes only jobs that are due.
    #[serde(with = "humantime_serde")]
    pub batch_window: Duration,
    /// When the provider is suspended for everyone: after repeated failed requests, or at
    /// once when it rejects the operator's credentials.
    pub breaker: BreakerConfig,
}

/// The provider's circuit breaker (`[provider.<id>.limits.breaker]`).
///
/// After `failures` provider requests in a row fail transiently (5xx, timeouts, 429), or
/// at once when the provider rejects the credentials, no request goes to the provider
/// (under those credentials) for `cool_off`; then one probe request goes, and its success
/// closes the circuit. A failed probe opens it again for twice as long, up to
/// `max_cool_off`. Jobs wait meanwhile; they are not traced and do not use up their
/// retries. Times are engine clock time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Failed provider requests in a row that open the circuit; 0 never opens it for
    /// transient failures (a credential rejection still does). A request fails when no
    /// box in it got an answer from the provider.
    pub failures: u32,
    /// How long the first opening lasts.
    #[serde(with = "humantime_serde")]
    pub cool_off: Duration,
    /// The longest opening, however many probes failed in a row.
    #[serde(with = "humantime_serde")]
    pub max_cool_off: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            // Five requests in a row: one unlucky box or a single 502 never suspends a
            // provider, and a real outage is noticed within seconds at the default rate.
            failures: 5,
            // Long enough for a gateway or a restarting backend to recover, short enough
            // that the first probe comes well within the delay a TMS tolerates.
            cool_off: Duration::from_secs(30),
            // A provider that stays down is probed every five minutes at most, so tracing
            // resumes within five minutes of its recovery (or of fixed credentials).
            max_cool_off: Duration::from_secs(5 * 60),
        }
    }
}

impl BreakerConfig {
    /// Sets the failed requests in a row that open the circuit (0: only credential
    /// rejections open it).
    pub fn with_failures(mut self, failures: u32) -> Self {
        self.failures = failures;
        self
    }

    /// Sets the first and the longest cool-off.
    pub fn with_cool_off(mut self, first: Duration, max: Duration) -> Self {
        self.cool_off = first;
        self.max_cool_off = max;
        self
    }
}

impl Default for ProviderLimits {
    fn default() -> Self {
        Self {
            concurrency: 16,
            rate_per_second: Some(20),
            burst: 20,
            trace_timeout: Duration::from_secs(30),
            batch_size: 1,
            batch_window: Duration::ZERO,
            breaker: BreakerConfig::default(),
        }
    }
}

impl ProviderLimits {
    /// Sets how many traces may run at once.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets the average rate (`None`: unlimited) and the burst.
    pub fn with_rate(mut self, per_second: Option<u32>, burst: u32) -> Self {
        self.rate_per_second = per_second;
        self.burst = burst;
        self
    }

    /// Sets the trace timeout.
    pub fn with_trace_timeout(mut self, timeout: Duration) -> Self {
        self.trace_timeout = timeout;
        self
    }

    /// Sets the boxes per provider request and how far ahead a request takes jobs that
    /// are not due yet.
    pub fn with_batch(mut self, size: usize, window: Duration) -> Self {
        self.batch_size = size;
        self.batch_window = window;
        self
    }

    /// Sets the circuit breaker.
    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }
}

/// A rule that the request's `data` breaks, found by [`Tracer::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DataError {
    /// The key inside `data`, e.g. `locationCode`.
    pub field: String,
    /// What is wrong and what is accepted, e.g. "must be one of MICT, SBITC".
    pub message: String,
}

impl DataError {
    /// A data error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a permanent trace error happened. Each stops tracking with a `TRACE_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermanentReason {
    /// The provider rejected the configured credentials (401/403): an operator must fix them.
    CredentialsRejected,
    /// The provider needs credentials and none are configured.
    CredentialsMissing,
    /// The provider refused this request for good (e.g. an unknown terminal).
    RequestRejected,
    /// The provider does not support this trace kind.
    Unsupported,
}

impl PermanentReason {
    /// The wire name, e.g. `credentials_rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialsRejected => "credentials_rejected",
            Self::CredentialsMissing => "credentials_missing",
            Self::RequestRejected => "request_rejected",
            Self::Unsupported => "unsupported",
        }
    }
}

/// A classified trace failure: it tells the scheduler what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The provider has no record of the container. Re-traced slowly, then given up.
    #[error("the provider has no record of the container")]
    NotFound,
    /// Worth retrying soon: 5xx, timeout, connection error, unparsable body.
    #[error("transient provider error: {message}")]
    Transient {
        /// What happened, free of secrets.
        message: String,
        /// The provider's hint, if any.
        retry_after: Option<Duration>,
    },
    /// The provider did not answer in time (the engine's trace timeout, or a provider's
    /// own HTTP timeout). Retried like [`TraceError::Transient`], but counted apart: a
    /// provider that is slow is a different problem from one that fails.
    #[error("the provider did not answer within {after:?}")]
    TimedOut {
        /// How long it was given.
        after: Duration,
    },
    /// The provider asked us to slow down (429).
    #[error("rate limited by the provider")]
    RateLimited {
        /// The provider's `Retry-After`, if given.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help until something changes (credentials, request).
    #[error("permanent provider error ({}): {message}", reason.as_str())]
    Permanent {
        /// Why.
        reason: PermanentReason,
        /// What happened, free of secrets.
        message: String,
    },
}

impl TraceError {
    /// A transient error without a retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// `not_found`, `transient`, `timeout`, `rate_limited` or `permanent`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Transient { .. } => "transient",
            Self::TimedOut { .. } => "timeout",
            Self::RateLimited { .. } => "rate_limited",
            Self::Permanent { .. } => "permanent",
        }
    }

    /// The provider's retry hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } | Self::RateLimited { retry_after } => *retry_after,
            Self::NotFound | Self::TimedOut { .. } | Self::Permanent { .. } => None,
        }
    }
}

/// A provider: traces containers at one terminal or carrier.
///
/// The contract every implementation keeps (checked by `boxtrace::testing`'s provider
/// contract test):
/// - `id` is stable, lower case, and the `providerId` clients send;
/// - `validate` refuses bad `data` at publish time, naming the key and the accepted values,
///   and tolerates keys it does not know;
/// - `trace` returns a normalized result whose status applies to the trace kind, or a
///   classified [`TraceError`]; it never puts a credential in an error or a log line;
/// - `trace` is cancel-safe: the engine drops the future on timeout and at shutdown.
#[async_trait]
pub trait Tracer: Send + Sync + fmt::Debug + 'static {
    /// The provider id, e.g. `ictsi`.
    fn id(&self) -> &str;

    /// How the provider delivers updates; decides whether re-publishing forces a trace.
    fn workflow(&self) -> Workflow {
        Workflow::RealTime
    }

    /// The limits that suit this provider by default; configuration may override them.
    fn limits(&self) -> ProviderLimits {
        ProviderLimits::default()
    }

    /// Checks the provider-specific `data` of a publish, before anything is stored.
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError>;

    /// Checks the container id of a publish, before anything is stored. With
    /// `data.normalize = false` the engine passes the id as the client gave it (trimmed),
    /// so a provider that puts the id in a query checks it here against what its API
    /// accepts. The error says what is wrong and what is accepted (it is reported for
    /// `payload.id`). The default accepts every id.
    fn validate_container(&self, _kind: TraceKind, _id: &ContainerId) -> Result<(), String> {
        Ok(())
    }

    /// Traces the container now. The engine sets the result's `traced_at`.
    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError>;

    /// Which requests may share one provider request (for a terminal API, the terminal):
    /// the engine hands [`Tracer::trace_batch`] only requests with equal keys. `None`
    /// (the default) traces the request alone.
    fn batch_key(&self, _request: &TraceRequest) -> Option<String> {
        None
    }

    /// The question this request asks the provider. Jobs whose keys are equal, of any
    /// tenant, share one lookup and each get a copy of its answer; so the key must hold
    /// every `data` field that changes what the provider reveals (a booking that unmasks
    /// the owner's fields, a terminal). The default holds the kind, the container and the
    /// whole of `data`, so that only identical requests share.
    fn lookup_key(&self, request: &TraceRequest) -> String {
        default_lookup_key(request)
    }

    /// Traces several containers in one provider request, one outcome per request in the
    /// same order, so that one bad box never fails the others. The engine calls it with
    /// requests of one [`Tracer::batch_key`], at most [`ProviderLimits::batch_size`] of
    /// them, and distinct [`Tracer::lookup_key`]s. The default traces them one by one.
    async fn trace_batch(
        &self,
        requests: &[TraceRequest],
        credentials: &ProviderCredentials,
    ) -> Vec<Result<TraceResult, TraceError>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            outcomes.push(self.trace(request, credentials).await);
        }
        outcomes
    }
}

/// The default [`Tracer::lookup_key`]: kind, container and `data` as canonical JSON (keys
/// sorted), so that two requests share a lookup only when they ask exactly the same.
pub fn default_lookup_key(request: &TraceRequest) -> String {
    let data =
        serde_json::to_string(&sorted(&Value::Object(request.data.clone()))).unwrap_or_default();
    format!(
        "{}|{}|{data}",
        request.key.kind.as_str(),
        request.container.as_str()
    )
}

/// `value` with every object's keys in order, whatever map `serde_json` was built with.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
