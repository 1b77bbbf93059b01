//! ICTSI's wire format: the calls (path, headers, query names) and the records they answer.
//!
//! Everything ICTSI names lives here and only here, so that a corrected field or
//! parameter name is a one-line change: a Rust field is named exactly as the wire field
//! (add `#[serde(rename = "…")]` or an `alias` when ICTSI spells it otherwise). Every
//! field is optional and read tolerantly ([`values`]), because the public evidence about
//! this API is strong but not a contract.

pub(crate) mod values;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One of ICTSI's calls, with the per-call headers of the reference's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Call {
    /// `getContainerDetails`: the container's visits at a terminal.
    ContainerDetails,
    /// `getContainerEvent`: the events of one visit (hold details).
    ContainerEvents,
    /// `getVesselVisitDetails`: a vessel visit (receiving window, cut-offs).
    VesselVisit,
}

impl Call {
    /// The path, relative to the configured base URL.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::ContainerDetails => "api/v2/getContainerDetails",
            Self::ContainerEvents => "api/v2/getContainerEvent",
            Self::VesselVisit => "api/v2/getVesselVisitDetails",
        }
    }

    /// The `x-api-id` header.
    pub(crate) fn api_id(self) -> &'static str {
        match self {
            Self::ContainerDetails => "container",
            Self::ContainerEvents => "container-event",
            Self::VesselVisit => "vessel-visit",
        }
    }

    /// The `x-request-product-id` header.
    pub(crate) fn product_id(self) -> &'static str {
        match self {
            Self::ContainerDetails => "truck-management-system",
            Self::ContainerEvents | Self::VesselVisit => "track-and-trace",
        }
    }

    /// A short name for logs and error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ContainerDetails => "container details",
            Self::ContainerEvents => "container events",
            Self::VesselVisit => "vessel visit",
        }
    }
}

/// Header names sent on every call.
pub(crate) mod header {
    /// Azure API Management's subscription key.
    pub(crate) const SUBSCRIPTION_KEY: &str = "Ocp-Apim-Subscription-Key";
    /// The partner subscription id.
    pub(crate) const SUBSCRIPTION_ID: &str = "x-subscription-id";
    /// Which API of the product is called ([`super::Call::api_id`]).
    pub(crate) const API_ID: &str = "x-api-id";
    /// Which product the subscription uses ([`super::Call::product_id`]).
    pub(crate) const PRODUCT_ID: &str = "x-request-product-id";
}

/// Query parameter names.
pub(crate) mod query {
    /// `import`, `export`, `empty` or `all` (required by container details).
    pub(crate) const CONTAINER_TYPE: &str = "container-type";
    /// The terminal, e.g. `MICT`.
    pub(crate) const FACILITY_ID: &str = "facility-id";
    /// The container number.
    pub(crate) const CONTAINER_NUMBER: &str = "container-number";
    /// Unmasks sensitive fields of records under these bookings (comma-separated).
    pub(crate) const MS_BOOKING: &str = "ms-booking";
    /// A record's `unique_key`, for its events.
    pub(crate) const UNIQUE_KEY: &str = "unique-key";
    /// A vessel visit's id (`carrier_visit_id`, the container's `ob_id`).
    pub(crate) const CARRIER_VISIT_ID: &str = "carrier-visit-id";
    /// Container type values.
    pub(crate) const EXPORT: &str = "export";
    /// Container type values.
    pub(crate) const EMPTY: &str = "empty";
}

/// The JSON query body's paging fields. The backend reads `{}` as offset 0, limit 50, and
/// orders container records by `container_nbr` ascending, then `time_in` descending.
pub(crate) mod body {
    /// The first row to answer.
    pub(crate) const OFFSET: &str = "offset";
    /// How many rows to answer at most.
    pub(crate) const LIMIT: &str = "limit";
    /// The backend's limit when the body names none.
    pub(crate) const DEFAULT_LIMIT: usize = 50;
}

/// The answer of every call: `{"data": [...], "extra": {"updatedTime": "…Z"}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub(crate) struct Envelope<T> {
    /// The records; `null` or absent reads as none.
    #[serde(default, deserialize_with = "values::records")]
    pub data: Vec<T>,
}

