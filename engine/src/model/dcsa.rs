//! DCSA Track & Trace 2.2 equipment events, as the specification names and cases them, built
//! from a normalized result for the `equipmentEvents` of result payloads.
//!
//! The mapping keeps to what the specification's `equipmentEvent` schema accepts: fields
//! that would break one of its length limits are left out (or a free-text name shortened)
//! rather than sent invalid, and a transport call is sent only where it is known: a load,
//! with the vessel visit the box is booked out on. A result's visit and vessel are the
//! outbound ones, so a discharge (which comes off an inbound call) gets no transport call
//! rather than the wrong one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    EmptyIndicator, EquipmentEvent, EquipmentEventCode, EventClassifier, Location, TraceKind,
    TraceResult,
};

/// `eventType` of an equipment event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DcsaEventType {
    /// An equipment event.
    Equipment,
}

/// `emptyIndicatorCode`: whether the equipment is empty or laden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmptyIndicatorCode {
    /// Empty.
    Empty,
    /// Laden.
    Laden,
}

impl From<EmptyIndicator> for EmptyIndicatorCode {
    fn from(indicator: EmptyIndicator) -> Self {
        match indicator {
            EmptyIndicator::Empty => Self::Empty,
            EmptyIndicator::Laden => Self::Laden,
        }
    }
}

/// `modeOfTransport` of a transport call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModeOfTransport {
    /// Vessel.
    Vessel,
    /// Rail.
    Rail,
    /// Truck.
    Truck,
    /// Barge.
    Barge,
}

/// A DCSA `location`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DcsaLocation {
    /// The name of the location (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 100, nullable = false))]
    pub location_name: Option<String>,
    /// The UN/LOCODE (5 characters).
    #[serde(
        rename = "UNLocationCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(max_length = 5, nullable = false))]
    pub un_location_code: Option<String>,
    /// The facility (terminal) code, without the UN/LOCODE (at most 6 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 6, nullable = false))]
    pub facility_code: Option<String>,
}

/// A DCSA `vessel`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DcsaVessel {
    /// The IMO number (7 digits).
    #[serde(rename = "vesselIMONumber")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 7))]
    pub vessel_imo_number: String,
    /// The vessel's name (at most 35 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 35, nullable = false))]
    pub vessel_name: Option<String>,
    // No `vesselOperatorCarrierCode`: providers name the box's line operator (an id or a
    // name, from no stated code list), which under slot charters is not the carrier
    // operating the vessel.
}

/// A DCSA `transportCall`: the vessel call a load belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DcsaTransportCall {
    /// The terminal's id of the vessel visit (at most 100 characters).
    #[serde(rename = "transportCallID")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 100))]
    pub transport_call_id: String,
    /// The voyage (deprecated by DCSA 2.2 in favour of `exportVoyageNumber`, still read by
    /// 2.1 receivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 50, nullable = false))]
    pub carrier_voyage_number: Option<String>,
    /// The export voyage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 50, nullable = false))]
    pub export_voyage_number: Option<String>,
    /// The UN/LOCODE of the call.
    #[serde(
        rename = "UNLocationCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(max_length = 5, nullable = false))]
    pub un_location_code: Option<String>,
    /// The terminal's facility code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 6, nullable = false))]
    pub facility_code: Option<String>,
    /// `VESSEL`.
    pub mode_of_transport: ModeOfTransport,
    /// The vessel, when its IMO number is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(nullable = false))]
    pub vessel: Option<DcsaVessel>,
}

/// A DCSA Track & Trace 2.2 equipment event (`eventType` `EQUIPMENT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DcsaEquipmentEvent {
    /// When boxtrace created the event: the trace that found it.
    pub event_created_date_time: DateTime<Utc>,
    /// `EQUIPMENT`.
    pub event_type: DcsaEventType,
    /// `ACT` (actual), `PLN` (planned) or `EST` (estimated).
    pub event_classifier_code: EventClassifier,
    /// When it happened, or is planned or estimated to.
    pub event_date_time: DateTime<Utc>,
    /// `LOAD`, `DISC`, `GTIN`, `GTOT`, `STUF`, `STRP`, `PICK`, `DROP`, `INSP`, `RSEA` or
    /// `RMVD`.
    pub equipment_event_type_code: EquipmentEventCode,
    /// The container number (absent for an id longer than DCSA's 15 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 15, nullable = false))]
    pub equipment_reference: Option<String>,
    /// `EMPTY` or `LADEN`.
    pub empty_indicator_code: EmptyIndicatorCode,
    /// Where it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(nullable = false))]
    pub event_location: Option<DcsaLocation>,
    /// The vessel call of a load, when the vessel visit is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(nullable = false))]
    pub transport_call: Option<DcsaTransportCall>,
}

