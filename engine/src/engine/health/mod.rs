//! Provider health: a circuit breaker per provider and set of credentials, fed by the
//! outcome of every provider request (not of every box), and what it reports.
//!
//! With one set of credentials for every tenant (the usual case: one partner
//! subscription), a provider has one circuit, and its suspension holds for everyone. A
//! credentials source that answers per tenant gets one circuit per distinct set, so that
//! one tenant's rejected key never suspends the others. Circuits live in memory: a
//! restart closes them all, and each process of a shared store keeps its own.

mod circuit;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::metrics::EngineMetrics;
use crate::credentials::ProviderCredentials;
use crate::model::TraceResult;
use crate::tracer::{BreakerConfig, PermanentReason, TraceError};

pub use circuit::CircuitState;
pub(crate) use circuit::{Admission, Rejection, Verdict, Wait};

use circuit::{Cause, Circuit};

/// Identifies a set of credentials without keeping it: a keyed hash, random per process,
/// never logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CircuitKey(u64);

/// One provider's circuits.
#[derive(Debug)]
pub(crate) struct ProviderHealth {
    provider: String,
    config: BreakerConfig,
    hasher: std::collections::hash_map::RandomState,
    circuits: Mutex<HashMap<CircuitKey, Circuit>>,
}

/// A provider's health as operators see it (`/readyz` details): the worst of its
/// circuits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProviderHealthStatus {
    /// The provider id.
    pub provider: String,
    /// `closed` (tracing as usual), `halfOpen` (one probe request decides) or `open`
    /// (suspended: no requests until `retryAt`).
    pub circuit: CircuitState,
    /// Why it is not closed: `failures` (requests failed in a row) or
    /// `credentials_rejected` / `credentials_missing` (an operator must fix the
    /// provider's credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Since when it has not been closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// When the next probe may go, while open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    /// Sets of credentials whose circuit is not closed (1 with one set for everyone).
    pub suspended_credentials: usize,
}

impl ProviderHealth {
    pub(crate) fn new(provider: &str, config: BreakerConfig) -> Self {
        Self {
            provider: provider.to_owned(),
            config,
            hasher: std::collections::hash_map::RandomState::new(),
            circuits: Mutex::new(HashMap::new()),
        }
    }

    fn circuits(&self) -> std::sync::MutexGuard<'_, HashMap<CircuitKey, Circuit>> {
        self.circuits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The circuit of requests made with `credentials`.
    pub(crate) fn key(&self, credentials: &ProviderCredentials) -> CircuitKey {
        CircuitKey(self.hasher.hash_one(credentials))
    }

    /// Whether requests under `key` must wait now, without taking the probe: checked
    /// before a request queues for the provider's limits. `probe_wait` as for
    /// [`ProviderHealth::admit`].
    pub(crate) fn peek(
        &self,
        key: CircuitKey,
        now: DateTime<Utc>,
        probe_wait: Duration,
    ) -> Option<Wait> {
        self.circuits()
            .get(&key)
            .and_then(|c| c.peek(now, probe_wait))
    }