/// `{language, description}`, as in `transit_state_descriptions` and
/// `event_descriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct LanguageDescription {
    #[serde(deserialize_with = "values::text")]
    pub language: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub description: Option<String>,
}

/// A container visit (container details record). `mask_data` = 1 means ICTSI blanked the
/// sensitive fields (booking, holds, position, POD, dates…) because the caller is not the
/// booking's owner; they then read as `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct ContainerRecord {
    #[serde(deserialize_with = "values::text")]
    pub unique_key: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub operator_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub complex_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub facility_id: Option<String>,
    /// `1ACTIVE`, `2ADVISED`, `3DEPARTED`, `4ALLOCATED`.
    #[serde(deserialize_with = "values::text")]
    pub visit_state: Option<String>,
    /// `S10_ADVISED` … `S70_DEPARTED`, `S99_RETIRED`.
    #[serde(deserialize_with = "values::text")]
    pub transit_state: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub container_nbr: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub equipment_type: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub iso_group: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub nominal_length: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub teu: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub line_operator_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub line_operator_name: Option<String>,
    /// `IMPRT`, `EXPRT`, `STRGE`, `TRSHP`.
    #[serde(deserialize_with = "values::text")]
    pub category: Option<String>,
    /// `FCL`, `MTY`, `BBK`.
    #[serde(deserialize_with = "values::text")]
    pub freight_kind: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub booking_number: Option<String>,
    #[serde(deserialize_with = "values::time")]
    pub time_in: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub time_out: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub time_state_change: Option<DateTime<Utc>>,
    /// `YARD`, `VESSEL`, `TRUCK`, `RAIL`.
    #[serde(deserialize_with = "values::text")]
    pub last_pos_loctype: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub last_pos_locid: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub last_pos_slot: Option<String>,
    #[serde(deserialize_with = "values::flag")]
    pub stopped_vessel: Option<bool>,
    #[serde(deserialize_with = "values::flag")]
    pub stopped_road: Option<bool>,
    #[serde(deserialize_with = "values::flag")]
    pub stopped_rail: Option<bool>,
    /// The impediments (hold names) stopping a vessel move, comma-separated.
    #[serde(deserialize_with = "values::text")]
    pub imped_vessel: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub imped_road: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub imped_rail: Option<String>,
    #[serde(deserialize_with = "values::flag")]
    pub requires_xray: Option<bool>,
    /// Port of discharge; the backend reads it as `POD`.
    #[serde(alias = "POD", deserialize_with = "values::text")]
    pub pod: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub origin: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub destination: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub seal_nbr1: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub seal_nbr2: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub seal_nbr3: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub seal_nbr4: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub goods_and_ctr_wt_kg: Option<String>,
    #[serde(deserialize_with = "values::date")]
    pub last_free_day: Option<NaiveDate>,
    #[serde(deserialize_with = "values::date")]
    pub paid_thru_day: Option<NaiveDate>,
    /// Outbound carrier (vessel) name.
    #[serde(deserialize_with = "values::text")]
    pub ob_carrier_name: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub ob_outbound_vyg: Option<String>,
    /// Outbound carrier visit id: the vessel visit's `carrier_visit_id`.
    #[serde(deserialize_with = "values::text")]
    pub ob_id: Option<String>,
    /// Outbound carrier mode: `VESSEL`, `TRUCK`, `RAIL`.
    #[serde(deserialize_with = "values::text")]
    pub ob_cv_mode: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub ib_carrier_name: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub ib_inbound_vyg: Option<String>,
    /// Start of the truck appointment that brings the box in (an export's gate-in, an
    /// empty's return); the backend reads N4's `appointment_start_date` for exports.
    #[serde(deserialize_with = "values::time")]
    pub ib_appointment_start_date: Option<DateTime<Utc>>,
    /// End of that appointment.
    #[serde(deserialize_with = "values::time")]
    pub ib_appointment_end_date: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::text")]
    pub remarks: Option<String>,
    #[serde(deserialize_with = "values::list")]
    pub transit_state_descriptions: Vec<LanguageDescription>,
    /// 1: sensitive fields are masked; 0: not.
    #[serde(deserialize_with = "values::int")]
    pub mask_data: Option<i64>,
}

