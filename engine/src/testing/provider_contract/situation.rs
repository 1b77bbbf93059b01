//! The situations a provider is put in, and how its author arranges them.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{parse_container, RETRY_AFTER};
use crate::model::{ContainerNumber, TraceKind, TraceResult};
use crate::tracer::{PermanentReason, TraceError, Tracer};

/// A situation the provider author switches their fake server (or simulator) to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Situation {
    /// The provider has a record of the container, with some status for the trace kind.
    Found,
    /// The provider has no record of the container.
    NotFound,
    /// The provider rejects the credentials (401 or 403).
    CredentialsRejected,
    /// The provider asks to slow down (429) with `Retry-After` [`RETRY_AFTER`] (`120`).
    RateLimited,
    /// The provider fails (a 5xx).
    ServerError,
    /// The provider answers 200 with a body that does not parse.
    MalformedBody,
    /// The provider answers later than the trace timeout (or the provider's own request
    /// timeout, which must be shorter).
    Slow,
}

impl Situation {
    /// Every situation, in the order the contract arranges them.
    pub const ALL: [Situation; 7] = [
        Self::Found,
        Self::NotFound,
        Self::CredentialsRejected,
        Self::RateLimited,
        Self::ServerError,
        Self::MalformedBody,
        Self::Slow,
    ];

    /// A readable name, e.g. `rate limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::NotFound => "not found",
            Self::CredentialsRejected => "credentials rejected",
            Self::RateLimited => "rate limited",
            Self::ServerError => "server error",
            Self::MalformedBody => "malformed body",
            Self::Slow => "slow",
        }
    }

    /// What the answer in this situation must be (not used for [`Situation::Found`]).
    pub(super) fn rule(self) -> &'static str {
        match self {
            Self::Found => "Ok with a status for the trace kind",
            Self::NotFound => "Err(NotFound)",
            Self::CredentialsRejected => "Err(Permanent { reason: CredentialsRejected })",
            Self::RateLimited => "Err(RateLimited { retry_after: Some(120s) })",
            Self::ServerError | Self::MalformedBody => "Err(Transient)",
            Self::Slow => "Err(Transient), Err(TimedOut) or no answer before the trace timeout",
        }
    }

    pub(super) fn accepts(self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Self::NotFound, Some(Err(TraceError::NotFound))) => true,
            (Self::CredentialsRejected, Some(Err(TraceError::Permanent { reason, .. }))) => {
                *reason == PermanentReason::CredentialsRejected
            }
            (Self::RateLimited, Some(Err(TraceError::RateLimited { retry_after }))) => {
                *retry_after == Some(RETRY_AFTER)
            }
            (
                Self::ServerError | Self::MalformedBody | Self::Slow,
                Some(Err(TraceError::Transient { .. })),
            ) => true,
            (Self::Slow, Some(Err(TraceError::TimedOut { .. })) | None) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the provider author puts their provider in a [`Situation`]: switch the fake server,
/// and say what the trace should use. Each call describes the whole situation, so it
/// undoes whatever the previous one set (the contract calls it once per situation and
/// trace kind, [`Situation::Found`] first).
///
/// A closure `Fn(Situation, TraceKind) -> Arrangement` is an `Arrange`.
pub trait Arrange {
    /// Switches the provider to `situation` for a trace of `kind`.
    fn arrange(&self, situation: Situation, kind: TraceKind) -> Arrangement;
}

impl<F> Arrange for F
where
    F: Fn(Situation, TraceKind) -> Arrangement,
{
    fn arrange(&self, situation: Situation, kind: TraceKind) -> Arrangement {
        self(situation, kind)
    }
}

/// What the trace of one situation uses; by default the case's tracer, container and valid
/// `data`.
#[derive(Debug, Clone, Default)]
pub struct Arrangement {
    pub(super) tracer: Option<Arc<dyn Tracer>>,
    pub(super) container: Option<ContainerNumber>,
    pub(super) data: Map<String, Value>,
}

impl Arrangement {
    /// Traces with `tracer` instead of the case's (for a provider whose faults are fixed
    /// when it is built, such as a simulator). It must have the same id.
    pub fn with_tracer(mut self, tracer: Arc<dyn Tracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Traces `container` instead of the case's (for a fake keyed by container number).
    pub fn with_container(mut self, container: &str) -> Self {
        self.container = Some(parse_container(container));
        self
    }

    /// Sets `data.<key>` over the valid data of the trace kind (for a provider steered by
    /// its request data).
    pub fn with_data(mut self, key: &str, value: Value) -> Self {
        self.data.insert(key.to_owned(), value);
        self
    }
}

/// How one trace ended: an answer, or none within the trace timeout.
pub(super) type Outcome = Option<Result<TraceResult, TraceError>>;
