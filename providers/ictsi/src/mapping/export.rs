//! Export traces: the visit under the traced booking (or another booking's) as a result.
//!
//! | visit | status | events |
//! | --- | --- | --- |
//! | `S10_ADVISED`, `S20_INBOUND`, `2ADVISED`, `4ALLOCATED` | `EXPECTED` | |
//! | `S30_ECIN`, `S40_YARD`, `S50_ECOUT` | `GATED_IN`, or `ON_HOLD` with holds | `GTIN` at `time_in` |
//! | `S60_LOADED` | `LOADED` | `GTIN`, `LOAD` at `time_out` (else `time_state_change`) |
//! | `S70_DEPARTED`, `3DEPARTED`, last seen on a vessel | `DEPARTED` | `GTIN`, `LOAD` at `time_out` |
//! | departed by truck or rail | not found: this visit never sailed | |
//! | only another booking's live visit | `BOOKING_MISMATCH` | `GTIN` |
//!
//! The result carries the vessel visit (id, phase, arrival and departure) the box is
//! booked on, and while it is advised the truck appointment that brings it in.
//!
//! Holds count while the box is advised or in the yard; once it is on the vessel they no
//! longer stop anything. Key dates come from the vessel visit: `begin_receive` (earliest
//! receiving), `cargo_cutoff` (else `export_cutoff`), `atd` (else `etd`) as the vessel's
//! departure, and the record's `last_free_day`.

use boxtrace::{
    EmptyIndicator, EquipmentEventCode, Hold, KeyDates, Status, TraceError, TraceResult, Vessel,
};
use chrono::{DateTime, Utc};

use super::{base, event, gate_in, phase, place, real_visit, Phase};
use crate::terminal::Terminal;
use crate::wire::{ContainerRecord, VesselVisit};

/// What the mapping of the traced booking's visit needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    pub terminal: Terminal,
    pub record: &'a ContainerRecord,
    /// Holds with their details (see [`holds_in_force`]).
    pub holds: &'a [Hold],
    pub vessel_visit: Option<&'a VesselVisit>,
    pub now: DateTime<Utc>,
    pub keep_raw: bool,
}

/// Whether holds matter in this phase (and their details are worth a call).
pub(crate) fn holds_in_force(record: &ContainerRecord) -> bool {
    matches!(phase(record), Phase::Advised | Phase::InYard)
}

/// The vessel visit whose dates matter to this visit, if it names a real one.
pub(crate) fn vessel_visit_id(record: &ContainerRecord) -> Option<&str> {
    if matches!(phase(record), Phase::LeftByLand) || !by_vessel(record) {
        return None;
    }
    real_visit(record.ob_id.as_deref())
}

/// The traced booking's visit as a result; a visit that left by land is not found.
pub(crate) fn found(found: Found<'_>) -> Result<TraceResult, TraceError> {
    let Found {
        terminal,
        record,
        holds,
        vessel_visit,
        now,
        keep_raw,
    } = found;
    let phase = phase(record);
    let status = match phase {
        Phase::Advised => Status::Expected,
        Phase::InYard if holds.is_empty() => Status::GatedIn,
        Phase::InYard => Status::OnHold,
        Phase::Loaded => Status::Loaded,
        Phase::Departed => Status::Departed,
        Phase::LeftByLand => return Err(TraceError::NotFound),
    };
    let indicator = super::empty_indicator(record, EmptyIndicator::Laden);
    let mut result = base(status, record, indicator, now, keep_raw);
    if phase != Phase::Advised {
        result.events.extend(gate_in(record, indicator, terminal));
    }
    if matches!(phase, Phase::Loaded | Phase::Departed) {
        let loaded_at = record.time_out.or(if phase == Phase::Loaded {
            record.time_state_change
        } else {
            None
        });
        if let Some(at) = loaded_at {
            result
                .events
                .push(event(EquipmentEventCode::Load, at, indicator, terminal));
        }
    }
    result.events.sort_by_key(|e| e.event_at);
    // On its way out to sea the box is on the vessel, not at the terminal.
    result.location = (phase != Phase::Departed).then(|| terminal.location());
    result.destination = destination(record);
    result.vessel = vessel(record, vessel_visit);
    result.booking_reference = record.booking_number.clone();
    if holds_in_force(record) {
        result.holds = holds.to_vec();
    }
    // The visit is shared by every box on it: the policy reads its phase and times.
    result.visit = vessel_visit_id(record).map(|id| super::visit::vessel_visit(id, vessel_visit));
    if phase == Phase::Advised {
        // A booked gate-in slot says when the box will come; once in, it is history.
        result.appointment = super::visit::appointment(record);
    }
    result.key_dates = KeyDates {
        earliest_receiving: vessel_visit.and_then(|v| v.begin_receive),
        cargo_cutoff: vessel_visit.and_then(|v| v.cargo_cutoff.or(v.export_cutoff)),
        vessel_departure: vessel_visit.and_then(|v| v.atd.or(v.etd)),
        last_free_day: record.last_free_day,
    };
    Ok(result)
}

/// Another booking's live visit: the box is (or is expected) at the terminal, but not for
/// the traced booking. Holds and key dates are not ours to report.
pub(crate) fn other_booking(
    terminal: Terminal,
    record: &ContainerRecord,
    now: DateTime<Utc>,
    keep_raw: bool,
) -> TraceResult {
    let indicator = super::empty_indicator(record, EmptyIndicator::Laden);
    let mut result = base(Status::BookingMismatch, record, indicator, now, keep_raw);
    if phase(record) != Phase::Advised {
        result.events.extend(gate_in(record, indicator, terminal));
    }
    result.location = Some(terminal.location());
    result.destination = destination(record);
    result.vessel = vessel(record, None);
    result.booking_reference = record.booking_number.clone();
    result
}

/// Whether the visit leaves by vessel (or ICTSI does not say).
fn by_vessel(record: &ContainerRecord) -> bool {
    record
        .ob_cv_mode
        .as_deref()
        .is_none_or(|mode| mode.eq_ignore_ascii_case("VESSEL"))
}

fn vessel(record: &ContainerRecord, visit: Option<&VesselVisit>) -> Option<Vessel> {
    let on_record = |name: Option<&String>| {
        name.filter(|_| by_vessel(record))
            .filter(|n| real_visit(Some(n.as_str())).is_some())
            .cloned()
    };
    let vessel = Vessel {
        name: on_record(record.ob_carrier_name.as_ref())
            .or_else(|| visit.and_then(|v| v.carrier_name.clone())),
        imo: visit.and_then(|v| v.lloyds_id.clone()),
        voyage: on_record(record.ob_outbound_vyg.as_ref())
            .or_else(|| visit.and_then(|v| v.ob_vyg.clone())),
        line: record
            .line_operator_id
            .clone()
            .or_else(|| record.line_operator_name.clone()),
    };
    (vessel != Vessel::default()).then_some(vessel)
}

fn destination(record: &ContainerRecord) -> Option<boxtrace::Location> {
    record
        .pod
        .as_deref()
        .or(record.destination.as_deref())
        .map(place)
}