    /// Admits a request under `key` at `now`, or says until when its jobs wait. While a
    /// probe is on its way, others wait `probe_wait` (more than zero: a job told to wait
    /// until now would be claimed again at once), by when its outcome is known.
    pub(crate) fn admit<'a>(
        &'a self,
        key: CircuitKey,
        now: DateTime<Utc>,
        probe_wait: Duration,
        metrics: &EngineMetrics,
    ) -> Result<Permit<'a>, Wait> {
        let mut circuits = self.circuits();
        let Some(circuit) = circuits.get_mut(&key) else {
            return Ok(Permit::new(self, key, false));
        };
        let (admission, change) = circuit.admit(now, probe_wait);
        if let Some(to) = change {
            tracing::info!(
                provider = %self.provider,
                "provider circuit half-open: the cool-off is over, one probe request goes"
            );
            self.changed(&circuits, to, now, metrics);
        }
        match admission {
            Admission::Go => Ok(Permit::new(self, key, false)),
            Admission::Probe => Ok(Permit::new(self, key, true)),
            Admission::Wait(wait) => Err(wait),
        }
    }

    /// The provider's health at `now`.
    pub(crate) fn status(&self, now: DateTime<Utc>) -> ProviderHealthStatus {
        let circuits = self.circuits();
        let worst = circuits.values().max_by_key(|c| c.state(now));
        let opened = worst.and_then(Circuit::opened);
        ProviderHealthStatus {
            provider: self.provider.clone(),
            circuit: worst.map_or(CircuitState::Closed, |c| c.state(now)),
            cause: opened.map(|o| cause_name(o.cause).to_owned()),
            since: opened.map(|o| o.since),
            retry_at: opened.and_then(|o| o.until).filter(|u| *u > now),
            suspended_credentials: circuits
                .values()
                .filter(|c| c.state(now) != CircuitState::Closed)
                .count(),
        }
    }

    fn record(
        &self,
        key: CircuitKey,
        probe: bool,
        verdict: &Verdict,
        now: DateTime<Utc>,
        metrics: &EngineMetrics,
    ) -> Option<DateTime<Utc>> {
        let mut circuits = self.circuits();
        let circuit = circuits
            .entry(key)
            .or_insert_with(|| Circuit::new(self.config.clone()));
        let change = circuit.record(probe, verdict, now);
        let opened = circuit.opened().map(|o| (o.cause.clone(), o.until));
        if circuit.is_idle() {
            // Nothing to remember: keeps the map to the circuits that matter.
            circuits.remove(&key);
        }
        if let Some(to) = change {
            self.log(to, opened.as_ref(), verdict);
            self.changed(&circuits, to, now, metrics);
        }
        opened.and_then(|(_, until)| until)
    }

    fn changed(
        &self,
        circuits: &HashMap<CircuitKey, Circuit>,
        to: CircuitState,
        now: DateTime<Utc>,
        metrics: &EngineMetrics,
    ) {
        let worst = circuits
            .values()
            .map(|c| c.state(now))
            .max()
            .unwrap_or(CircuitState::Closed);
        metrics.circuit(&self.provider, to, worst);
    }

    fn log(&self, to: CircuitState, opened: Option<&(Cause, Option<DateTime<Utc>>)>, v: &Verdict) {
        let provider = &self.provider;
        match (to, opened) {
            (CircuitState::Open, Some((Cause::Credentials(rejection), until))) => {
                tracing::error!(
                    provider = %provider,
                    reason = rejection.reason.as_str(),
                    message = %rejection.message,
                    retry_at = ?until,
                    "provider circuit open: the provider rejected the operator's credentials; \
                     its jobs wait (each client gets one TRACE_ERROR) until a probe succeeds. \
                     Fix the provider's credentials (configuration or environment) and reload \
                     or restart"
                );
            }
            (CircuitState::Open, _) => {
                let retry_after = match v {
                    Verdict::Failed { retry_after } => *retry_after,
                    _ => None,
                };
                tracing::warn!(
                    provider = %provider,
                    failures = self.config.failures,
                    ?retry_after,
                    retry_at = ?opened.and_then(|o| o.1),
                    "provider circuit open: provider requests keep failing; no requests until \
                     the cool-off ends, and its jobs wait without using up their retries"
                );
            }
            (CircuitState::Closed, _) => {
                tracing::info!(provider = %provider, "provider circuit closed: the probe succeeded, tracing resumes");
            }
            (CircuitState::HalfOpen, _) => {}
        }
    }
}

/// A request's leave to call the provider. Its outcome must be recorded; dropped
/// unrecorded (nothing was sent), a probe is given back.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    health: &'a ProviderHealth,
    key: CircuitKey,
    probe: bool,
    recorded: bool,
}

impl<'a> Permit<'a> {
    fn new(health: &'a ProviderHealth, key: CircuitKey, probe: bool) -> Self {
        Self {
            health,
            key,
            probe,
            recorded: false,
        }
    }

    /// Records what the request revealed. Returns when the circuit lets requests go
    /// again if it is open now (the time suspended jobs wait for).
    pub(crate) fn record(
        mut self,
        verdict: &Verdict,
        now: DateTime<Utc>,
        metrics: &EngineMetrics,
    ) -> Option<DateTime<Utc>> {
        self.recorded = true;
        self.health
            .record(self.key, self.probe, verdict, now, metrics)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            if let Some(circuit) = self.health.circuits().get_mut(&self.key) {
                circuit.abandon_probe();
            }
        }
    }
}

/// What a request's answers reveal: a rejection of the credentials if any box got one,
/// healthy if any box got an answer, failed if none did.
pub(crate) fn verdict(answers: &[Result<TraceResult, TraceError>]) -> Verdict {
    if let Some(rejection) = answers
        .iter()
        .find_map(|a| a.as_ref().err().and_then(rejection))
    {
        return Verdict::Rejected(rejection);
    }
    let answered = answers.iter().any(|a| {
        matches!(
            a,
            Ok(_) | Err(TraceError::NotFound) | Err(TraceError::Permanent { .. })
        )
    });
    if answered || answers.is_empty() {
        return Verdict::Healthy;
    }
    Verdict::Failed {
        retry_after: answers
            .iter()
            .filter_map(|a| a.as_ref().err().and_then(TraceError::retry_after))
            .max(),
    }
}

