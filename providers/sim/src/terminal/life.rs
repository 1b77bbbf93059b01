//! One box's life at the terminal: its status changes, the visit it is linked to, its
//! appointments and holds, and what the terminal shows about it at any instant.

use boxtrace::{Appointment, ChangeKind, Status, TraceKind};
use chrono::{DateTime, Utc};

/// One change in a box's life. Every field but `at` is optional: a change may set the
/// status, link the box to a visit, make an appointment visible, or several at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When it happens at the terminal.
    pub at: DateTime<Utc>,
    /// The box's status from `at` on.
    pub status: Option<Status>,
    /// The visit the box is linked to from `at` on (a rolled box gets a later one).
    pub visit: Option<String>,
    /// The appointment visible from `at` on.
    pub appointment: Option<Appointment>,
    /// The holds in force, with an `ON_HOLD` status.
    pub holds: Option<Vec<String>>,
}

impl Change {
    /// A change of status only.
    pub fn status(at: DateTime<Utc>, status: Status) -> Self {
        Self {
            at,
            status: Some(status),
            visit: None,
            appointment: None,
            holds: None,
        }
    }
}

/// The life of one box (one trace kind) at one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxLife {
    /// The container number.
    pub container: String,
    /// Export or empty.
    pub kind: TraceKind,
    /// The terminal (facility) code.
    pub terminal: String,
    /// The booking the box travels under (exports).
    pub booking: Option<String>,
    /// When the client starts tracing it.
    pub published_at: DateTime<Utc>,
    /// Its changes, in time order.
    pub changes: Vec<Change>,
}

/// What the terminal shows about a box at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxState {
    /// The status: the last status change at or before the instant; before the first,
    /// `BOOKING_NOT_FOUND` for an export and `NOT_FOUND` for an empty.
    pub status: Status,
    /// The visit linked last.
    pub visit: Option<String>,
    /// The appointment made visible last.
    pub appointment: Option<Appointment>,
    /// Holds in force (while `ON_HOLD`).
    pub holds: Vec<String>,
    /// When the box gated in (or was returned), once it has.
    pub gated_in_at: Option<DateTime<Utc>>,
    /// When it was loaded, once it has.
    pub loaded_at: Option<DateTime<Utc>>,
    /// When the status last changed.
    pub status_since: Option<DateTime<Utc>>,
}

impl BoxLife {
    /// The box as the terminal shows it at `t`.
    pub fn at(&self, t: DateTime<Utc>) -> BoxState {
        let mut state = BoxState {
            status: initial(self.kind),
            visit: None,
            appointment: None,
            holds: Vec::new(),
            gated_in_at: None,
            loaded_at: None,
            status_since: None,
        };
        for change in self.changes.iter().take_while(|c| c.at <= t) {
            if let Some(visit) = &change.visit {
                state.visit = Some(visit.clone());
            }
            if let Some(appointment) = change.appointment {
                state.appointment = Some(appointment);
            }
            if let Some(status) = change.status {
                if status != state.status {
                    state.status_since = Some(change.at);
                }
                if matches!(status, Status::GatedIn | Status::OnHold | Status::Returned)
                    && state.gated_in_at.is_none()
                {
                    state.gated_in_at = Some(change.at);
                }
                if status == Status::Loaded && state.loaded_at.is_none() {
                    state.loaded_at = Some(change.at);
                }
                state.status = status;
                state.holds = if status == Status::OnHold {
                    change
                        .holds
                        .clone()
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| vec!["HOLD".to_owned()])
                } else {
                    Vec::new()
                };
            }
        }
        state
    }

    /// The changes of the box that a client hears about, each with its kind and time, in
    /// order: the ground truth a policy is scored against.
    pub fn milestones(&self) -> Vec<(DateTime<Utc>, ChangeKind)> {
        let mut out = Vec::new();
        let mut status = initial(self.kind);
        let mut visit: Option<&str> = None;
        for change in &self.changes {
            if let Some(next) = change.status.filter(|s| *s != status) {
                out.extend(
                    step_kinds(self.kind, status, next)
                        .into_iter()
                        .map(|k| (change.at, k)),
                );
                status = next;
            }
            if let Some(next) = change.visit.as_deref() {
                if visit.is_some_and(|v| v != next) {
                    out.push((change.at, ChangeKind::Rolled));
                }
                visit = Some(next);
            }
        }
        out
    }
}

