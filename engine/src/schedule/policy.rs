//! The adaptive re-trace policy: when to trace a job next, or when to stop.
//!
//! The aim is the reference's: notice changes soon while calling providers as little as
//! possible. Intervals follow the normalized status (a box that is only expected changes
//! rarely; one in the yard near its vessel's departure changes soon), shrink right after a
//! change (changes cluster: a hold is released, the box is loaded) and near the key date
//! the next change hinges on, and errors back off exponentially with jitter.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::{Status, TraceKind, TraceResult, TrackingState};

use windows::Window;
pub use windows::{AppointmentPolicy, VisitPolicy};

mod windows;

/// What the policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Trace again at this time.
    Next(DateTime<Utc>),
    /// Stop tracking in this state (`Completed` or `Expired`).
    Stop(TrackingState),
}

/// Which rule of the policy chose a [`Decision`]: what an operator reads as "why is this
/// box traced next at that time" ([`Policy::rule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyRule {
    /// A stop status was reached (`stop_on`).
    StopStatus,
    /// The maximum tracking age passed.
    MaxTrackingAge,
    /// The provider has not found the box for too long.
    NotFoundGiveUp,
    /// The last traces failed: exponential backoff (or the provider's retry-after).
    ErrorBackoff,
    /// No result yet, or not found: the not-found (or empty's not-returned) interval.
    NotFoundInterval,
    /// Quiet until the box's appointment slot or its receiving window opens.
    QuietUntilWindow,
    /// Dense tracing across an appointment slot or while the vessel is working.
    DenseWindow,
    /// Right after a change: the after-change interval.
    AfterChange,
    /// Near the key date the next change hinges on (cut-off, departure).
    NearKeyDate,
    /// The status's own interval.
    StatusInterval,
}

impl PolicyRule {
    /// A short sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::StopStatus => "stopped: a stop status was reached",
            Self::MaxTrackingAge => "stopped: the maximum tracking age passed",
            Self::NotFoundGiveUp => "stopped: not found for too long",
            Self::ErrorBackoff => "backoff after failed traces (or the provider's retry-after)",
            Self::NotFoundInterval => "not found yet: the not-found interval",
            Self::QuietUntilWindow => "quiet until its appointment slot or receiving window opens",
            Self::DenseWindow => "dense: inside its appointment slot, or its vessel is working",
            Self::AfterChange => "changed recently: the after-change interval",
            Self::NearKeyDate => "near its key date (cut-off or departure)",
            Self::StatusInterval => "the interval of its status",
        }
    }
}

/// What the policy looks at after a trace.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// The trace kind.
    pub kind: TraceKind,
    /// Now.
    pub now: DateTime<Utc>,
    /// Start of the tracking period.
    pub tracking_since: DateTime<Utc>,
    /// The latest normalized result (after this trace, if it succeeded).
    pub result: Option<&'a TraceResult>,
    /// When the normalized content last changed.
    pub last_changed_at: Option<DateTime<Utc>>,
    /// Since when the container has been continuously not found.
    pub not_found_since: Option<DateTime<Utc>>,
    /// Failures in a row, this trace included (0 after a success).
    pub consecutive_errors: u32,
    /// The provider's retry hint on failure.
    pub retry_after: Option<Duration>,
}

/// Re-trace intervals for export traces, by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportIntervals {
    /// Booking unknown to the provider yet.
    #[serde(with = "humantime_serde")]
    pub booking_not_found: Duration,
    /// Box under another booking.
    #[serde(with = "humantime_serde")]
    pub booking_mismatch: Duration,
    /// Pre-advised, not yet gated in.
    #[serde(with = "humantime_serde")]
    pub expected: Duration,
    /// In the yard.
    #[serde(with = "humantime_serde")]
    pub gated_in: Duration,
    /// In the yard with a hold.
    #[serde(with = "humantime_serde")]
    pub on_hold: Duration,
    /// Loaded (only when `LOADED` is not a stop status).
    #[serde(with = "humantime_serde")]
    pub loaded: Duration,
}

impl Default for ExportIntervals {
    fn default() -> Self {
        Self {
            booking_not_found: hours(4),
            booking_mismatch: hours(4),
            expected: hours(3),
            gated_in: hours(2),
            on_hold: mins(45),
            loaded: hours(2),
        }
    }
}

