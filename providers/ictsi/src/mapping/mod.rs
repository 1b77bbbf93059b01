//! From ICTSI's records to the normalized [`TraceResult`]: the reference's suggested
//! mapping, with DCSA equipment event codes.
//!
//! Pure functions of the records and the request: no I/O, no clock. The trace kinds are
//! in [`export`] and [`empty`]; what both share is here.

pub(crate) mod empty;
pub(crate) mod export;
mod holds;
mod visit;

use boxtrace::{
    EmptyIndicator, EquipmentEvent, EquipmentEventCode, EventClassifier, Location, Status,
    TraceResult,
};
use chrono::{DateTime, Utc};

use crate::select;
use crate::terminal::Terminal;
use crate::wire::ContainerRecord;

pub(crate) use holds::{describe as describe_holds, holds};

/// Where a visit is in the terminal's flow, from `transit_state` (or `visit_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Pre-advised or on its way in (`S10_ADVISED`, `S20_INBOUND`, `2ADVISED`).
    Advised,
    /// In the terminal (`S30_ECIN`, `S40_YARD`, `S50_ECOUT`).
    InYard,
    /// On the vessel, which has not left (`S60_LOADED`).
    Loaded,
    /// Left with a vessel (`S70_DEPARTED` or `3DEPARTED`, last seen on a vessel or unknown).
    Departed,
    /// Left by truck or rail (`S70_DEPARTED` or `3DEPARTED`, last seen on a truck or train):
    /// this visit never sailed.
    LeftByLand,
}

/// The visit's phase. A departed visit left by land only when its last position (or,
/// masked, its outbound carrier mode) says so; otherwise it is taken to have sailed, as
/// the reference suggests.
pub(crate) fn phase(record: &ContainerRecord) -> Phase {
    let transit = record.transit_state.as_deref().unwrap_or_default();
    let departed = transit.starts_with("S70") || record.visit_state.as_deref() == Some("3DEPARTED");
    if departed {
        let last_move = record
            .last_pos_loctype
            .as_deref()
            .or(record.ob_cv_mode.as_deref())
            .unwrap_or_default();
        return if matches!(
            last_move.to_ascii_uppercase().as_str(),
            "TRUCK" | "RAIL" | "TRAIN"
        ) {
            Phase::LeftByLand
        } else {
            Phase::Departed
        };
    }
    match transit.get(..3) {
        Some("S10" | "S20") => Phase::Advised,
        Some("S30" | "S40" | "S50") => Phase::InYard,
        Some("S60") => Phase::Loaded,
        _ => match select::liveness(record) {
            select::Liveness::Active if record.time_in.is_some() => Phase::InYard,
            _ => Phase::Advised,
        },
    }
}

/// Empty for freight kind `MTY`, laden for any other kind ICTSI names, and `default` (what
/// the trace kind implies) when the freight kind is not given.
pub(crate) fn empty_indicator(record: &ContainerRecord, default: EmptyIndicator) -> EmptyIndicator {
    match record.freight_kind.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("MTY") => EmptyIndicator::Empty,
        Some(_) => EmptyIndicator::Laden,
        None => default,
    }
}

/// An actual event at the terminal.
pub(crate) fn event(
    code: EquipmentEventCode,
    at: DateTime<Utc>,
    indicator: EmptyIndicator,
    terminal: Terminal,
) -> EquipmentEvent {
    EquipmentEvent {
        code,
        classifier: EventClassifier::Act,
        event_at: at,
        empty_indicator: Some(indicator),
        location: Some(terminal.location()),
        description: None,
    }
}

/// The gate-in event, when the visit has a `time_in`.
pub(crate) fn gate_in(
    record: &ContainerRecord,
    indicator: EmptyIndicator,
    terminal: Terminal,
) -> Option<EquipmentEvent> {
    record
        .time_in
        .map(|at| event(EquipmentEventCode::Gtin, at, indicator, terminal))
}

/// A result with the fields every mapping fills the same way.
pub(crate) fn base(
    status: Status,
    record: &ContainerRecord,
    indicator: EmptyIndicator,
    now: DateTime<Utc>,
    keep_raw: bool,
) -> TraceResult {
    let mut result = TraceResult::new(status, now);
    result.empty_indicator = Some(indicator);
    result.observed_at = select::last_change(record);
    if keep_raw {
        result.raw = serde_json::to_value(record).ok();
    }
    result
}

/// A place named by ICTSI (`pod`, `destination`): a UN/LOCODE when it looks like one
/// (two letters, three letters or digits 2–9), else a name.
pub(crate) fn place(code: &str) -> Location {
    let code = code.trim();
    let bytes = code.as_bytes();
    let is_locode = bytes.len() == 5
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'9').contains(b));
    if is_locode {
        Location {
            un_locode: Some(code.to_owned()),
            ..Location::default()
        }
    } else {
        Location {
            name: Some(code.to_owned()),
            ..Location::default()
        }
    }
}

/// An outbound carrier visit that names a real vessel visit: N4 books boxes whose vessel is
/// not known yet on generic visits (`GEN_VESSEL`, `GEN_TRUCK`).
pub(crate) fn real_visit(id: Option<&str>) -> Option<&str> {
    id.filter(|id| !id.to_ascii_uppercase().starts_with("GEN_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(transit: &str, visit: &str) -> ContainerRecord {
        ContainerRecord {
            transit_state: Some(transit.into()),
            visit_state: Some(visit.into()),
            ..ContainerRecord::default()
        }
    }

    #[test]
    fn phases_follow_transit_states() {
        assert_eq!(phase(&record("S10_ADVISED", "2ADVISED")), Phase::Advised);
        assert_eq!(phase(&record("S20_INBOUND", "1ACTIVE")), Phase::Advised);
        assert_eq!(phase(&record("S40_YARD", "1ACTIVE")), Phase::InYard);
        assert_eq!(phase(&record("S60_LOADED", "1ACTIVE")), Phase::Loaded);
        assert_eq!(phase(&record("S70_DEPARTED", "3DEPARTED")), Phase::Departed);
        let mut by_truck = record("S70_DEPARTED", "3DEPARTED");
        by_truck.last_pos_loctype = Some("TRUCK".into());
        assert_eq!(phase(&by_truck), Phase::LeftByLand);
        let mut unknown = record("S??", "1ACTIVE");
        assert_eq!(phase(&unknown), Phase::Advised);
        unknown.time_in = chrono::DateTime::from_timestamp(1_770_000_000, 0);
        assert_eq!(phase(&unknown), Phase::InYard);
    }

    #[test]
    fn places_and_generic_visits() {
        assert_eq!(place("CNSHA").un_locode.as_deref(), Some("CNSHA"));
        assert_eq!(place("USLA2").un_locode.as_deref(), Some("USLA2"));
        assert_eq!(place("SHANGHAI").name.as_deref(), Some("SHANGHAI"));
        assert_eq!(place("SHA").un_locode, None);
        assert_eq!(real_visit(Some("GEN_VESSEL")), None);
        assert_eq!(real_visit(Some("MAEU123N")), Some("MAEU123N"));
    }
}
