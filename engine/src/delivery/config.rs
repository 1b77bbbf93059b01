//! [`DeliveryConfig`]: the retry schedule, jitter, concurrency, polling and leases of the
//! deliverer. An embedder maps its own configuration to it.

use std::time::Duration;

/// Time allowed for writing what became of a delivery, after it ended: a delivery starts
/// only with this much of its lease left over its bound, and shutdown waits this long
/// past the bound.
pub(super) const SETTLE_ALLOWANCE: Duration = Duration::from_secs(2);

/// How result events are delivered to destinations.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// The time a destination has to answer one delivery; the engine fails a delivery
    /// itself a second later. Leases are sized from it: an entry is held
    /// `2 × timeout + 5 s`, and one waiting in the claim-ahead buffer is handed back
    /// untried once less than `timeout + 3 s` of its lease is left (the engine's bound of
    /// `timeout + 1 s` and 2 s to write the outcome), so that no delivery can outlive its
    /// lease.
    pub timeout: Duration,
    /// Deliveries in flight per destination, unless [`crate::ActiveDestination`] says
    /// otherwise.
    pub concurrency: usize,
    /// Entries claimed per destination beyond its free slots, so that a finished
    /// delivery starts the next at once, without a store round trip. `None`: as many as
    /// the destination's concurrency.
    pub claim_ahead: Option<usize>,
    /// Delay before each retry; after the last, the entry is dead (kept for a replay).
    pub retry_schedule: Vec<Duration>,
    /// Fraction of each retry delay drawn at random (0 to 0.9; anything else, NaN
    /// included, is clamped, NaN to 0): a step of 5 min with jitter 0.2 waits 4 to 5 min.
    pub jitter: f64,
    /// Seed of the jitter's random draws: `Some` makes the retry times reproducible
    /// (tests); `None` seeds from the operating system.
    pub seed: Option<u64>,
    /// How often retries that came due, destinations registered meanwhile and events
    /// missed by the live stream are looked for.
    pub poll_interval: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            timeout: s(10),
            concurrency: 4,
            claim_ahead: None,
            // About a day, as the Standard Webhooks guidance suggests.
            retry_schedule: vec![
                s(5),
                s(5 * 60),
                s(30 * 60),
                s(2 * 3600),
                s(5 * 3600),
                s(10 * 3600),
                s(10 * 3600),
            ],
            jitter: 0.2,
            seed: None,
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl DeliveryConfig {
    /// Why this configuration cannot run, if it cannot: a zero poll interval would
    /// busy-loop the deliverer, and a zero timeout would fail every delivery.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.poll_interval.is_zero() {
            return Err("delivery poll_interval must be longer than 0, e.g. 500ms".into());
        }
        if self.timeout.is_zero() {
            return Err("delivery timeout must be longer than 0, e.g. 10s".into());
        }
        Ok(())
    }

    /// How long a claimed entry is held. Saturating: a timeout of years is odd, not a
    /// reason to panic.
    pub(super) fn lease(&self) -> Duration {
        self.timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(5))
    }

    /// The longest one delivery may take before the engine fails it: the timeout, and a
    /// second over it for the destination to report its own.
    pub(super) fn delivery_bound(&self) -> Duration {
        self.timeout.saturating_add(Duration::from_secs(1))
    }

    /// The lease a delivery needs left to start: its bound, and time to write its
    /// outcome before the lease lapses.
    pub(super) fn lease_needed(&self) -> Duration {
        self.delivery_bound().saturating_add(SETTLE_ALLOWANCE)
    }

    /// The jitter, made safe to use.
    pub(super) fn jitter(&self) -> f64 {
        if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.9)
        } else {
            0.0
        }
    }

    /// The longest step of the schedule: the most a destination's retry hint can ask.
    pub(super) fn longest_step(&self) -> Duration {
        self.retry_schedule
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
    }
}
