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
    body: &Value,
) -> (StatusCode, Value) {
    let param = |name: &str| query.get(name).map(String::as_str);
    // Like the backend: a parameter is split on commas, and a record matches when its
    // field equals one of the pieces exactly (`IN ('A', 'B')`, no trimming, no case
    // folding); a parameter not sent does not filter.
    let list = |name: &str| param(name).map(|v| v.split(',').collect::<Vec<_>>());
    let within = |record: &Value, field: &str, wanted: &Option<Vec<&str>>| {
        wanted
            .as_ref()
            .is_none_or(|w| record[field].as_str().is_some_and(|v| w.contains(&v)))
    };
    let records: Vec<Value> = match call {
        DETAILS => {
            let Some(kind) = param("container-type") else {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "container-type is required" }),
                );
            };
            // The backend trims each `ms-booking` piece and unmasks a record whose
            // booking is any of them.
            let unmasked: Vec<&str> = param("ms-booking")
                .map(|b| b.split(',').map(str::trim).collect())
                .unwrap_or_default();
            let (facilities, numbers, bookings) = (
                list("facility-id"),
                list("container-number"),
                list("booking-number"),
            );
            let mut rows: Vec<&Value> = data
                .containers
                .iter()
                .filter(|r| match kind {
                    "export" => r["category"] == "EXPRT",
                    "empty" => r["category"] == "STRGE" && r["freight_kind"] == "MTY",
                    _ => true,
                })
                .filter(|r| within(r, "facility_id", &facilities))
                .filter(|r| within(r, "container_nbr", &numbers))
                .filter(|r| within(r, "booking_number", &bookings))
                .collect();
            // ORDER BY c.container_nbr ASC, c.time_in DESC (no time_in last), then
            // OFFSET/LIMIT from the query body (0 and 50 when it names none).
            let time_in = |r: &Value| {
                r["time_in"]
                    .as_str()
                    .filter(|t| *t != "null")
                    .map(str::to_owned)
            };
            rows.sort_by(|a, b| {
                let number = |r: &Value| r["container_nbr"].as_str().unwrap_or("").to_owned();
                number(a)
                    .cmp(&number(b))
                    .then_with(|| time_in(b).cmp(&time_in(a)))
            });
            let (offset, limit) = match data.ignore_paging {
                true => (0, 50),
                false => (
                    body["offset"].as_u64().unwrap_or(0) as usize,
                    body["limit"].as_u64().unwrap_or(50) as usize,
                ),
            };
            rows.into_iter()
                .skip(offset)
                .take(limit)
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
            .filter(|e| within(e, "container_gkey", &list("unique-key")))
            .cloned()
            .collect(),
        _ => data
            .vessels
            .iter()
            .filter(|v| within(v, "facility_id", &list("facility-id")))
            .filter(|v| within(v, "carrier_visit_id", &list("carrier-visit-id")))
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
