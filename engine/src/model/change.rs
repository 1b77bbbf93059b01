//! Kinds of change at the terminal: what a client hears about, and the vocabulary the
//! efficiency benchmark and the live metrics share.

use serde::{Deserialize, Serialize};

use super::{Status, TraceKind, TraceResult};

/// A change at the terminal that a result can reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ChangeKind {
    /// Export: the terminal knows the booking (the box is not advised yet).
    BookingKnown,
    /// Export: the box is pre-advised for a vessel visit.
    PreAdvised,
    /// Export: the box gated in.
    GatedIn,
    /// Export: a hold was placed on the box in the yard.
    HoldPlaced,
    /// Export: the box's holds were released.
    HoldReleased,
    /// Export: the box was loaded on its vessel.
    Loaded,
    /// Export: the vessel carrying the box departed.
    Departed,
    /// Export: the box was moved (rolled) to another vessel visit.
    Rolled,
    /// Empty: the empty was returned to the terminal.
    Returned,
}

impl ChangeKind {
    /// Every kind, in the order a box meets them.
    pub const ALL: [ChangeKind; 9] = [
        Self::BookingKnown,
        Self::PreAdvised,
        Self::GatedIn,
        Self::HoldPlaced,
        Self::HoldReleased,
        Self::Loaded,
        Self::Departed,
        Self::Rolled,
        Self::Returned,
    ];

    /// The wire name, e.g. `GATED_IN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingKnown => "BOOKING_KNOWN",
            Self::PreAdvised => "PRE_ADVISED",
            Self::GatedIn => "GATED_IN",
            Self::HoldPlaced => "HOLD_PLACED",
            Self::HoldReleased => "HOLD_RELEASED",
            Self::Loaded => "LOADED",
            Self::Departed => "DEPARTED",
            Self::Rolled => "ROLLED",
            Self::Returned => "RETURNED",
        }
    }

    /// Whether a TMS acts on this change (dispatches a truck, bills, tells the shipper):
    /// gated in, hold placed, hold released, loaded, returned. The policy's delay targets
    /// are about these.
    pub fn is_actionable(self) -> bool {
        matches!(
            self,
            Self::GatedIn | Self::HoldPlaced | Self::HoldReleased | Self::Loaded | Self::Returned
        )
    }

    /// The changes that lead from `previous` to `next` (two results of one `kind` trace
    /// of one box), as far as two results can show them: a skipped step (`EXPECTED`
    /// straight to `LOADED`) counts each step it passes.
    pub fn between(
        kind: TraceKind,
        previous: Option<&TraceResult>,
        next: &TraceResult,
    ) -> Vec<ChangeKind> {
        let mut kinds = Vec::new();
        let before = previous.map(|r| r.status);
        if kind == TraceKind::Empty {
            if next.status == Status::Returned && before != Some(Status::Returned) {
                kinds.push(Self::Returned);
            }
            return kinds;
        }
        let rank = |s: Option<Status>| s.map_or(0, export_rank);
        let (from, to) = (rank(before), rank(Some(next.status)));
        for (kind, step) in [
            (Self::BookingKnown, 1),
            (Self::PreAdvised, 2),
            (Self::GatedIn, 3),
            (Self::Loaded, 4),
            (Self::Departed, 5),
        ] {
            if from < step && to >= step {
                kinds.push(kind);
            }
        }
        match (before, next.status) {
            (Some(Status::OnHold), Status::OnHold) => {}
            (_, Status::OnHold) => kinds.push(Self::HoldPlaced),
            (Some(Status::OnHold), _) => kinds.push(Self::HoldReleased),
            _ => {}
        }
        let visit = |r: &TraceResult| r.visit.as_ref().map(|v| v.id.clone());
        if let (Some(Some(a)), Some(b)) = (previous.map(visit), visit(next)) {
            if a != b {
                kinds.push(Self::Rolled);
            }
        }
        kinds.sort();
        kinds
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far an export box has come: 0 booking unknown, 1 booking known, 2 advised, 3 in
/// the yard (held or not), 4 loaded, 5 departed. Empty statuses rank 0.
fn export_rank(status: Status) -> u8 {
    match status {
        Status::BookingNotFound | Status::BookingMismatch => 0,
        Status::NotFound => 1,
        Status::Expected => 2,
        Status::GatedIn | Status::OnHold => 3,
        Status::Loaded => 4,
        Status::Departed => 5,
        Status::NotReceivable | Status::Receivable | Status::Returned => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VesselVisit;

    fn result(status: Status, visit: Option<&str>) -> TraceResult {
        let mut r = TraceResult::new(status, chrono::Utc::now());
        r.visit = visit.map(VesselVisit::new);
        r
    }

    #[test]
    fn steps_holds_rolls_and_returns() {
        use ChangeKind::*;
        let between = |a: Option<TraceResult>, b: TraceResult| {
            let kind = if b.status.applies_to(TraceKind::Export) {
                TraceKind::Export
            } else {
                TraceKind::Empty
            };
            ChangeKind::between(kind, a.as_ref(), &b)
        };
        assert_eq!(
            between(
                Some(result(Status::BookingNotFound, None)),
                result(Status::Expected, Some("V1"))
            ),
            [BookingKnown, PreAdvised]
        );
        assert_eq!(
            between(
                Some(result(Status::GatedIn, Some("V1"))),
                result(Status::OnHold, Some("V1"))
            ),
            [HoldPlaced]
        );
        assert_eq!(
            between(
                Some(result(Status::OnHold, Some("V1"))),
                result(Status::Loaded, Some("V1"))
            ),
            [HoldReleased, Loaded]
        );
        assert_eq!(
            between(
                Some(result(Status::GatedIn, Some("V1"))),
                result(Status::GatedIn, Some("V2"))
            ),
            [Rolled]
        );
        assert_eq!(
            between(
                Some(result(Status::NotFound, None)),
                result(Status::Returned, None)
            ),
            [Returned]
        );
        assert!(between(
            Some(result(Status::OnHold, None)),
            result(Status::OnHold, None)
        )
        .is_empty());
        assert!(GatedIn.is_actionable() && Returned.is_actionable() && !Departed.is_actionable());
    }
}
