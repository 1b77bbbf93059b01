//! The normalized trace result: the same shape whatever the provider, in DCSA Track & Trace terms.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Appointment, TraceKind, VesselVisit};

/// What a trace found, normalized for its trace kind.
///
/// Export traces use `NotFound`, `BookingNotFound`, `BookingMismatch`, `Expected`,
/// `GatedIn`, `OnHold`, `Loaded` and `Departed`; empty traces use `NotFound`,
/// `NotReceivable`, `Receivable` and `Returned`. [`Status::applies_to`] says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Status {
    /// The provider has no record of the container (for an empty trace: not returned yet).
    NotFound,
    /// Export: the provider does not know the booking.
    BookingNotFound,
    /// Export: the container is at the provider under another booking than the one traced.
    BookingMismatch,
    /// Export: the container is pre-advised and expected at the terminal.
    Expected,
    /// Export: the container has gated in and is in the yard.
    GatedIn,
    /// Export: the container is in the yard with a hold or impediment.
    OnHold,
    /// Export: the container is loaded on the vessel (terminal status).
    Loaded,
    /// Export: the vessel carrying the container has departed (terminal status).
    Departed,
    /// Empty: the terminal does not accept this empty now.
    NotReceivable,
    /// Empty: the terminal accepts this empty.
    Receivable,
    /// Empty: the empty has been returned (terminal status).
    Returned,
}

impl Status {
    /// Whether this status is meaningful for a trace of `kind`.
    pub fn applies_to(self, kind: TraceKind) -> bool {
        match self {
            Self::NotFound => true,
            Self::BookingNotFound
            | Self::BookingMismatch
            | Self::Expected
            | Self::GatedIn
            | Self::OnHold
            | Self::Loaded
            | Self::Departed => kind == TraceKind::Export,
            Self::NotReceivable | Self::Receivable | Self::Returned => kind == TraceKind::Empty,
        }
    }

    /// The status's wire name, e.g. `GATED_IN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::BookingNotFound => "BOOKING_NOT_FOUND",
            Self::BookingMismatch => "BOOKING_MISMATCH",
            Self::Expected => "EXPECTED",
            Self::GatedIn => "GATED_IN",
            Self::OnHold => "ON_HOLD",
            Self::Loaded => "LOADED",
            Self::Departed => "DEPARTED",
            Self::NotReceivable => "NOT_RECEIVABLE",
            Self::Receivable => "RECEIVABLE",
            Self::Returned => "RETURNED",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// DCSA equipment event type codes (Track & Trace 2.2, `equipmentEventTypeCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum EquipmentEventCode {
    /// Gated in.
    Gtin,
    /// Gated out.
    Gtot,
    /// Loaded.
    Load,
    /// Discharged.
    Disc,
    /// Picked up.
    Pick,
    /// Dropped off.
    Drop,
    /// Stuffed.
    Stuf,
    /// Stripped.
    Strp,
    /// Inspected.
    Insp,
    /// Resealed.
    Rsea,
    /// Removed.
    Rmvd,
}

impl EquipmentEventCode {
    /// The four-letter DCSA code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtin => "GTIN",
            Self::Gtot => "GTOT",
            Self::Load => "LOAD",
            Self::Disc => "DISC",
            Self::Pick => "PICK",
            Self::Drop => "DROP",
            Self::Stuf => "STUF",
            Self::Strp => "STRP",
            Self::Insp => "INSP",
            Self::Rsea => "RSEA",
            Self::Rmvd => "RMVD",
        }
    }
}

/// DCSA event classifier: planned, estimated or actual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum EventClassifier {
    /// Planned.
    Pln,
    /// Estimated.
    Est,
    /// Actual.
    Act,
}

/// DCSA empty/laden indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EmptyIndicator {
    /// Laden.
    Laden,
    /// Empty.
    Empty,
}

/// A place: UN/LOCODE, facility code and a readable name, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// UN/LOCODE, e.g. `PHMNL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub un_locode: Option<String>,
    /// The provider's facility (terminal) code, e.g. `MICT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility_code: Option<String>,
    /// A readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One equipment event, as DCSA Track & Trace describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EquipmentEvent {
    /// What happened.
    pub code: EquipmentEventCode,
    /// Actual, estimated or planned.
    pub classifier: EventClassifier,
    /// When it happened (or is planned or estimated to).
    pub event_at: DateTime<Utc>,
    /// Empty or laden at the time of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_indicator: Option<EmptyIndicator>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A readable description from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The vessel and voyage the container is booked on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Vessel {
    /// Vessel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IMO number (Lloyd's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imo: Option<String>,
    /// Voyage number (outbound for exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    /// Steamship line (line operator) code or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// A hold or impediment that stops the container from moving.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// The provider's hold code or type, e.g. `CUSTOMS`.
    pub code: String,
    /// A readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which move it stops: `vessel`, `road` or `rail`, where the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<String>,
}

