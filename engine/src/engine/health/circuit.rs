//! One circuit breaker's state machine: closed, open for a cool-off, half-open with one
//! probe. Pure: every call takes the time, so tests drive it with a manual clock.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::clock::after;
use crate::tracer::{BreakerConfig, PermanentReason};

/// Where a provider's circuit breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum CircuitState {
    /// Requests go to the provider as usual.
    Closed,
    /// The cool-off is over: one probe request may go (or is on its way); its outcome
    /// closes the circuit or opens it again.
    HalfOpen,
    /// The provider is suspended: no request goes until the cool-off ends.
    Open,
}

impl CircuitState {
    /// `closed`, `half_open` or `open`, as in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }

    /// The value of the `boxtrace_provider_circuit_state` gauge: 0, 1 or 2.
    pub fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// The provider rejected the credentials: what it said, for the jobs' `TRACE_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) reason: PermanentReason,
    /// The tracer's message, free of secrets.
    pub(crate) message: String,
}

/// What one provider request revealed about the provider's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The provider answered (a result, not found, or a refusal of one box).
    Healthy,
    /// No box got an answer: 5xx, timeouts, 429.
    Failed {
        /// The provider's hint, the longest of the request's.
        retry_after: Option<std::time::Duration>,
    },
    /// The provider rejected the credentials the request was made with.
    Rejected(Rejection),
}

/// Why a circuit is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Requests failed `failures` times in a row (or the probe failed).
    Failures,
    /// The provider rejected the credentials.
    Credentials(Rejection),
}

/// A request may not go now: its jobs wait until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) until: DateTime<Utc>,
    /// Set when the provider rejected the credentials: the jobs' clients hear it once.
    pub(crate) rejected: Option<Rejection>,
}

/// What a circuit lets a request do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed: go.
    Go,
    /// Half-open: go as the one probe; its outcome decides.
    Probe,
    /// Open, or a probe is on its way: wait.
    Wait(Wait),
}

/// A circuit that is not closed: since when, why, and (while open) until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened<'a> {
    pub(crate) since: DateTime<Utc>,
    pub(crate) cause: &'a Cause,
    pub(crate) until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        cause: Cause,
    },
    HalfOpen {
        since: DateTime<Utc>,
        cause: Cause,
        probing: bool,
    },
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub(crate) struct Circuit {
    config: BreakerConfig,
    state: State,
    /// Openings since the circuit was last closed: each doubles the cool-off.
    openings: u32,
}

