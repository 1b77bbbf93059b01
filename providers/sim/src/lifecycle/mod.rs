//! Seeded container lifecycles: a plan of timed status changes per (seed, kind, box),
//! and the normalized result that plan gives at any instant.
//!
//! A plan is a list of steps in strictly increasing time. The result at `t` is the last
//! step at or before `t` (the first step before the plan starts), with every event of the
//! steps up to `t`, oldest first. Nothing here reads a clock or draws outside the seed.

mod empty;
mod export;

use boxtrace::{
    EmptyIndicator, EquipmentEvent, EquipmentEventCode, EventClassifier, Hold, KeyDates, Location,
    PermanentReason, Status, TraceError, TraceKind, TraceResult, Vessel,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::scenario::Scenario;
use crate::seed::Key;

/// One status change of a plan.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    at: DateTime<Utc>,
    status: Status,
    /// The equipment event that happened with this change, if any.
    event: Option<EquipmentEvent>,
    /// Holds in force from this step on.
    holds: Vec<Hold>,
    empty_indicator: Option<EmptyIndicator>,
    /// Whether the terminal knows the box (or booking) from this step on, and shows
    /// the plan's [`Details`].
    known: bool,
}

impl Step {
    fn new(at: DateTime<Utc>, status: Status) -> Self {
        Self {
            at,
            status,
            event: None,
            holds: Vec::new(),
            empty_indicator: None,
            known: true,
        }
    }

    fn unknown(mut self) -> Self {
        self.known = false;
        self
    }

    fn with_indicator(mut self, indicator: EmptyIndicator) -> Self {
        self.empty_indicator = Some(indicator);
        self
    }

    fn with_event(mut self, code: EquipmentEventCode, description: String) -> Self {
        self.event = Some(EquipmentEvent {
            code,
            classifier: EventClassifier::Act,
            event_at: self.at,
            empty_indicator: self.empty_indicator,
            location: Some(terminal()),
            description: Some(description),
        });
        self
    }

    fn with_holds(mut self, holds: Vec<Hold>) -> Self {
        self.holds = holds;
        self
    }
}

/// What the terminal shows about a known box, whatever its status.
#[derive(Debug, Clone, Default, PartialEq)]
struct Details {
    location: Option<Location>,
    destination: Option<Location>,
    vessel: Option<Vessel>,
    booking_reference: Option<String>,
    key_dates: KeyDates,
}

/// The whole life of one simulated box for one trace kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Never empty; strictly increasing in time; consecutive statuses differ.
    steps: Vec<Step>,
    details: Details,
}

impl Plan {
    /// The plan of `container`'s `kind` trace under `seed`, anchored at `epoch`.
    ///
    /// Fails for the `rejected` scenario and for data whose scenario is invalid (which
    /// [`Scenario::from_data`] refuses at publish time), both as a permanent
    /// `request_rejected` error.
    pub(crate) fn new(
        seed: u64,
        epoch: DateTime<Utc>,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
    ) -> Result<Self, TraceError> {
        let scenario = Scenario::from_data(data).map_err(|e| TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            message: format!("invalid data: {e}"),
        })?;
        let mut draws = Key::new("lifecycle", seed)
            .str(kind.as_str())
            .str(container)
            .draws();
        let (steps, details) = match (scenario, kind) {
            (Scenario::Rejected, _) => {
                return Err(TraceError::Permanent {
                    reason: PermanentReason::RequestRejected,
                    message: "the simulated terminal refuses this request (scenario rejected)"
                        .into(),
                })
            }
            (Scenario::NotFound, _) => (
                vec![Step::new(epoch, Status::NotFound).unknown()],
                Details::default(),
            ),
            (_, TraceKind::Export) => {
                let booking = data.get("bookingNumber").and_then(Value::as_str);
                export::plan(&mut draws, epoch, scenario, booking)
            }
            (_, TraceKind::Empty) => empty::plan(&mut draws, epoch),
        };
        debug_assert!(steps.windows(2).all(|w| w[0].at < w[1].at));
        debug_assert!(steps.windows(2).all(|w| w[0].status != w[1].status));
        Ok(Self { steps, details })
    }

    /// Every status change with its time, in order; the first entry is the status the
    /// box starts in, at the epoch.
    pub(crate) fn timeline(&self) -> Vec<(DateTime<Utc>, Status)> {
        self.steps.iter().map(|s| (s.at, s.status)).collect()
    }

    /// The normalized result at `at`; `NotFound` as an error, as a terminal answers
    /// for a box it does not know. `traced_at` is `at`.
    pub(crate) fn result_at(&self, at: DateTime<Utc>) -> Result<TraceResult, TraceError> {
        let reached = self.steps.iter().take_while(|s| s.at <= at).count();
        // Before the plan starts the box is as at its first step, with nothing observed.
        let Some(step) = self.steps.get(reached.saturating_sub(1)) else {
            return Err(TraceError::NotFound);
        };
        if step.status == Status::NotFound {
            return Err(TraceError::NotFound);
        }
        let mut result = TraceResult::new(step.status, at);
        result.events = self.steps[..reached]
            .iter()
            .filter_map(|s| s.event.clone())
            .collect();
        result.empty_indicator = step.empty_indicator;
        result.holds = step.holds.clone();
        result.observed_at = (reached > 0).then_some(step.at);
        if step.known {
            let d = &self.details;
            result.location = d.location.clone();
            result.destination = d.destination.clone();
            result.vessel = d.vessel.clone();
            result.booking_reference = d.booking_reference.clone();
            result.key_dates = d.key_dates.clone();
        }
        Ok(result)
    }
}

