//! The provider contract: the rules every [`Tracer`] keeps, checked against a provider's own
//! tracer and its own fake server. Every provider crate runs it from its tests.
//!
//! # The contract
//!
//! Identity:
//! - `id()` MUST be non-empty, lower case and free of whitespace: it is the `providerId`
//!   clients send.
//! - A provider that registers with `inventory` MUST be listed by [`registered_providers`]
//!   under that id, with a description (checked when the case says
//!   [`ContractCase::registered`]).
//! - `limits()` MUST allow at least one trace at a time and give a non-zero trace timeout.
//!
//! Validation, at publish time:
//! - `validate` MUST accept the valid `data` of each trace kind the provider traces, and
//!   MUST tolerate a key it does not know ([`UNKNOWN_KEY`] is added to the valid data).
//! - `validate` MUST refuse each invalid example with a [`DataError`] whose `field` is the
//!   key at fault and whose message is not empty.
//!
//! Tracing, in each [`Situation`] the provider's fake is switched to:
//! - found: `trace` MUST answer `Ok` with a status other than `NOT_FOUND` that
//!   [applies to][applies] the trace kind, events oldest first; tracing the same unchanged
//!   situation again MUST give a result with the [same content][same].
//! - not found: MUST be [`TraceError::NotFound`].
//! - credentials rejected (401/403): MUST be [`TraceError::Permanent`] with
//!   [`PermanentReason::CredentialsRejected`].
//! - rate limited with `Retry-After` [`RETRY_AFTER`]: MUST be [`TraceError::RateLimited`]
//!   with `retry_after` `Some(RETRY_AFTER)`.
//! - server error (5xx), malformed body: MUST be [`TraceError::Transient`].
//! - slow past the timeout: MUST be [`TraceError::Transient`] or [`TraceError::TimedOut`],
//!   or still pending at the trace timeout (the engine drops the trace then and counts a
//!   timeout).
//! - In every other situation `trace` MUST answer within the trace timeout.
//!
//! Batches, for a provider that traces several boxes per request
//! ([`ProviderLimits::batch_size`] above 1 MUST come with a [`ContractCase::batch`]):
//! in the found situation, a found, a not-found and a failing box
//! - MUST share one batch key, and ask distinct questions (lookup keys);
//! - `trace_batch` of the three MUST answer three outcomes, in order, within the trace
//!   timeout: the found box `Ok` with a status for the kind and the same content as when
//!   traced alone, the not-found box [`TraceError::NotFound`], the failing box an error
//!   other than `NotFound`. One bad box never fails the others.
//!
//! Secrets:
//! - A credential value MUST NOT appear in any error's `Display` or `Debug`, in a result's
//!   `Debug`, or in any event or span field the trace logs through `tracing` (captured for
//!   the trace's own task; work the provider spawns elsewhere is not seen).
//!
//! A situation the provider cannot be put in is skipped with [`ContractCase::skip`] and a
//! reason, never silently; the [`ContractReport`] lists what was skipped.
//!
//! [`registered_providers`]: crate::registered_providers
//! [`DataError`]: crate::DataError
//! [applies]: crate::Status::applies_to
//! [same]: crate::TraceResult::same_content
//! [`TraceError::NotFound`]: crate::TraceError::NotFound
//! [`TraceError::Permanent`]: crate::TraceError::Permanent
//! [`TraceError::RateLimited`]: crate::TraceError::RateLimited
//! [`TraceError::Transient`]: crate::TraceError::Transient
//! [`TraceError::TimedOut`]: crate::TraceError::TimedOut
//! [`PermanentReason::CredentialsRejected`]: crate::PermanentReason::CredentialsRejected
//! [`ProviderLimits::batch_size`]: crate::ProviderLimits::batch_size
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use boxtrace::testing::provider_contract::{Arrangement, ContractCase, Situation};
//! use boxtrace::{TraceKind, Tracer};
//! use serde_json::json;
//!
//! # async fn example(tracer: Arc<dyn Tracer>) {
//! // `tracer` is the provider, pointed at its fake server.
//! let report = ContractCase::new(tracer)
//!     .registered()
//!     .credential("apiKey", "contract-api-key-5f1c")
//!     .container("CSQU3054383")
//!     .valid_data(TraceKind::Export, json!({ "terminal": "T1", "bookingNumber": "B1" }))
//!     .valid_data(TraceKind::Empty, json!({ "terminal": "T1" }))
//!     .invalid_data(TraceKind::Empty, json!({}), "terminal")
//!     .invalid_data(TraceKind::Export, json!({ "terminal": "T1" }), "bookingNumber")
//!     .skip(Situation::MalformedBody, "the API answers in a binary format")
//!     .run(|situation: Situation, _kind: TraceKind| {
//!         // Switch the fake server to `situation` here (undoing the previous one).
//!         let _ = situation;
//!         Arrangement::default()
//!     })
//!     .await;
//! println!("{report}");
//! # }
//! ```