/// Re-trace intervals for empty traces, by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyIntervals {
    /// The terminal does not know the empty yet: at a terminal that shows an empty only
    /// once it is back (ICTSI), this is the normal state of an empty being traced, not an
    /// error, so it has its own interval rather than `notFoundInterval`.
    #[serde(with = "humantime_serde")]
    pub not_returned: Duration,
    /// Tracking of an empty stops (`EXPIRED`) when it has not come back this long after
    /// tracking started (a quarter of empties come back after more than a week; the
    /// default keeps all but about one in 500 of them).
    #[serde(with = "humantime_serde")]
    pub not_returned_give_up: Duration,
    /// The terminal does not take this empty now.
    #[serde(with = "humantime_serde")]
    pub not_receivable: Duration,
    /// The terminal takes it; it is on its way back.
    #[serde(with = "humantime_serde")]
    pub receivable: Duration,
}

impl Default for EmptyIntervals {
    fn default() -> Self {
        Self {
            not_returned: hours(3),
            not_returned_give_up: hours(24 * 21),
            not_receivable: hours(3),
            receivable: hours(1),
        }
    }
}

/// Exponential backoff for failed traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    /// Delay after the first failure.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// Longest delay.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Growth per failure.
    pub multiplier: f64,
    /// Fraction of the delay drawn at random (0 = none, 0.5 = between half and all of it),
    /// so that failures of many jobs at once do not come back at once.
    pub jitter: f64,
    /// The longest provider `Retry-After` honoured; longer hints are capped here.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(60),
            max: hours(1),
            multiplier: 2.0,
            jitter: 0.5,
            max_retry_after: hours(6),
        }
    }
}

impl Backoff {
    /// The delay before jitter after `failures` consecutive failures (at least 1): monotone
    /// in `failures` up to `max`.
    pub fn envelope(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let secs = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        Duration::from_secs_f64(secs.min(self.max.as_secs_f64()))
    }
}

/// The re-trace policy. Deserializes from TOML/JSON with every field optional; durations
/// are written like `"45m"` or `"3h"`.
///
/// ```
/// let policy: boxtrace::Policy = serde_json::from_value(serde_json::json!({
///     "maxTrackingAge": "14d",
///     "export": { "expected": "6h" }
/// })).unwrap();
/// assert_eq!(policy.export.expected, std::time::Duration::from_secs(6 * 3600));
/// assert_eq!(policy.export.gated_in, boxtrace::Policy::default().export.gated_in);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Tracking stops (`EXPIRED`) this long after the tracking period started.
    #[serde(with = "humantime_serde")]
    pub max_tracking_age: Duration,
    /// Interval while the provider does not know the container.
    #[serde(with = "humantime_serde")]
    pub not_found_interval: Duration,
    /// Tracking stops (`EXPIRED`) when the container has been not found this long.
    #[serde(with = "humantime_serde")]
    pub not_found_give_up: Duration,
    /// Export intervals.
    pub export: ExportIntervals,
    /// Empty intervals.
    pub empty: EmptyIntervals,
    /// Statuses that complete a trace: tracking stops (`COMPLETED`).
    pub stop_on: Vec<Status>,
    /// For this long after a change the interval is at most `after_change_interval`.
    #[serde(with = "humantime_serde")]
    pub after_change_window: Duration,
    /// Interval right after a change.
    #[serde(with = "humantime_serde")]
    pub after_change_interval: Duration,
    /// When the key date the next change hinges on (cut-off while expected, vessel
    /// departure while in the yard) is this close, the interval is at most
    /// `near_key_date_interval`.
    #[serde(with = "humantime_serde")]
    pub near_key_date_window: Duration,
    /// Interval near a key date.
    #[serde(with = "humantime_serde")]
    pub near_key_date_interval: Duration,
    /// Fraction of each interval drawn at random, spreading traces over time.
    pub interval_jitter: f64,
    /// Backoff for failures.
    pub backoff: Backoff,
    /// What one box's news about its vessel visit does to the visit's other boxes.
    pub cohort: super::CohortPolicy,
    /// Tracing around a truck appointment the result shows.
    pub appointment: AppointmentPolicy,
    /// Tracing by the box's vessel visit (receiving window, cargo work).
    pub visit: VisitPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_tracking_age: hours(24 * 30),
            not_found_interval: hours(6),
            not_found_give_up: hours(24 * 7),
            export: ExportIntervals::default(),
            empty: EmptyIntervals::default(),
            stop_on: vec![Status::Loaded, Status::Departed, Status::Returned],
            after_change_window: hours(2),
            after_change_interval: mins(20),
            near_key_date_window: hours(12),
            near_key_date_interval: mins(30),
            interval_jitter: 0.1,
            backoff: Backoff::default(),
            cohort: super::CohortPolicy::default(),
            appointment: AppointmentPolicy::default(),
            visit: VisitPolicy::default(),
        }
    }
}