impl DcsaEquipmentEvent {
    /// The DCSA form of `event`, one of `result`'s events for a trace of `kind` of
    /// `equipment`.
    ///
    /// `emptyIndicatorCode` is required by DCSA: the event's own indicator, else the
    /// result's, else the trace kind's (an export box travels laden, an empty empty).
    pub fn from_result(
        event: &EquipmentEvent,
        result: &TraceResult,
        kind: TraceKind,
        equipment: &str,
    ) -> Self {
        let empty = event.empty_indicator.or(result.empty_indicator).map_or(
            match kind {
                TraceKind::Export => EmptyIndicatorCode::Laden,
                TraceKind::Empty => EmptyIndicatorCode::Empty,
            },
            EmptyIndicatorCode::from,
        );
        let location = event.location.as_ref().map(dcsa_location);
        // Only a load: the result's visit is the one the box is booked out on, so it is
        // the call of a load and not of a discharge (an inbound call boxtrace does not
        // know).
        let transport_call = (event.code == EquipmentEventCode::Load)
            .then(|| transport_call(result, location.as_ref()))
            .flatten();
        Self {
            event_created_date_time: result.traced_at,
            event_type: DcsaEventType::Equipment,
            event_classifier_code: event.classifier,
            event_date_time: event.event_at,
            equipment_event_type_code: event.code,
            equipment_reference: within(equipment, 15),
            empty_indicator_code: empty,
            event_location: location.filter(|l| {
                l.location_name.is_some()
                    || l.un_location_code.is_some()
                    || l.facility_code.is_some()
            }),
            transport_call,
        }
    }

    /// The DCSA events of every event of `result`, oldest first.
    pub fn all_of(result: &TraceResult, kind: TraceKind, equipment: &str) -> Vec<Self> {
        result
            .events
            .iter()
            .map(|event| Self::from_result(event, result, kind, equipment))
            .collect()
    }
}

fn dcsa_location(location: &Location) -> DcsaLocation {
    DcsaLocation {
        location_name: location
            .name
            .as_deref()
            .map(|name| name.chars().take(100).collect()),
        un_location_code: location
            .un_locode
            .as_deref()
            .filter(|code| code.len() == 5 && code.is_ascii())
            .map(str::to_owned),
        facility_code: location
            .facility_code
            .as_deref()
            .and_then(|code| within(code, 6)),
    }
}

fn transport_call(
    result: &TraceResult,
    location: Option<&DcsaLocation>,
) -> Option<DcsaTransportCall> {
    let visit = result.visit.as_ref()?;
    let id = within(&visit.id, 100)?;
    let vessel = result.vessel.as_ref();
    let voyage = vessel
        .and_then(|v| v.voyage.as_deref())
        .and_then(|v| within(v, 50));
    Some(DcsaTransportCall {
        transport_call_id: id,
        carrier_voyage_number: voyage.clone(),
        export_voyage_number: voyage,
        un_location_code: location.and_then(|l| l.un_location_code.clone()),
        facility_code: location.and_then(|l| l.facility_code.clone()),
        mode_of_transport: ModeOfTransport::Vessel,
        vessel: vessel.and_then(|v| {
            let imo = v
                .imo
                .as_deref()
                .filter(|imo| imo.len() == 7 && imo.bytes().all(|b| b.is_ascii_digit()))?;
            Some(DcsaVessel {
                vessel_imo_number: imo.to_owned(),
                vessel_name: v.name.as_deref().map(|n| n.chars().take(35).collect()),
            })
        }),
    })
}