// Test support: a broken rule is a panic with a message that names it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch;
mod capture;
mod run;
mod situation;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

pub use self::situation::{Arrange, Arrangement, Situation};

use self::run::Run;
use crate::credentials::{ProviderCredentials, Secret};
use crate::model::{ContainerNumber, TraceKind};
use crate::tracer::Tracer;

/// The `Retry-After` a provider is made to send in [`Situation::RateLimited`]: 120 s.
pub const RETRY_AFTER: Duration = Duration::from_secs(120);

/// The key the contract adds to valid `data` to check that unknown keys are tolerated.
pub const UNKNOWN_KEY: &str = "contractUnknownKey";

const KINDS: [TraceKind; 2] = [TraceKind::Export, TraceKind::Empty];

/// One provider's contract test: its tracer, credentials, valid and invalid `data`, and
/// the situations it cannot be put in. [`ContractCase::run`] checks every rule of the
/// [module documentation](self).
#[derive(Debug)]
pub struct ContractCase {
    tracer: Arc<dyn Tracer>,
    registered: bool,
    credentials: ProviderCredentials,
    secrets: Vec<(String, Secret)>,
    container: ContainerNumber,
    valid: Vec<(TraceKind, Map<String, Value>)>,
    without: Vec<(TraceKind, String)>,
    invalid: Vec<(TraceKind, Map<String, Value>, String)>,
    skipped: Vec<(Situation, String)>,
    trace_timeout: Option<Duration>,
    batch: Option<batch::BatchCase>,
}

impl ContractCase {
    /// A case for `tracer`, tracing `TSTU` container 1 ([`super::container`]) without
    /// credentials.
    pub fn new(tracer: Arc<dyn Tracer>) -> Self {
        Self {
            tracer,
            registered: false,
            credentials: ProviderCredentials::new(),
            secrets: Vec::new(),
            container: super::container(1),
            valid: Vec::new(),
            without: Vec::new(),
            invalid: Vec::new(),
            skipped: Vec::new(),
            trace_timeout: None,
            batch: None,
        }
    }

    /// Checks that the provider is registered with `inventory` under its id (the test binary
    /// must name the provider crate: `use my_provider as _;`).
    pub fn registered(mut self) -> Self {
        self.registered = true;
        self
    }

    /// Passes the credential `name` with `value` to every trace, and checks that `value`
    /// leaks nowhere. Use a distinctive value of 8 characters or more.
    pub fn credential(mut self, name: &str, value: &str) -> Self {
        assert!(
            value.chars().count() >= 8,
            "provider contract: credential `{name}` needs a distinctive value of 8 characters \
             or more, so that finding it in an error means a leak"
        );
        self.credentials.insert(name, value);
        self.secrets.push((name.to_owned(), Secret::new(value)));
        self
    }

    /// Traces `container` (an ISO 6346 number) unless an arrangement says otherwise.
    pub fn container(mut self, container: &str) -> Self {
        self.container = parse_container(container);
        self
    }

    /// `data` (a JSON object) that `validate` accepts for `kind`, traced in every situation.
    pub fn valid_data(mut self, kind: TraceKind, data: Value) -> Self {
        self.valid.push((kind, object(data, "valid_data")));
        self
    }

    /// Says why the provider does not trace `kind`: no valid data is needed for it, and no
    /// trace of it is made.
    pub fn without_kind(mut self, kind: TraceKind, reason: &str) -> Self {
        self.without.push((kind, reason.to_owned()));
        self
    }