impl Policy {
    /// Fixed-interval polling: every status, not found and the after-change and
    /// near-key-date intervals all `every`, without jitter, and neither appointments, visits
    /// nor cohorts consulted; stop statuses, tracking age, give-ups and backoff as in the
    /// default. The baseline the adaptive default is measured
    /// against, and a policy for a provider whose changes follow no pattern.
    ///
    /// ```
    /// use std::time::Duration;
    /// let hourly = boxtrace::Policy::fixed(Duration::from_secs(3600));
    /// assert_eq!(hourly.export.on_hold, Duration::from_secs(3600));
    /// assert_eq!(hourly.stop_on, boxtrace::Policy::default().stop_on);
    /// ```
    pub fn fixed(every: Duration) -> Self {
        Self {
            not_found_interval: every,
            export: ExportIntervals {
                booking_not_found: every,
                booking_mismatch: every,
                expected: every,
                gated_in: every,
                on_hold: every,
                loaded: every,
            },
            empty: EmptyIntervals {
                not_returned: every,
                not_receivable: every,
                receivable: every,
                ..EmptyIntervals::default()
            },
            after_change_window: Duration::ZERO,
            after_change_interval: every,
            near_key_date_window: Duration::ZERO,
            near_key_date_interval: every,
            interval_jitter: 0.0,
            cohort: super::CohortPolicy {
                enabled: false,
                ..super::CohortPolicy::default()
            },
            appointment: AppointmentPolicy {
                enabled: false,
                ..AppointmentPolicy::default()
            },
            visit: VisitPolicy {
                enabled: false,
                ..VisitPolicy::default()
            },
            ..Self::default()
        }
    }

    /// Decides what follows a trace.
    pub fn decide<R: Rng + ?Sized>(&self, input: &PolicyInput<'_>, rng: &mut R) -> Decision {
        self.decide_with_rule(input, rng).0
    }

    /// The rule [`Policy::decide`] follows for `input` (jitter never changes it).
    pub fn rule(&self, input: &PolicyInput<'_>) -> PolicyRule {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
        self.decide_with_rule(input, &mut rng).1
    }