/// Dates a drayage planner acts on, where the provider gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeyDates {
    /// Earliest date the terminal receives export boxes for the vessel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_receiving: Option<DateTime<Utc>>,
    /// Cargo cut-off: the latest gate-in for the vessel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo_cutoff: Option<DateTime<Utc>>,
    /// Estimated departure of the vessel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel_departure: Option<DateTime<Utc>>,
    /// Last free day before storage charges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_free_day: Option<NaiveDate>,
}

impl KeyDates {
    /// Whether no date is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A normalized trace result.
///
/// Two results describe the same situation when [`TraceResult::same_content`] says so:
/// that comparison ignores when the provider observed the data and when we traced it, and
/// the provider's raw answer, so that a re-trace that finds nothing new is not a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TraceResult {
    /// The normalized status for the trace kind.
    pub status: Status,
    /// Equipment events, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EquipmentEvent>,
    /// Empty or laden now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_indicator: Option<EmptyIndicator>,
    /// Where the container is (or is expected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Port of discharge or final destination, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Location>,
    /// Vessel and voyage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel: Option<Vessel>,
    /// The booking the provider holds the container under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_reference: Option<String>,
    /// Holds now in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Key dates.
    #[serde(default, skip_serializing_if = "KeyDates::is_empty")]
    pub key_dates: KeyDates,
    /// The vessel visit the box is booked on (phase and schedule), where the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<VesselVisit>,
    /// The booked truck slot for the box's next gate move (export gate-in, empty return).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<Appointment>,
    /// When the provider last saw a change (its own timestamp), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// When we traced it. The engine sets this.
    pub traced_at: DateTime<Utc>,
    /// The provider's raw answer, for debugging. Never compared, never required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

impl TraceResult {
    /// A result with only a status, traced at `traced_at`.
    pub fn new(status: Status, traced_at: DateTime<Utc>) -> Self {
        Self {
            status,
            events: Vec::new(),
            empty_indicator: None,
            location: None,
            destination: None,
            vessel: None,
            booking_reference: None,
            holds: Vec::new(),
            key_dates: KeyDates::default(),
            visit: None,
            appointment: None,
            observed_at: None,
            traced_at,
            raw: None,
        }
    }

    /// Whether `self` and `other` describe the same situation: everything but the
    /// observation and trace timestamps and the raw answer is equal.
    pub fn same_content(&self, other: &Self) -> bool {
        self.status == other.status
            && self.events == other.events
            && self.empty_indicator == other.empty_indicator
            && self.location == other.location
            && self.destination == other.destination
            && self.vessel == other.vessel
            && self.booking_reference == other.booking_reference
            && self.holds == other.holds
            && self.key_dates == other.key_dates
            && self.visit == other.visit
            && self.appointment == other.appointment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, 0, 0).unwrap()
    }

    #[test]
    fn change_detection_ignores_timestamps_and_raw() {
        let mut a = TraceResult::new(Status::GatedIn, at(1));
        a.observed_at = Some(at(0));
        let mut b = a.clone();
        b.traced_at = at(5);
        b.observed_at = Some(at(4));
        b.raw = Some(serde_json::json!({"anything": 1}));
        assert!(a.same_content(&b));
        b.holds.push(Hold {
            code: "CUSTOMS".into(),
            description: None,
            applies_to: None,
        });
        assert!(!a.same_content(&b));
    }

    #[test]
    fn statuses_belong_to_their_kind() {
        assert!(Status::Loaded.applies_to(TraceKind::Export));
        assert!(!Status::Loaded.applies_to(TraceKind::Empty));
        assert!(Status::Returned.applies_to(TraceKind::Empty));
        assert!(Status::NotFound.applies_to(TraceKind::Empty));
        assert_eq!(
            serde_json::to_string(&Status::BookingMismatch).unwrap(),
            "\"BOOKING_MISMATCH\""
        );
        assert_eq!(
            serde_json::to_string(&EquipmentEventCode::Gtin).unwrap(),
            "\"GTIN\""
        );
    }
}
