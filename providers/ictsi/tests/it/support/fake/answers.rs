//! What the fake answers: ICTSI's per-call ids, its filters, and its masking.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{Data, DETAILS, EVENTS, VESSEL};

/// Fields ICTSI blanks (with Java's `"null"`) in records the caller may not see.
const MASKED: &[&str] = &[
    "booking_number",
    "stopped_vessel",
    "stopped_road",
    "stopped_rail",
    "imped_vessel",
    "imped_road",
    "imped_rail",
    "last_pos_loctype",
    "last_pos_locid",
    "last_pos_slot",
    "requires_xray",
    "pod",
    "origin",
    "destination",
    "seal_nbr1",
    "seal_nbr2",
    "seal_nbr3",
    "seal_nbr4",
    "goods_and_ctr_wt_kg",
    "last_free_day",
    "paid_thru_day",
];

/// (path name, x-api-id, x-request-product-id) per the reference's table.
pub(super) fn expected_ids(call: &str) -> Option<(&'static str, &'static str)> {
    match call {
        DETAILS => Some(("container", "truck-management-system")),
        EVENTS => Some(("container-event", "track-and-trace")),
        VESSEL => Some(("vessel-visit", "track-and-trace")),
        _ => None,
    }
}

pub(super) fn answer(
    data: &Data,
    call: &str,
    query: &HashMap<String, String>,
) -> (StatusCode, Value) {
    let param = |name: &str| query.get(name).map(String::as_str);
    let eq = |record: &Value, field: &str, wanted: Option<&str>| {
        wanted.is_none_or(|w| {
            record[field]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(w))
        })
    };
    let records: Vec<Value> = match call {
        DETAILS => {
            let Some(kind) = param("container-type") else {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "container-type is required" }),
                );
            };
            let unmasked: Vec<&str> = param("ms-booking")
                .map(|b| b.split(',').map(str::trim).collect())
                .unwrap_or_default();
            data.containers
                .iter()
                .filter(|r| match kind {
                    "export" => r["category"] == "EXPRT",
                    "empty" => r["category"] == "STRGE" && r["freight_kind"] == "MTY",
                    _ => true,
                })
                .filter(|r| eq(r, "facility_id", param("facility-id")))
                .filter(|r| eq(r, "container_nbr", param("container-number")))
                .filter(|r| eq(r, "booking_number", param("booking-number")))
                .map(|r| {
                    if data.no_masking {
                        r.clone()
                    } else {
                        mask(r, &unmasked)
                    }
                })
                .collect()
        }
        EVENTS => data
            .events
            .iter()
            .filter(|e| eq(e, "container_gkey", param("unique-key")))
            .cloned()
            .collect(),
        _ => data
            .vessels
            .iter()
            .filter(|v| eq(v, "facility_id", param("facility-id")))
            .filter(|v| eq(v, "carrier_visit_id", param("carrier-visit-id")))
            .cloned()
            .collect(),
    };
    (
        StatusCode::OK,
        json!({ "data": records, "extra": { "updatedTime": "2026-03-02T06:00:00Z" } }),
    )
}

/// The record as ICTSI shows it to a caller who unmasked `bookings`.
fn mask(record: &Value, bookings: &[&str]) -> Value {
    let mut record = record.clone();
    let booking = record["booking_number"].as_str().unwrap_or("null");
    if bookings.contains(&booking) {
        record["mask_data"] = json!(0);
        return record;
    }
    for field in MASKED {
        record[*field] = json!("null");
    }
    record["mask_data"] = json!(1);
    record
}
