//! Data-driven mapping tests: fixture records served by the fake ICTSI → the normalized
//! result, compared with `tests/expected/<case>.json` through one `check()`.
//!
//! After a deliberate mapping change, regenerate the expectations with
//! `UPDATE_EXPECT=1 cargo test -p boxtrace-ictsi --test it mapping` and review the diff.

use std::path::PathBuf;

use boxtrace::{ManualClock, TraceKind};
use serde_json::{json, Value};

use crate::support::fake::FakeIctsi;
use crate::support::{credentials, empty_data, export_data, request, t0, tracer, CONTAINER};

/// One fixture → expectation case.
struct Case {
    /// The expectation's file name (without `.json`).
    name: &'static str,
    kind: TraceKind,
    /// Container records fixture.
    containers: &'static str,
    /// Vessel visits fixture.
    vessels: &'static str,
    /// Whether the fake masks records like ICTSI (`false`: served as they are).
    masking: bool,
}

const fn export(name: &'static str, containers: &'static str) -> Case {
    Case {
        name,
        kind: TraceKind::Export,
        containers,
        vessels: "vessel_visit.json",
        masking: true,
    }
}

const fn empty(name: &'static str, containers: &'static str) -> Case {
    Case {
        name,
        kind: TraceKind::Empty,
        containers,
        vessels: "vessel_visit.json",
        masking: true,
    }
}

const fn unmasked(case: Case) -> Case {
    Case {
        masking: false,
        ..case
    }
}

const CASES: &[Case] = &[
    export("export_advised", "export_advised.json"),
    export("export_yard", "export_yard.json"),
    export("export_hold", "export_hold.json"),
    export("export_released", "export_released.json"),
    export("export_loaded", "export_loaded.json"),
    Case {
        vessels: "vessel_visit_departed.json",
        ..export("export_departed", "export_departed.json")
    },
    export("export_left_by_truck", "export_left_by_truck.json"),
    export("export_other_booking_masked", "export_other_booking.json"),
    unmasked(export(
        "export_other_booking_visible",
        "export_other_booking.json",
    )),
    export("export_visits", "export_visits.json"),
    unmasked(export("export_masked", "export_masked.json")),
    unmasked(export("export_blank_fields", "export_blank_fields.json")),
    empty("empty_advised", "empty_advised.json"),
    empty("empty_returned_masked", "empty_returned.json"),
    unmasked(empty("empty_returned", "empty_returned.json")),
    empty("empty_departed", "empty_departed.json"),
    // An export's records are no empty's: the fake serves none for container-type=empty.
    empty("empty_of_an_export_box", "export_yard.json"),
];

/// Traces `case` against a fake serving its fixtures and returns the answer as JSON: the
/// normalized result, or `{"error": class, "message": …}`.
async fn trace(case: &Case) -> Value {
    let fake = FakeIctsi::start().await;
    fake.containers(case.containers)
        .events("events_hold.json")
        .vessels(case.vessels);
    if !case.masking {
        fake.without_masking();
    }
    let clock = ManualClock::new(t0());
    let tracer = tracer(&fake, &clock, json!({}));
    let data = match case.kind {
        TraceKind::Export => export_data(),
        TraceKind::Empty => empty_data(),
    };
    match tracer
        .trace(&request(case.kind, CONTAINER, data), &credentials())
        .await
    {
        Ok(result) => serde_json::to_value(&result).expect("a result serializes"),
        Err(error) => json!({ "error": error.class(), "message": error.to_string() }),
    }
}

/// Compares `actual` with the case's expectation (or writes it under `UPDATE_EXPECT`);
/// returns a report of the difference.
fn check(name: &str, actual: &Value) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("JSON") + "\n";
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &pretty).expect("write the expectation");
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    let parsed: Value = serde_json::from_str(&expected).unwrap_or(Value::Null);
    (parsed != *actual).then(|| format!("{name}: expected ({path:?})\n{expected}\ngot\n{pretty}"))
}

#[tokio::test]
async fn fixtures_map_to_their_expected_results() {
    let mut failures = Vec::new();
    for case in CASES {
        let actual = trace(case).await;
        failures.extend(check(case.name, &actual));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn no_masked_or_java_null_value_leaks_into_a_result() {
    for case in CASES {
        let text = trace(case).await.to_string();
        assert!(!text.contains("\"null\""), "{}: {text}", case.name);
        assert!(
            !text.to_ascii_lowercase().contains(":\"\""),
            "{}: {text}",
            case.name
        );
    }
}

#[tokio::test]
async fn keep_raw_keeps_the_mapped_record_and_nothing_else_changes() {
    let fake = FakeIctsi::start().await;
    fake.containers("export_yard.json")
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let export = request(TraceKind::Export, CONTAINER, export_data());
    let plain = tracer(&fake, &clock, json!({}))
        .trace(&export, &credentials())
        .await
        .expect("a result");
    let kept = tracer(&fake, &clock, json!({ "keepRaw": true }))
        .trace(&export, &credentials())
        .await
        .expect("a result");
    assert_eq!(plain.raw, None);
    let raw = kept.raw.clone().expect("the record");
    assert_eq!(raw["unique_key"], "ICTSI/PH/MICT/25878505");
    assert_eq!(raw["transit_state"], "S40_YARD");
    assert!(plain.same_content(&kept), "raw is never content");
}
