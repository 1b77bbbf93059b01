//! The vessel visit and the truck appointment of an export, as the engine's policy reads
//! them (`TraceResult::visit`, `TraceResult::appointment`).
//!
//! | ICTSI `visit_phase` (Navis N4) | phase |
//! | --- | --- |
//! | `10CREATED`, `20INBOUND` | `INBOUND` |
//! | `30ARRIVED` | `ARRIVED` |
//! | `40WORKING` | `WORKING` |
//! | `50COMPLETE` | `COMPLETE` |
//! | `60DEPARTED`, `70CLOSED` | `DEPARTED` |
//! | `80CANCELED`, `90ARCHIVED`, other | none (an actual departure still says `DEPARTED`) |

use boxtrace::{Appointment, VesselVisit, VisitPhase};

use crate::wire::{self, ContainerRecord};

/// The visit the box is booked on: the vessel visit call's answer when there is one,
/// else the record's outbound visit id alone. `id` is the visit's `carrier_visit_id`,
/// the same for every box on it.
pub(crate) fn vessel_visit(id: &str, visit: Option<&wire::VesselVisit>) -> VesselVisit {
    let mut mapped = VesselVisit::new(
        visit
            .and_then(|v| v.carrier_visit_id.clone())
            .unwrap_or_else(|| id.to_owned()),
    );
    if let Some(visit) = visit {
        mapped.phase = visit
            .visit_phase
            .as_deref()
            .and_then(phase)
            .or(visit.atd.map(|_| VisitPhase::Departed));
        mapped.eta = visit.eta;
        mapped.ata = visit.ata;
        mapped.etd = visit.etd;
        mapped.atd = visit.atd;
    }
    mapped
}

/// N4's visit phase (`40WORKING`), by its number prefix or its name.
pub(crate) fn phase(raw: &str) -> Option<VisitPhase> {
    let name = raw.trim().trim_start_matches(|c: char| c.is_ascii_digit());
    match name.to_ascii_uppercase().as_str() {
        "CREATED" | "INBOUND" => Some(VisitPhase::Inbound),
        "ARRIVED" => Some(VisitPhase::Arrived),
        "WORKING" => Some(VisitPhase::Working),
        "COMPLETE" => Some(VisitPhase::Complete),
        "DEPARTED" | "CLOSED" => Some(VisitPhase::Departed),
        _ => None,
    }
}

/// The truck appointment that brings the box in, when the record gives a whole slot.
pub(crate) fn appointment(record: &ContainerRecord) -> Option<Appointment> {
    match (
        record.ib_appointment_start_date,
        record.ib_appointment_end_date,
    ) {
        (Some(start), Some(end)) if start <= end => Some(Appointment { start, end }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn n4_phases() {
        assert_eq!(phase("20INBOUND"), Some(VisitPhase::Inbound));
        assert_eq!(phase("40WORKING"), Some(VisitPhase::Working));
        assert_eq!(phase("working"), Some(VisitPhase::Working));
        assert_eq!(phase("70CLOSED"), Some(VisitPhase::Departed));
        assert_eq!(phase("80CANCELED"), None);
        let visit = wire::VesselVisit {
            carrier_visit_id: Some("TAGE610".into()),
            visit_phase: Some("90ARCHIVED".into()),
            atd: Utc.with_ymd_and_hms(2026, 3, 5, 20, 0, 0).single(),
            ..wire::VesselVisit::default()
        };
        let mapped = vessel_visit("TAGE610", Some(&visit));
        assert_eq!(mapped.phase, Some(VisitPhase::Departed));
        assert_eq!(vessel_visit("X1", None), VesselVisit::new("X1"));
    }

    #[test]
    fn appointments_need_a_whole_slot() {
        let at = |h| Utc.with_ymd_and_hms(2026, 3, 3, h, 0, 0).single();
        let mut record = ContainerRecord {
            ib_appointment_start_date: at(8),
            ib_appointment_end_date: at(10),
            ..ContainerRecord::default()
        };
        assert_eq!(
            appointment(&record).map(|a| (a.start, a.end)),
            Some((at(8).unwrap(), at(10).unwrap()))
        );
        record.ib_appointment_end_date = at(7);
        assert_eq!(appointment(&record), None);
        record.ib_appointment_end_date = None;
        assert_eq!(appointment(&record), None);
    }
}