impl Circuit {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: State::Closed { failures: 0 },
            openings: 0,
        }
    }

    /// The state as of `now`: an open circuit whose cool-off is over reports half-open,
    /// since the next request becomes its probe.
    pub(crate) fn state(&self, now: DateTime<Utc>) -> CircuitState {
        match &self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until, .. } if *until > now => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Whether the circuit holds nothing worth keeping: closed, no failure counted.
    pub(crate) fn is_idle(&self) -> bool {
        self.state == State::Closed { failures: 0 }
    }

    /// Since when the circuit has not been closed, why, and when a probe may go.
    pub(crate) fn opened(&self) -> Option<Opened<'_>> {
        match &self.state {
            State::Closed { .. } => None,
            State::Open {
                since,
                until,
                cause,
            } => Some(Opened {
                since: *since,
                cause,
                until: Some(*until),
            }),
            State::HalfOpen { since, cause, .. } => Some(Opened {
                since: *since,
                cause,
                until: None,
            }),
        }
    }

    /// What a request would be told now, without taking the probe: `None` when it may
    /// try [`Circuit::admit`].
    pub(crate) fn peek(&self, now: DateTime<Utc>, probe_wait: Duration) -> Option<Wait> {
        match &self.state {
            State::Open { until, cause, .. } if *until > now => Some(wait(*until, cause)),
            State::HalfOpen {
                probing: true,
                cause,
                ..
            } => Some(wait(after(now, probe_wait), cause)),
            _ => None,
        }
    }

    /// Admits a request at `now`, taking the probe when the circuit is half-open. Jobs
    /// told to wait for a probe on its way wait `probe_wait`: by then its outcome is known.
    /// Returns the state change, if any.
    pub(crate) fn admit(
        &mut self,
        now: DateTime<Utc>,
        probe_wait: Duration,
    ) -> (Admission, Option<CircuitState>) {
        if let Some(wait) = self.peek(now, probe_wait) {
            return (Admission::Wait(wait), None);
        }
        match &mut self.state {
            State::Closed { .. } => (Admission::Go, None),
            State::Open { since, cause, .. } => {
                self.state = State::HalfOpen {
                    since: *since,
                    cause: cause.clone(),
                    probing: true,
                };
                (Admission::Probe, Some(CircuitState::HalfOpen))
            }
            State::HalfOpen { probing, .. } => {
                *probing = true;
                (Admission::Probe, None)
            }
        }
    }

    /// A probe that was admitted but never sent (its jobs' leases were lost, or the
    /// engine is stopping): the next request may probe.
    pub(crate) fn abandon_probe(&mut self) {
        if let State::HalfOpen { probing, .. } = &mut self.state {
            *probing = false;
        }
    }

    /// Records the outcome of a request admitted as a probe (`probe`) or not. Outcomes of
    /// requests admitted before the circuit opened change nothing while it is open, and
    /// only a probe's failure reopens a half-open circuit; a rejection of the credentials
    /// opens it whatever the state. Returns the state change, if any.
    pub(crate) fn record(
        &mut self,
        probe: bool,
        verdict: &Verdict,
        now: DateTime<Utc>,
    ) -> Option<CircuitState> {
        match (verdict, &mut self.state) {
            (Verdict::Healthy, State::Closed { failures }) => {
                *failures = 0;
                None
            }
            (Verdict::Healthy, State::HalfOpen { .. }) => {
                self.close();
                Some(CircuitState::Closed)
            }
            (Verdict::Healthy | Verdict::Failed { .. }, State::Open { .. }) => None,
            (Verdict::Failed { .. }, State::HalfOpen { .. }) if !probe => None,
            (Verdict::Failed { retry_after }, State::Closed { failures }) => {
                *failures += 1;
                if self.config.failures == 0 || *failures < self.config.failures {
                    return None;
                }
                self.open(now, Cause::Failures, *retry_after)
            }
            (Verdict::Failed { retry_after }, State::HalfOpen { cause, .. }) => {
                // The probe failed: still the reason the circuit first opened, if that was
                // the credentials (a timeout tells nothing new about them).
                let cause = cause.clone();
                self.open(now, cause, *retry_after)
            }
            (Verdict::Rejected(rejection), State::Open { cause, .. }) => {
                // Requests sent before the circuit opened for failures come back rejected:
                // the clients of the jobs that wait must hear it.
                *cause = Cause::Credentials(rejection.clone());
                None
            }
            (Verdict::Rejected(rejection), _) => {
                self.open(now, Cause::Credentials(rejection.clone()), None)
            }
        }
    }

    /// The cool-off of the next opening: `cool_off`, doubled per opening since the
    /// circuit last closed, at most `max_cool_off`; at least the provider's hint.
    fn cool_off(&self, hint: Option<std::time::Duration>) -> Duration {
        let first = self.config.cool_off.min(self.config.max_cool_off);
        let grown = first
            .checked_mul(1u32 << self.openings.min(20))
            .unwrap_or(self.config.max_cool_off)
            .min(self.config.max_cool_off);
        let chosen = hint.map_or(grown, |hint| grown.max(hint));
        Duration::from_std(chosen).unwrap_or(Duration::MAX)
    }

    fn open(
        &mut self,
        now: DateTime<Utc>,
        cause: Cause,
        hint: Option<std::time::Duration>,
    ) -> Option<CircuitState> {
        let until = after(now, self.cool_off(hint));
        let since = match &self.state {
            State::HalfOpen { since, .. } | State::Open { since, .. } => *since,
            State::Closed { .. } => now,
        };
        let was_open = matches!(self.state, State::Open { .. });
        self.openings = self.openings.saturating_add(1);
        self.state = State::Open {
            since,
            until,
            cause,
        };
        (!was_open).then_some(CircuitState::Open)
    }

    fn close(&mut self) {
        self.state = State::Closed { failures: 0 };
        self.openings = 0;
    }
}

fn wait(until: DateTime<Utc>, cause: &Cause) -> Wait {
    Wait {
        until,
        rejected: match cause {
            Cause::Failures => None,
            Cause::Credentials(rejection) => Some(rejection.clone()),
        },
    }
}

#[cfg(test)]
mod tests;
