//! A vessel visit as the terminal records it: its schedule as published and revised over
//! time, and its phases. Many boxes share one visit.

use boxtrace::{KeyDates, VesselVisit, VisitPhase};
use chrono::{DateTime, Utc};

/// What the terminal says about a visit's schedule from `at` on. A later entry revises
/// an earlier one: its fields replace the earlier ones, and a field it leaves out keeps
/// its earlier value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// From when the terminal says this.
    pub at: DateTime<Utc>,
    /// Earliest receiving of export boxes for the visit.
    pub begin_receive: Option<DateTime<Utc>>,
    /// Cargo cut-off: the latest gate-in for the visit.
    pub cutoff: Option<DateTime<Utc>>,
    /// Estimated arrival.
    pub eta: Option<DateTime<Utc>>,
    /// Estimated departure.
    pub etd: Option<DateTime<Utc>>,
}

/// One call of one vessel at one terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The terminal's id of the visit, e.g. `V0001`.
    pub id: String,
    /// The terminal (facility) code, e.g. `MICT`.
    pub terminal: String,
    /// Vessel name.
    pub vessel: String,
    /// Voyage number.
    pub voyage: String,
    /// Steamship line, when known.
    pub line: Option<String>,
    /// The schedule as published and revised, in time order.
    pub schedule: Vec<ScheduleEntry>,
    /// Phase changes, in time order: `ARRIVED` gives the actual arrival, `WORKING` the
    /// start of cargo work, `DEPARTED` the actual departure.
    pub phases: Vec<(DateTime<Utc>, VisitPhase)>,
}

/// A visit as the terminal shows it at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitState {
    /// The visit in the normalized model's terms.
    pub visit: VesselVisit,
    /// The key dates the visit gives its boxes.
    pub key_dates: KeyDates,
    /// When cargo work started, once it has.
    pub working_since: Option<DateTime<Utc>>,
}

impl Visit {
    /// The visit as the terminal shows it at `t`: every schedule entry up to `t` merged,
    /// the last phase reached (`INBOUND` before the first), actual arrival and departure
    /// once they happened.
    pub fn at(&self, t: DateTime<Utc>) -> VisitState {
        let mut merged = ScheduleEntry {
            at: t,
            begin_receive: None,
            cutoff: None,
            eta: None,
            etd: None,
        };
        for entry in self.schedule.iter().take_while(|e| e.at <= t) {
            merged.begin_receive = entry.begin_receive.or(merged.begin_receive);
            merged.cutoff = entry.cutoff.or(merged.cutoff);
            merged.eta = entry.eta.or(merged.eta);
            merged.etd = entry.etd.or(merged.etd);
        }
        let reached = |phase: VisitPhase| {
            self.phases
                .iter()
                .find(|(at, p)| *p == phase && *at <= t)
                .map(|(at, _)| *at)
        };
        let phase = self
            .phases
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(VisitPhase::Inbound, |(_, p)| *p);
        let ata = reached(VisitPhase::Arrived).or_else(|| reached(VisitPhase::Working));
        let atd = reached(VisitPhase::Departed);
        let mut visit = VesselVisit::new(self.id.clone());
        visit.phase = Some(phase);
        visit.eta = merged.eta;
        visit.ata = ata;
        visit.etd = merged.etd;
        visit.atd = atd;
        VisitState {
            key_dates: KeyDates {
                earliest_receiving: merged.begin_receive,
                cargo_cutoff: merged.cutoff,
                vessel_departure: atd.or(merged.etd),
                last_free_day: None,
            },
            visit,
            working_since: reached(VisitPhase::Working),
        }
    }

    /// When the vessel actually departs, if it does in the record.
    pub fn departed_at(&self) -> Option<DateTime<Utc>> {
        self.phases
            .iter()
            .find(|(_, p)| *p == VisitPhase::Departed)
            .map(|(at, _)| *at)
    }

    /// The first time the terminal publishes anything about the visit.
    pub fn published_at(&self) -> Option<DateTime<Utc>> {
        self.schedule.first().map(|e| e.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn visit() -> Visit {
        Visit {
            id: "V1".into(),
            terminal: "MICT".into(),
            vessel: "ONE APUS".into(),
            voyage: "042E".into(),
            line: None,
            schedule: vec![
                ScheduleEntry {
                    at: t(0),
                    begin_receive: Some(t(10)),
                    cutoff: Some(t(100)),
                    eta: Some(t(124)),
                    etd: Some(t(148)),
                },
                ScheduleEntry {
                    at: t(50),
                    begin_receive: None,
                    cutoff: Some(t(106)),
                    eta: Some(t(130)),
                    etd: None,
                },
            ],
            phases: vec![
                (t(131), VisitPhase::Arrived),
                (t(133), VisitPhase::Working),
                (t(150), VisitPhase::Complete),
                (t(151), VisitPhase::Departed),
            ],
        }
    }

    #[test]
    fn revisions_replace_only_what_they_name() {
        let v = visit();
        let before = v.at(t(-1));
        assert_eq!(before.visit.eta, None);
        assert_eq!(before.visit.phase, Some(VisitPhase::Inbound));
        let first = v.at(t(1));
        assert_eq!(first.visit.eta, Some(t(124)));
        assert_eq!(first.key_dates.cargo_cutoff, Some(t(100)));
        let revised = v.at(t(60));
        assert_eq!(revised.visit.eta, Some(t(130)));
        assert_eq!(revised.visit.etd, Some(t(148)), "kept from the first entry");
        assert_eq!(revised.key_dates.cargo_cutoff, Some(t(106)));
        assert_eq!(revised.key_dates.earliest_receiving, Some(t(10)));
    }

    #[test]
    fn phases_give_actual_times() {
        let v = visit();
        let working = v.at(t(140));
        assert_eq!(working.visit.phase, Some(VisitPhase::Working));
        assert_eq!(working.visit.ata, Some(t(131)));
        assert_eq!(working.working_since, Some(t(133)));
        assert_eq!(working.visit.atd, None);
        let gone = v.at(t(152));
        assert_eq!(gone.visit.atd, Some(t(151)));
        assert_eq!(gone.key_dates.vessel_departure, Some(t(151)));
        assert_eq!(v.departed_at(), Some(t(151)));
    }
}