/// The rejection, when `error` says the operator's credentials are rejected or missing:
/// only an operator can fix either, and every request under them would fail alike.
pub(crate) fn rejection(error: &TraceError) -> Option<Rejection> {
    match error {
        TraceError::Permanent {
            reason:
                reason @ (PermanentReason::CredentialsRejected | PermanentReason::CredentialsMissing),
            message,
        } => Some(Rejection {
            reason: *reason,
            message: message.clone(),
        }),
        _ => None,
    }
}

fn cause_name(cause: &Cause) -> &'static str {
    match cause {
        Cause::Failures => "failures",
        Cause::Credentials(rejection) => rejection.reason.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::testing::t0;
    use crate::Clock;
    use crate::ManualClock;

    fn ok() -> Result<TraceResult, TraceError> {
        Ok(TraceResult::new(Status::GatedIn, t0()))
    }

    fn down() -> Result<TraceResult, TraceError> {
        Err(TraceError::transient("502"))
    }

    fn rejected() -> Result<TraceResult, TraceError> {
        Err(TraceError::Permanent {
            reason: PermanentReason::CredentialsRejected,
            message: "401".into(),
        })
    }

    #[test]
    fn a_request_fails_only_when_no_box_got_an_answer() {
        assert_eq!(verdict(&[down(), ok()]), Verdict::Healthy);
        assert_eq!(
            verdict(&[down(), Err(TraceError::NotFound)]),
            Verdict::Healthy
        );
        let refused = Err(TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            message: "unknown terminal".into(),
        });
        assert_eq!(verdict(&[down(), refused]), Verdict::Healthy);
        let limited = Err(TraceError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(9)),
        });
        assert_eq!(
            verdict(&[down(), limited]),
            Verdict::Failed {
                retry_after: Some(std::time::Duration::from_secs(9))
            }
        );
        assert!(matches!(
            verdict(&[ok(), rejected()]),
            Verdict::Rejected(Rejection {
                reason: PermanentReason::CredentialsRejected,
                ..
            })
        ));
    }

    #[test]
    fn credentials_have_circuits_of_their_own_and_report_the_worst() {
        let clock = ManualClock::new(t0());
        let metrics = EngineMetrics::default();
        let health = ProviderHealth::new("p", BreakerConfig::default());
        let good = health.key(&ProviderCredentials::new().with("key", "good"));
        let bad = health.key(&ProviderCredentials::new().with("key", "bad"));
        assert_ne!(good, bad);
        let wait = Duration::seconds(40);
        let permit = health.admit(bad, clock.now(), wait, &metrics).unwrap();
        let until = permit.record(&verdict(&[rejected()]), clock.now(), &metrics);
        assert_eq!(until, Some(clock.now() + Duration::seconds(30)));
        assert!(health.peek(bad, clock.now(), wait).is_some());
        assert!(
            health.peek(good, clock.now(), wait).is_none(),
            "others go on"
        );
        assert!(health.admit(good, clock.now(), wait, &metrics).is_ok());

        let status = health.status(clock.now());
        assert_eq!(status.circuit, CircuitState::Open);
        assert_eq!(status.cause.as_deref(), Some("credentials_rejected"));
        assert_eq!(status.suspended_credentials, 1);
        assert_eq!(status.retry_at, until);

        // A probe admitted and dropped unsent is given back.
        clock.advance(Duration::seconds(30));
        drop(health.admit(bad, clock.now(), wait, &metrics).unwrap());
        let probe = health.admit(bad, clock.now(), wait, &metrics).unwrap();
        assert!(health.admit(bad, clock.now(), wait, &metrics).is_err());
        assert_eq!(probe.record(&Verdict::Healthy, clock.now(), &metrics), None);
        assert_eq!(health.status(clock.now()).circuit, CircuitState::Closed);
        let mut out = String::new();
        metrics.render_prometheus(&mut out);
        assert!(
            out.contains("boxtrace_provider_circuit_state{provider=\"p\"} 0"),
            "{out}"
        );
        for to in ["open", "half_open", "closed"] {
            let line = format!(
                "boxtrace_provider_circuit_transitions_total{{provider=\"p\",to=\"{to}\"}} 1"
            );
            assert!(out.contains(&line), "{line} in {out}");
        }
    }
}
