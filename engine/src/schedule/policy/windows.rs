//! When something can happen to a box: the windows a terminal's structure opens (a truck
//! appointment, a receiving window, a vessel working cargo) and the intervals inside and
//! outside them.
//!
//! A box's own status says little about when it will change next; its appointment and its
//! vessel visit say a lot. A gate move happens in or near its booked slot, so tracing every
//! few hours before the slot and densely across it finds it soon for few requests; an
//! export box is loaded only while its vessel works cargo, so tracing densely then and
//! rarely before finds the load soon. The defaults come from the terminal model of
//! `providers/sim` (see its README for the sources) and were measured with the efficiency
//! benchmark (`benches/RESULTS.md` §6).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Status, TraceKind, TraceResult, VisitPhase};

/// Tracing around a truck appointment shown in the result (`[policy.appointment]`): a gate
/// move (an export gating in, an empty coming back) happens in its slot, a little before
/// (early trucks) or after (late trucks), or not at all (no-show, then a new slot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AppointmentPolicy {
    /// Whether appointments shape the intervals at all.
    pub enabled: bool,
    /// Dense tracing starts this long before the slot (trucks arrive up to an hour early).
    #[serde(with = "humantime_serde")]
    pub before: Duration,
    /// The interval from `before` the slot to its end.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// After the slot's end, tracing stays at `late_interval` this long (late trucks).
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// The interval after the slot's end.
    #[serde(with = "humantime_serde")]
    pub late_interval: Duration,
    /// Before the dense window the box is still traced at least this often, so that a
    /// moved appointment is seen.
    #[serde(with = "humantime_serde")]
    pub recheck: Duration,
}

impl Default for AppointmentPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            before: mins(60),
            interval: mins(15),
            after: hours(3),
            late_interval: mins(20),
            recheck: hours(12),
        }
    }
}

/// Tracing an export box by its vessel visit (`[policy.visit]`): nothing happens before
/// receiving opens, and a box in the yard is loaded only while the vessel works cargo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VisitPolicy {
    /// Whether the visit shapes the intervals at all.
    pub enabled: bool,
    /// The interval of a box in the yard while its vessel works cargo (or has finished and
    /// not left: a box still in the yard then is late or rolled).
    #[serde(with = "humantime_serde")]
    pub working_interval: Duration,
    /// Before receiving opens a pre-advised box sleeps until it opens, but never longer
    /// than this in one go (a revised schedule can move it).
    #[serde(with = "humantime_serde")]
    pub quiet_max: Duration,
}

impl Default for VisitPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            working_interval: mins(15),
            quiet_max: hours(24),
        }
    }
}

/// What the terminal's structure says about the next trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    /// Something can happen now: trace at most this far apart.
    Dense(Duration),
    /// Nothing can happen before this time: trace then (or at the recheck), not sooner.
    QuietUntil(DateTime<Utc>),
}

/// The window a result puts the box in, if its appointment or visit says anything.
pub(super) fn window(
    appointment: &AppointmentPolicy,
    visit: &VisitPolicy,
    kind: TraceKind,
    result: &TraceResult,
    now: DateTime<Utc>,
) -> Option<Window> {
    let awaiting_gate_move = match kind {
        TraceKind::Export => matches!(
            result.status,
            Status::BookingNotFound | Status::Expected | Status::NotFound
        ),
        TraceKind::Empty => matches!(
            result.status,
            Status::NotFound | Status::NotReceivable | Status::Receivable
        ),
    };
    if awaiting_gate_move {
        if appointment.enabled {
            if let Some(slot) = &result.appointment {
                return appointment_window(appointment, slot.start, slot.end, now);
            }
        }
        if visit.enabled && kind == TraceKind::Export && result.status == Status::Expected {
            if let Some(opens) = result.key_dates.earliest_receiving.filter(|o| *o > now) {
                let cap = crate::clock::after_std(now, visit.quiet_max);
                return Some(Window::QuietUntil(opens.min(cap)));
            }
        }
        return None;
    }
    if visit.enabled
        && kind == TraceKind::Export
        && matches!(result.status, Status::GatedIn | Status::OnHold)
    {
        let phase = result.visit.as_ref().and_then(|v| v.phase);
        if matches!(phase, Some(VisitPhase::Working | VisitPhase::Complete)) {
            return Some(Window::Dense(visit.working_interval));
        }
    }
    None
}

/// Dense across `[start - before, end]`, late after it, quiet (with rechecks) before it;
/// nothing to say once the late window has passed (a no-show: the status rules apply until
/// a new slot shows).
fn appointment_window(
    policy: &AppointmentPolicy,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Window> {
    let dense_from = crate::clock::before_std(start, policy.before);
    if now < dense_from {
        let recheck = crate::clock::after_std(now, policy.recheck);
        return Some(Window::QuietUntil(dense_from.min(recheck)));
    }
    if now <= end {
        return Some(Window::Dense(policy.interval));
    }
    if now <= crate::clock::after_std(end, policy.after) {
        return Some(Window::Dense(policy.late_interval));
    }
    None
}

const fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}
