//! Vessel visits and truck appointments: the structure a terminal shares between boxes.
//!
//! Every export box on one vessel call shares that call's receiving window, cut-off, berth,
//! working window and departure; gate-ins and empty returns happen in booked truck slots.
//! A result carries both where the provider gives them, so that the policy can trace
//! densely when something can happen and rarely when nothing can.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a vessel visit is in its call at the terminal (Navis N4's visit phases, the ones
/// a tracer can act on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum VisitPhase {
    /// Planned or on its way: not yet at the terminal.
    Inbound,
    /// At the terminal (anchorage or berth), not yet working cargo.
    Arrived,
    /// Cranes are working the vessel: export boxes are being loaded.
    Working,
    /// Cargo work is done; the vessel has not left yet.
    Complete,
    /// The vessel has left.
    Departed,
}

impl VisitPhase {
    /// Every phase, in the order a visit goes through them.
    pub const ALL: [VisitPhase; 5] = [
        Self::Inbound,
        Self::Arrived,
        Self::Working,
        Self::Complete,
        Self::Departed,
    ];

    /// The wire name, e.g. `WORKING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "INBOUND",
            Self::Arrived => "ARRIVED",
            Self::Working => "WORKING",
            Self::Complete => "COMPLETE",
            Self::Departed => "DEPARTED",
        }
    }

    /// The phase called `name` (the wire name, any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|phase| phase.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for VisitPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The vessel visit (one call of one vessel at the terminal) a box is booked on, as the
/// terminal reports it now. Times are estimates until the actual ones are known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VesselVisit {
    /// The terminal's id of the visit, e.g. `ONEAPU042E`. Boxes with the same id (at the
    /// same terminal and provider) share the visit.
    pub id: String,
    /// Where the visit is in its call, when the terminal says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<VisitPhase>,
    /// Estimated arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<DateTime<Utc>>,
    /// Actual arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ata: Option<DateTime<Utc>>,
    /// Estimated departure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etd: Option<DateTime<Utc>>,
    /// Actual departure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atd: Option<DateTime<Utc>>,
}

impl VesselVisit {
    /// A visit known only by its id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            phase: None,
            eta: None,
            ata: None,
            etd: None,
            atd: None,
        }
    }

    /// The best arrival time known: actual, else estimated.
    pub fn arrival(&self) -> Option<DateTime<Utc>> {
        self.ata.or(self.eta)
    }

    /// The best departure time known: actual, else estimated.
    pub fn departure(&self) -> Option<DateTime<Utc>> {
        self.atd.or(self.etd)
    }
}

/// A booked truck slot at the terminal gate: an export gate-in or an empty return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    /// Start of the slot.
    pub start: DateTime<Utc>,
    /// End of the slot.
    pub end: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_by_name_in_order() {
        for phase in VisitPhase::ALL {
            assert_eq!(VisitPhase::parse(phase.as_str()), Some(phase));
            let json = serde_json::to_string(&phase).unwrap();
            assert_eq!(json, format!("\"{}\"", phase.as_str()));
        }
        assert_eq!(VisitPhase::parse("working"), Some(VisitPhase::Working));
        assert_eq!(VisitPhase::parse("BERTHED"), None);
        assert!(VisitPhase::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