    /// `data` (a JSON object) that `validate` must refuse for `kind`, naming `field`.
    pub fn invalid_data(mut self, kind: TraceKind, data: Value, field: &str) -> Self {
        self.invalid
            .push((kind, object(data, "invalid_data"), field.to_owned()));
        self
    }

    /// Skips `situation`, which the provider cannot be put in, for `reason`.
    pub fn skip(mut self, situation: Situation, reason: &str) -> Self {
        self.skipped.push((situation, reason.to_owned()));
        self
    }

    /// Checks batches of `kind`: in the [`Situation::Found`] arrangement, `found` (a box
    /// the provider has), `not_found` (one it has not) and `failing` (one it fails for,
    /// say a record it cannot read) are traced in one `trace_batch` call. Each arrangement
    /// sets the box's container and `data` over the valid data; the found one's tracer,
    /// if given, traces the batch.
    pub fn batch(
        mut self,
        kind: TraceKind,
        found: Arrangement,
        not_found: Arrangement,
        failing: Arrangement,
    ) -> Self {
        self.batch = Some(batch::BatchCase {
            kind,
            found,
            not_found,
            failing,
        });
        self
    }

    /// How long a trace may take: default the tracer's `limits().trace_timeout`, as the
    /// engine uses it.
    pub fn trace_timeout(mut self, timeout: Duration) -> Self {
        self.trace_timeout = Some(timeout);
        self
    }

    fn redact(&self, mut text: String) -> String {
        for (_, secret) in &self.secrets {
            text = text.replace(secret.expose(), "***");
        }
        text
    }

    /// Runs every check, arranging each situation with `arrange`. Panics with every broken
    /// rule; returns (and prints) what passed and what was skipped.
    pub async fn run(self, arrange: impl Arrange) -> ContractReport {
        let mut run = Run {
            report: ContractReport {
                provider: self.tracer.id().to_owned(),
                ..ContractReport::default()
            },
            failures: Vec::new(),
            case: &self,
        };
        run.identity();
        for kind in KINDS {
            run.kind(kind, &arrange).await;
        }
        run.batch(&arrange).await;
        for (situation, reason) in &self.skipped {
            run.report.skipped.push(format!("{situation}: {reason}"));
        }
        let report = run.report;
        let mut failures = run.failures;
        // One line per broken rule, even when both traces of a situation break it.
        let mut seen = std::collections::HashSet::new();
        failures.retain(|failure| seen.insert(failure.clone()));
        if !failures.is_empty() {
            // The messages quote what the provider answered: never with a credential in it.
            let count = failures.len();
            let failures = self.redact(failures.join("\n  - "));
            panic!(
                "provider `{}` breaks the provider contract \
                 (boxtrace::testing::provider_contract), {} failure(s):\n  - {failures}\n{report}",
                report.provider, count,
            );
        }
        println!("{report}");
        report
    }
}

/// What a contract run checked: the rules that passed and the situations or kinds skipped.
#[derive(Debug, Clone, Default)]
pub struct ContractReport {
    provider: String,
    passed: Vec<String>,
    skipped: Vec<String>,
}

impl ContractReport {
    /// The provider id.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Each check that passed, e.g. `EXPORT rate limited: Err(RateLimited { … })`.
    pub fn passed(&self) -> &[String] {
        &self.passed
    }

    /// Each situation or kind skipped, with its reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

impl fmt::Display for ContractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "provider contract of `{}`: {} checks passed, {} skipped",
            self.provider,
            self.passed.len(),
            self.skipped.len()
        )?;
        for skipped in &self.skipped {
            write!(f, "\n  skipped {skipped}")?;
        }
        Ok(())
    }
}

fn parse_container(container: &str) -> ContainerNumber {
    ContainerNumber::parse(container).unwrap_or_else(|e| {
        panic!("provider contract: `{container}` is not a valid container number: {e}")
    })
}

fn object(data: Value, what: &str) -> Map<String, Value> {
    match data {
        Value::Object(map) => map,
        other => panic!("provider contract: {what} must be a JSON object; got {other}"),
    }
}