/// A container event (`getContainerEvent`), e.g. a hold applied or released.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerEvent {
    #[serde(deserialize_with = "values::text")]
    pub unique_key: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub facility_id: Option<String>,
    #[serde(deserialize_with = "values::time")]
    pub placed_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::text")]
    pub event_type: Option<String>,
    #[serde(deserialize_with = "values::list")]
    pub event_descriptions: Vec<LanguageDescription>,
    #[serde(deserialize_with = "values::text")]
    pub notes: Option<String>,
    #[serde(deserialize_with = "values::list")]
    pub field_changes: Vec<FieldChange>,
    /// Order of events placed at the same time.
    #[serde(deserialize_with = "values::int")]
    pub sequence: Option<i64>,
}

/// One field an event changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct FieldChange {
    #[serde(deserialize_with = "values::text")]
    pub metafield_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub prior_value: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub new_value: Option<String>,
}

/// A vessel visit (`getVesselVisitDetails`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct VesselVisit {
    #[serde(deserialize_with = "values::text")]
    pub carrier_visit_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub facility_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub carrier_name: Option<String>,
    /// IMO number.
    #[serde(deserialize_with = "values::text")]
    pub lloyds_id: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub visit_phase: Option<String>,
    #[serde(deserialize_with = "values::time")]
    pub eta: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub ata: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub etd: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub atd: Option<DateTime<Utc>>,
    /// Earliest receiving of export boxes.
    #[serde(deserialize_with = "values::time")]
    pub begin_receive: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub cargo_cutoff: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub haz_cutoff: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub reefer_cutoff: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub loading_cutoff: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::time")]
    pub export_cutoff: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "values::text")]
    pub ib_vyg: Option<String>,
    #[serde(deserialize_with = "values::text")]
    pub ob_vyg: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_masked_export_record_reads_without_error() {
        let envelope: Envelope<ContainerRecord> = serde_json::from_value(json!({
            "data": [{
                "unique_key": "ICTSI/PH/MICT/25878505", "facility_id": "MICT",
                "visit_state": "1ACTIVE", "transit_state": "S40_YARD",
                "container_nbr": "CSQU3054383", "teu": 2.0, "category": "EXPRT",
                "freight_kind": "FCL", "booking_number": "null", "time_in": "2026-03-03T01:00:00Z",
                "stopped_vessel": "null", "imped_vessel": "null", "POD": "null",
                "last_free_day": "null", "transit_state_descriptions": "null",
                "mask_data": 1, "something_new": { "a": 1 }
            }],
            "extra": { "updatedTime": "2026-03-03T02:00:00Z" }
        }))
        .unwrap();
        let record = &envelope.data[0];
        assert_eq!(record.mask_data, Some(1));
        assert_eq!(record.booking_number, None);
        assert_eq!(record.stopped_vessel, None);
        assert_eq!(record.pod, None);
        assert_eq!(record.teu.as_deref(), Some("2.0"));
        assert!(record.transit_state_descriptions.is_empty());
        assert!(record.time_in.is_some());
    }

    #[test]
    fn null_or_missing_data_is_no_records() {
        for body in [json!({ "data": null }), json!({}), json!({ "data": [] })] {
            let envelope: Envelope<VesselVisit> = serde_json::from_value(body).unwrap();
            assert!(envelope.data.is_empty());
        }
        let changed = serde_json::from_value::<Envelope<VesselVisit>>(json!({ "data": {} }));
        let message = changed.unwrap_err().to_string();
        assert!(message.contains("not a list"), "{message}");
    }

    #[test]
    fn every_call_has_its_headers() {
        for call in [
            Call::ContainerDetails,
            Call::ContainerEvents,
            Call::VesselVisit,
        ] {
            assert!(call.path().starts_with("api/v2/"));
            assert!(!call.api_id().is_empty() && !call.product_id().is_empty());
        }
        assert_eq!(
            Call::ContainerDetails.product_id(),
            "truck-management-system"
        );
        assert_eq!(Call::VesselVisit.api_id(), "vessel-visit");
    }
}
