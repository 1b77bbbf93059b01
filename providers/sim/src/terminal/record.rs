//! What the terminal answers about one box, and that answer as a normalized result.

use boxtrace::{
    Appointment, EmptyIndicator, EquipmentEvent, EquipmentEventCode, EventClassifier, Hold,
    Location, Status, TraceKind, TraceResult, Vessel,
};
use chrono::{DateTime, Utc};

use super::life::BoxState;
use super::visit::{Visit, VisitState};

/// The container record of a box, as a container lookup returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerRecord {
    pub(crate) kind: TraceKind,
    pub(crate) terminal: String,
    /// The booking the terminal holds the box under.
    pub(crate) booking: Option<String>,
    pub(crate) state: BoxState,
    /// The vessel and voyage of the box's visit, when it has one.
    pub(crate) vessel: Option<(String, String, Option<String>)>,
}

/// The terminal where the box is.
pub(crate) fn location(terminal: &str) -> Location {
    Location {
        un_locode: Some(match terminal {
            "SBITC" => "PHSFS".to_owned(),
            _ => "PHMNL".to_owned(),
        }),
        facility_code: Some(terminal.to_owned()),
        name: Some(format!("Simulated terminal {terminal}")),
    }
}

/// The record of a box traced under `booking` that the terminal holds under another:
/// the status says so and nothing of the owner's is shown.
pub(crate) fn other_booking(record: &ContainerRecord, traced_at: DateTime<Utc>) -> TraceResult {
    let mut result = TraceResult::new(Status::BookingMismatch, traced_at);
    result.location = Some(location(&record.terminal));
    result
}

/// The normalized result of `record`, with its visit as the visit lookup showed it.
pub(crate) fn result(
    record: &ContainerRecord,
    visit: Option<&VisitState>,
    traced_at: DateTime<Utc>,
) -> TraceResult {
    let state = &record.state;
    let mut result = TraceResult::new(state.status, traced_at);
    result.location = Some(location(&record.terminal));
    result.observed_at = state.status_since;
    result.appointment = appointment(state);
    let indicator = match record.kind {
        TraceKind::Export => EmptyIndicator::Laden,
        TraceKind::Empty => EmptyIndicator::Empty,
    };
    if let Some(at) = state.gated_in_at {
        result.empty_indicator = Some(indicator);
        let description = match record.kind {
            TraceKind::Export => "Gate in full for export",
            TraceKind::Empty => "Empty returned",
        };
        result.events.push(event(
            EquipmentEventCode::Gtin,
            at,
            indicator,
            &record.terminal,
            description,
        ));
    }
    if let Some(at) = state.loaded_at {
        let description = match &record.vessel {
            Some((name, voyage, _)) => format!("Loaded on {name} voyage {voyage}"),
            None => "Loaded on vessel".to_owned(),
        };
        result.events.push(event(
            EquipmentEventCode::Load,
            at,
            indicator,
            &record.terminal,
            &description,
        ));
    }
    result.holds = state
        .holds
        .iter()
        .map(|code| Hold {
            code: code.clone(),
            description: None,
            applies_to: Some("vessel".into()),
        })
        .collect();
    if record.kind == TraceKind::Export && state.status != Status::BookingNotFound {
        result.booking_reference = record.booking.clone();
    }
    if let Some((name, voyage, line)) = &record.vessel {
        result.vessel = Some(Vessel {
            name: Some(name.clone()),
            imo: None,
            voyage: Some(voyage.clone()),
            line: line.clone(),
        });
    }
    if let Some(visit) = visit {
        result.visit = Some(visit.visit.clone());
        result.key_dates = visit.key_dates.clone();
    }
    result
}

/// The appointment while it still lies ahead of the gate move it is for: once the box
/// has gated in (or been returned) it is history, not news.
fn appointment(state: &BoxState) -> Option<Appointment> {
    match state.status {
        Status::BookingNotFound | Status::NotFound | Status::Expected => state.appointment,
        _ => None,
    }
}

fn event(
    code: EquipmentEventCode,
    at: DateTime<Utc>,
    indicator: EmptyIndicator,
    terminal: &str,
    description: &str,
) -> EquipmentEvent {
    EquipmentEvent {
        code,
        classifier: EventClassifier::Act,
        event_at: at,
        empty_indicator: Some(indicator),
        location: Some(location(terminal)),
        description: Some(description.to_owned()),
    }
}

/// The vessel of a visit, as a container record names it.
pub(crate) fn vessel_of(visit: &Visit) -> (String, String, Option<String>) {
    (
        visit.vessel.clone(),
        visit.voyage.clone(),
        visit.line.clone(),
    )
}