    fn decide_with_rule<R: Rng + ?Sized>(
        &self,
        input: &PolicyInput<'_>,
        rng: &mut R,
    ) -> (Decision, PolicyRule) {
        let now = input.now;
        if let Some(result) = input.result.filter(|_| input.consecutive_errors == 0) {
            if self.stop_on.contains(&result.status) {
                return (
                    Decision::Stop(TrackingState::Completed),
                    PolicyRule::StopStatus,
                );
            }
        }
        if elapsed(input.tracking_since, now) >= self.max_tracking_age {
            return (
                Decision::Stop(TrackingState::Expired),
                PolicyRule::MaxTrackingAge,
            );
        }
        if input.consecutive_errors > 0 {
            let envelope = self.backoff.envelope(input.consecutive_errors);
            let delay = spread(envelope, self.backoff.jitter, rng);
            let hint = input
                .retry_after
                .unwrap_or_default()
                .min(self.backoff.max_retry_after);
            return (
                Decision::Next(after(now, delay.max(hint))),
                PolicyRule::ErrorBackoff,
            );
        }
        let awaiting_empty = input.kind == TraceKind::Empty
            && input.result.is_none_or(|r| r.status == Status::NotFound);
        let Some(result) = input.result else {
            let interval = if awaiting_empty {
                self.empty.not_returned
            } else {
                self.not_found_interval
            };
            return (
                Decision::Next(after(now, interval)),
                PolicyRule::NotFoundInterval,
            );
        };
        if result.status == Status::NotFound {
            let since = input.not_found_since.unwrap_or(now);
            let (give_up, since) = if awaiting_empty {
                (self.empty.not_returned_give_up, input.tracking_since)
            } else {
                (self.not_found_give_up, since)
            };
            if elapsed(since, now) >= give_up {
                return (
                    Decision::Stop(TrackingState::Expired),
                    PolicyRule::NotFoundGiveUp,
                );
            }
        }
        let mut rule = if awaiting_empty || result.status == Status::NotFound {
            PolicyRule::NotFoundInterval
        } else {
            PolicyRule::StatusInterval
        };
        let mut interval = if awaiting_empty {
            self.empty.not_returned
        } else {
            self.status_interval(result.status)
        };
        let structured = windows::window(&self.appointment, &self.visit, input.kind, result, now);
        if let Some(Window::QuietUntil(at)) = structured {
            // Nothing can happen before `at`: neither a recent change nor a key date is a
            // reason to look sooner.
            return (
                Decision::Next(at.max(after(now, Duration::from_secs(60)))),
                PolicyRule::QuietUntilWindow,
            );
        }
        if input
            .last_changed_at
            .is_some_and(|changed| elapsed(changed, now) < self.after_change_window)
        {
            if self.after_change_interval < interval {
                rule = PolicyRule::AfterChange;
            }
            interval = interval.min(self.after_change_interval);
        }
        match structured {
            Some(Window::Dense(dense)) => {
                if dense < interval {
                    rule = PolicyRule::DenseWindow;
                }
                interval = interval.min(dense);
            }
            // The structure said nothing (no appointment, no visit in the result): fall
            // back on the key date the next change hinges on.
            _ => {
                if let Some(date) = self.hinge_date(input.kind, result) {
                    if date > now && elapsed(now, date) <= self.near_key_date_window {
                        if self.near_key_date_interval < interval {
                            rule = PolicyRule::NearKeyDate;
                        }
                        interval = interval.min(self.near_key_date_interval);
                    }
                }
            }
        }
        (
            Decision::Next(after(now, spread(interval, self.interval_jitter, rng))),
            rule,
        )
    }

    /// The base interval for a status.
    pub fn status_interval(&self, status: Status) -> Duration {
        match status {
            Status::NotFound => self.not_found_interval,
            Status::BookingNotFound => self.export.booking_not_found,
            Status::BookingMismatch => self.export.booking_mismatch,
            Status::Expected => self.export.expected,
            Status::GatedIn => self.export.gated_in,
            Status::OnHold => self.export.on_hold,
            Status::Loaded | Status::Departed => self.export.loaded,
            Status::NotReceivable => self.empty.not_receivable,
            Status::Receivable | Status::Returned => self.empty.receivable,
        }
    }

    /// The longest delay [`Policy::decide`] can choose: every next due time is at most
    /// this far after now.
    pub fn max_delay(&self) -> Duration {
        let e = &self.export;
        [
            self.not_found_interval,
            e.booking_not_found,
            e.booking_mismatch,
            e.expected,
            e.gated_in,
            e.on_hold,
            e.loaded,
            self.empty.not_returned,
            self.empty.not_receivable,
            self.empty.receivable,
            self.appointment.recheck,
            self.visit.quiet_max,
            self.backoff.max.max(self.backoff.max_retry_after),
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
    }

    /// The date the next change hinges on: the cut-off while a box is expected (it will
    /// gate in before), the vessel's departure while it is in the yard (it will be loaded
    /// before).
    fn hinge_date(&self, kind: TraceKind, result: &TraceResult) -> Option<DateTime<Utc>> {
        if kind != TraceKind::Export {
            return None;
        }
        let dates = &result.key_dates;
        match result.status {
            Status::Expected => dates.cargo_cutoff,
            Status::GatedIn | Status::OnHold => dates.vessel_departure.or(dates.cargo_cutoff),
            _ => None,
        }
    }
}

/// `base` less a random fraction of up to `jitter` of it; never zero.
fn spread<R: Rng + ?Sized>(base: Duration, jitter: f64, rng: &mut R) -> Duration {
    let jitter = jitter.clamp(0.0, 1.0);
    let factor = if jitter > 0.0 {
        1.0 - rng.random_range(0.0..jitter)
    } else {
        1.0
    };
    base.mul_f64(factor).max(Duration::from_millis(1))
}

fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    crate::clock::after_std(now, delay.max(Duration::from_millis(1)))
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

const fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[cfg(test)]
mod tests;