/// The simulated terminal, where every box of this provider is.
fn terminal() -> Location {
    Location {
        un_locode: Some("PHMNL".into()),
        facility_code: Some("SIM".into()),
        name: Some("Simulated Terminal".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn epoch() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn before_the_epoch_the_box_is_as_at_its_first_step() {
        let plan = Plan::new(1, epoch(), TraceKind::Export, "CSQU3054383", &Map::new()).unwrap();
        let before = plan.result_at(epoch() - Duration::days(3)).unwrap();
        assert_eq!(before.status, Status::BookingNotFound);
        assert_eq!(before.observed_at, None);
        assert!(before.events.is_empty() && before.vessel.is_none());
        let empty = Plan::new(1, epoch(), TraceKind::Empty, "CSQU3054383", &Map::new()).unwrap();
        assert_eq!(empty.result_at(epoch()), Err(TraceError::NotFound));
    }

    #[test]
    fn scenarios_not_found_and_rejected() {
        let not_found = data(json!({ "scenario": "not-found" }));
        for kind in [TraceKind::Export, TraceKind::Empty] {
            let plan = Plan::new(1, epoch(), kind, "X", &not_found).unwrap();
            assert_eq!(plan.timeline(), vec![(epoch(), Status::NotFound)]);
            assert_eq!(
                plan.result_at(epoch() + Duration::days(20)),
                Err(TraceError::NotFound)
            );
        }
        for scenario in [json!("rejected"), json!("bogus")] {
            let err = Plan::new(
                1,
                epoch(),
                TraceKind::Export,
                "X",
                &data(json!({ "scenario": scenario })),
            )
            .unwrap_err();
            assert!(matches!(
                err,
                TraceError::Permanent {
                    reason: PermanentReason::RequestRejected,
                    ..
                }
            ));
        }
    }

    #[test]
    fn known_boxes_show_details_and_laden_events() {
        let booking = data(json!({ "bookingNumber": "BKG42", "scenario": "no-hold" }));
        let plan = Plan::new(3, epoch(), TraceKind::Export, "CSQU3054383", &booking).unwrap();
        let (departed_at, status) = *plan.timeline().last().unwrap();
        assert_eq!(status, Status::Departed);
        let r = plan.result_at(departed_at).unwrap();
        assert_eq!(r.booking_reference.as_deref(), Some("BKG42"));
        assert_eq!(r.key_dates.vessel_departure, Some(departed_at));
        assert_eq!(r.observed_at, Some(departed_at));
        assert_eq!(r.location, Some(terminal()));
        let codes: Vec<_> = r.events.iter().map(|e| e.code).collect();
        assert_eq!(codes, [EquipmentEventCode::Gtin, EquipmentEventCode::Load]);
        assert!(r
            .events
            .iter()
            .all(|e| e.empty_indicator == Some(EmptyIndicator::Laden)));
    }
}