/// `value` if it has at most `max` characters: DCSA's limits on codes and references,
/// which a shortened value would break.
fn within(value: &str, max: usize) -> Option<String> {
    (!value.is_empty() && value.chars().count() <= max).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Vessel, VesselVisit};
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, h, 0, 0).unwrap()
    }

    fn event(code: EquipmentEventCode) -> EquipmentEvent {
        EquipmentEvent {
            code,
            classifier: EventClassifier::Act,
            event_at: at(3),
            empty_indicator: None,
            location: Some(Location {
                un_locode: Some("PHMNL".into()),
                facility_code: Some("MICT".into()),
                name: Some("Manila International Container Terminal".into()),
            }),
            description: None,
        }
    }

    #[test]
    fn a_load_carries_the_spec_names_codes_and_transport_call() {
        let mut result = TraceResult::new(crate::model::Status::Loaded, at(4));
        result.events.push(event(EquipmentEventCode::Load));
        result.visit = Some(VesselVisit::new("ONEAPU042E"));
        result.vessel = Some(Vessel {
            name: Some("ONE APUS".into()),
            imo: Some("9806079".into()),
            voyage: Some("042E".into()),
            line: Some("ONE".into()),
        });
        let events = DcsaEquipmentEvent::all_of(&result, TraceKind::Export, "CSQU3054383");
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["eventType"], "EQUIPMENT");
        assert_eq!(json["eventClassifierCode"], "ACT");
        assert_eq!(json["equipmentEventTypeCode"], "LOAD");
        assert_eq!(json["emptyIndicatorCode"], "LADEN");
        assert_eq!(json["equipmentReference"], "CSQU3054383");
        assert_eq!(json["eventDateTime"], "2026-03-04T03:00:00Z");
        assert_eq!(json["eventCreatedDateTime"], "2026-03-04T04:00:00Z");
        assert_eq!(json["eventLocation"]["UNLocationCode"], "PHMNL");
        assert_eq!(json["eventLocation"]["facilityCode"], "MICT");
        let call = &json["transportCall"];
        assert_eq!(call["transportCallID"], "ONEAPU042E");
        assert_eq!(call["modeOfTransport"], "VESSEL");
        assert_eq!(call["exportVoyageNumber"], "042E");
        assert_eq!(call["vessel"]["vesselIMONumber"], "9806079");
        assert!(
            call["vessel"].get("vesselOperatorCarrierCode").is_none(),
            "the box's line is not the vessel's operator: {call}"
        );
    }

    #[test]
    fn a_discharge_gets_no_transport_call_of_the_outbound_visit() {
        let mut result = TraceResult::new(crate::model::Status::GatedIn, at(4));
        result.events.push(event(EquipmentEventCode::Disc));
        result.events.push(event(EquipmentEventCode::Load));
        result.visit = Some(VesselVisit::new("ONEAPU042E"));
        result.vessel = Some(Vessel {
            voyage: Some("042E".into()),
            ..Vessel::default()
        });
        let events = DcsaEquipmentEvent::all_of(&result, TraceKind::Export, "CSQU3054383");
        assert_eq!(
            events[0].equipment_event_type_code,
            EquipmentEventCode::Disc
        );
        assert_eq!(events[0].transport_call, None, "{:?}", events[0]);
        let load = events[1].transport_call.as_ref().unwrap();
        assert_eq!(load.transport_call_id, "ONEAPU042E");
        assert_eq!(load.export_voyage_number.as_deref(), Some("042E"));
    }

    #[test]
    fn overlong_values_are_left_out_and_gate_moves_have_no_call() {
        let mut result = TraceResult::new(crate::model::Status::Returned, at(4));
        let mut gate_in = event(EquipmentEventCode::Gtin);
        gate_in.location = Some(Location {
            un_locode: Some("PH MNL".into()),
            facility_code: Some("TERMINAL-7".into()),
            name: None,
        });
        result.events.push(gate_in);
        result.visit = Some(VesselVisit::new("V1"));
        let events =
            DcsaEquipmentEvent::all_of(&result, TraceKind::Empty, "NOT-A-VALID-BOX-NUMBER");
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["emptyIndicatorCode"], "EMPTY");
        assert!(json.get("equipmentReference").is_none());
        assert!(json.get("eventLocation").is_none(), "{json}");
        assert!(json.get("transportCall").is_none());
    }
}