/// A box's status before its first change.
pub fn initial(kind: TraceKind) -> Status {
    match kind {
        TraceKind::Export => Status::BookingNotFound,
        TraceKind::Empty => Status::NotFound,
    }
}

/// The kinds of change a status step is, in the engine's vocabulary.
fn step_kinds(kind: TraceKind, from: Status, to: Status) -> Vec<ChangeKind> {
    let mut a = boxtrace::TraceResult::new(from, DateTime::<Utc>::MIN_UTC);
    let b = boxtrace::TraceResult::new(to, DateTime::<Utc>::MIN_UTC);
    a.status = from;
    ChangeKind::between(kind, Some(&a), &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn export() -> BoxLife {
        let slot = Appointment {
            start: t(20),
            end: t(22),
        };
        BoxLife {
            container: "MSCU1234566".into(),
            kind: TraceKind::Export,
            terminal: "MICT".into(),
            booking: Some("TASF883714".into()),
            published_at: t(0),
            changes: vec![
                Change {
                    visit: Some("V1".into()),
                    ..Change::status(t(2), Status::Expected)
                },
                Change {
                    at: t(5),
                    status: None,
                    visit: None,
                    appointment: Some(slot),
                    holds: None,
                },
                Change::status(t(21), Status::GatedIn),
                Change {
                    holds: Some(vec!["CUSTOMS".into()]),
                    ..Change::status(t(22), Status::OnHold)
                },
                Change::status(t(30), Status::GatedIn),
                Change {
                    visit: Some("V2".into()),
                    ..Change {
                        at: t(40),
                        status: None,
                        visit: None,
                        appointment: None,
                        holds: None,
                    }
                },
                Change::status(t(60), Status::Loaded),
                Change::status(t(62), Status::Departed),
            ],
        }
    }

    #[test]
    fn the_state_at_an_instant_is_the_last_of_each_thing() {
        let life = export();
        let before = life.at(t(1));
        assert_eq!(before.status, Status::BookingNotFound);
        assert_eq!(before.visit, None);
        let held = life.at(t(25));
        assert_eq!(held.status, Status::OnHold);
        assert_eq!(held.holds, ["CUSTOMS"]);
        assert_eq!(held.visit.as_deref(), Some("V1"));
        assert_eq!(held.appointment.map(|a| a.start), Some(t(20)));
        assert_eq!(held.gated_in_at, Some(t(21)));
        let released = life.at(t(35));
        assert!(released.holds.is_empty());
        assert_eq!(released.gated_in_at, Some(t(21)), "the first gate-in stays");
        let rolled = life.at(t(45));
        assert_eq!(rolled.visit.as_deref(), Some("V2"));
        assert_eq!(life.at(t(61)).loaded_at, Some(t(60)));
    }

    #[test]
    fn milestones_name_each_change() {
        use ChangeKind::*;
        let kinds: Vec<_> = export().milestones().into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            kinds,
            [
                BookingKnown,
                PreAdvised,
                GatedIn,
                HoldPlaced,
                HoldReleased,
                Rolled,
                Loaded,
                Departed
            ]
        );
        let empty = BoxLife {
            container: "TGHU1234562".into(),
            kind: TraceKind::Empty,
            terminal: "MICT".into(),
            booking: None,
            published_at: t(0),
            changes: vec![Change::status(t(50), Status::Returned)],
        };
        assert_eq!(empty.milestones(), [(t(50), Returned)]);
        assert_eq!(empty.at(t(10)).status, Status::NotFound);
    }
}
