//! The terminal structure the generator draws from: every number of the model in one
//! place, with its default. `providers/sim/README.md` gives the source of each.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::generate::{DAY, HOUR};

/// The terminal structure the generator draws from (`vessels` in the sim's configuration,
/// camelCase, every field optional). The README gives the source of each default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VesselModel {
    /// Mean time between vessel calls at one terminal (calls are spread around it).
    #[serde(with = "humantime_serde")]
    pub call_interval: Duration,
    /// How long before its first estimated arrival a call's schedule is published.
    #[serde(with = "humantime_serde")]
    pub schedule_published: Duration,
    /// Receiving of export boxes opens this long before the first estimated arrival.
    #[serde(with = "humantime_serde")]
    pub receiving_opens: Duration,
    /// The cargo cut-off, this long before the (current) estimated arrival.
    #[serde(with = "humantime_serde")]
    pub cutoff_before_arrival: Duration,
    /// Mean time between revisions of the arrival estimate in the last five days.
    #[serde(with = "humantime_serde")]
    pub eta_revision_every: Duration,
    /// Share of calls that arrive much later than first planned (36 h to 4 days).
    pub late_call_share: f64,
    /// Spread (one standard deviation) of the other calls' arrival around their first
    /// estimate, which they miss by 4 h on average.
    #[serde(with = "humantime_serde")]
    pub arrival_spread: Duration,
    /// Median time a vessel works cargo (log-normal, σ 0.35).
    #[serde(with = "humantime_serde")]
    pub working_median: Duration,
    /// Loading of export boxes starts after this fraction of the working window (a crane
    /// discharges a bay before it loads it).
    pub loading_starts: f64,
    /// The boxes of one booking are loaded within this span of each other.
    #[serde(with = "humantime_serde")]
    pub booking_load_span: Duration,
    /// Truck appointment slot length.
    #[serde(with = "humantime_serde")]
    pub slot: Duration,
    /// Median time an appointment is booked (and visible) before its slot (log-normal,
    /// σ 0.7, at least 6 h, at most 7 days).
    #[serde(with = "humantime_serde")]
    pub appointment_lead: Duration,
    /// Share of export gate-ins in the last 24 h before the cut-off.
    pub gate_in_last_day: f64,
    /// Share of export gate-ins in the last 48 h before the cut-off (including the last
    /// 24 h).
    pub gate_in_last_two_days: f64,
    /// Share of trucks that arrive before their slot (up to an hour).
    pub early_trucks: f64,
    /// Share of trucks that arrive after their slot (up to three hours).
    pub late_trucks: f64,
    /// Share of trucks that miss their slot and book another one.
    pub no_shows: f64,
    /// Share of export boxes that meet a hold.
    pub hold_rate: f64,
    /// Share of holds placed as the box gates in (the others come later, before the
    /// cut-off).
    pub hold_at_gate_in: f64,
    /// Median time a hold lasts (log-normal, σ 0.8).
    #[serde(with = "humantime_serde")]
    pub hold_release: Duration,
    /// Share of export boxes shut out of their call and rolled to the next (boxes still
    /// held when loading ends roll too).
    pub roll_rate: f64,
    /// Median time from an empty's release to its return (log-normal).
    #[serde(with = "humantime_serde")]
    pub empty_return: Duration,
    /// Share of empties returned more than seven days after their release.
    pub empty_return_beyond_week: f64,
    /// Share of empty returns whose appointment the terminal shows beforehand.
    pub empty_appointment_share: f64,
}

impl Default for VesselModel {
    fn default() -> Self {
        Self {
            call_interval: 8 * HOUR,
            schedule_published: 10 * DAY,
            receiving_opens: 5 * DAY,
            cutoff_before_arrival: 24 * HOUR,
            eta_revision_every: 18 * HOUR,
            late_call_share: 0.1,
            arrival_spread: 12 * HOUR,
            working_median: 19 * HOUR,
            loading_starts: 0.3,
            booking_load_span: 4 * HOUR,
            slot: 2 * HOUR,
            appointment_lead: 24 * HOUR,
            gate_in_last_day: 0.35,
            gate_in_last_two_days: 0.60,
            early_trucks: 0.08,
            late_trucks: 0.03,
            no_shows: 0.04,
            hold_rate: 0.08,
            hold_at_gate_in: 0.8,
            hold_release: 12 * HOUR,
            roll_rate: 0.03,
            empty_return: 5 * DAY,
            empty_return_beyond_week: 0.25,
            empty_appointment_share: 0.8,
        }
    }
}

impl VesselModel {
    /// Refuses shares that are not probabilities and durations that make no schedule,
    /// naming the field.
    pub fn check(&self) -> Result<(), String> {
        for (name, share) in [
            ("lateCallShare", self.late_call_share),
            ("loadingStarts", self.loading_starts),
            ("gateInLastDay", self.gate_in_last_day),
            ("gateInLastTwoDays", self.gate_in_last_two_days),
            ("earlyTrucks", self.early_trucks),
            ("lateTrucks", self.late_trucks),
            ("noShows", self.no_shows),
            ("holdRate", self.hold_rate),
            ("holdAtGateIn", self.hold_at_gate_in),
            ("rollRate", self.roll_rate),
            ("emptyReturnBeyondWeek", self.empty_return_beyond_week),
            ("emptyAppointmentShare", self.empty_appointment_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "vessels.{name}: must be between 0 and 1, got {share}"
                ));
            }
        }
        if self.gate_in_last_day > self.gate_in_last_two_days {
            return Err("vessels.gateInLastDay must not exceed gateInLastTwoDays".into());
        }
        if self.early_trucks + self.late_trucks + self.no_shows > 1.0 {
            return Err("vessels: earlyTrucks + lateTrucks + noShows must not exceed 1".into());
        }
        if self.empty_return_beyond_week >= 0.5 {
            return Err("vessels.emptyReturnBeyondWeek must be below 0.5 (the median return is at most a week)".into());
        }
        for (name, d) in [
            ("callInterval", self.call_interval),
            ("slot", self.slot),
            ("workingMedian", self.working_median),
            ("etaRevisionEvery", self.eta_revision_every),
            ("emptyReturn", self.empty_return),
        ] {
            if d < Duration::from_secs(60) {
                return Err(format!("vessels.{name}: must be at least a minute"));
            }
        }
        if self.receiving_opens <= self.cutoff_before_arrival {
            return Err("vessels.receivingOpens must be longer than cutoffBeforeArrival".into());
        }
        Ok(())
    }

    /// The log-normal σ that puts `empty_return_beyond_week` of returns past seven days
    /// given the median.
    pub(super) fn empty_sigma(&self) -> f64 {
        let median = self.empty_return.as_secs_f64();
        let week = DAY.as_secs_f64() * 7.0;
        let z = inverse_normal_tail(self.empty_return_beyond_week.max(1e-6));
        if median >= week || z <= 0.0 {
            return 0.5;
        }
        ((week / median).ln() / z).clamp(0.05, 3.0)
    }
}

/// z such that a standard normal exceeds it with probability `p` (0 < p < 0.5), by
/// bisection on the complementary error function: precise enough for a model parameter.
fn inverse_normal_tail(p: f64) -> f64 {
    let tail = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (0.0, 10.0);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The complementary error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let e = poly * (-x * x).exp();
    if x >= 0.0 {
        e
    } else {
        2.0 - e
    }
}
