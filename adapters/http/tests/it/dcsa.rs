//! DCSA means DCSA: the `equipmentEvents` of real result payloads validate against the
//! DCSA Track & Trace 2.2 `equipmentEvent` schema, kept in tests/fixtures/dcsa with its
//! licence, and use no field name the specification does not have.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::support::{config, server_with, Receiver};

const BOX: &str = "CSQU3054383";

fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dcsa/tnt-v2.2.0-equipment-event.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// The specification's `equipmentEvent` schema as a validator. DCSA 2.2 is OpenAPI 3.0,
/// whose schemas are draft 4/5 JSON Schema; they are validated as draft 4, formats
/// (`date-time`) checked.
fn dcsa_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let root = json!({
            "$ref": "#/components/schemas/equipmentEvent",
            "components": fixture()["components"],
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&root)
            .unwrap()
    })
}

/// Every property name the specification's schemas declare.
fn dcsa_names() -> BTreeSet<String> {
    fn collect(value: &Value, names: &mut BTreeSet<String>) {
        match value {
            Value::Object(object) => {
                if let Some(properties) = object.get("properties").and_then(Value::as_object) {
                    names.extend(properties.keys().cloned());
                }
                object.values().for_each(|v| collect(v, names));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, names)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    collect(&fixture()["components"], &mut names);
    names
}

/// Why `event` is not a DCSA 2.2 equipment event, if it is not.
pub fn dcsa_errors(event: &Value) -> Vec<String> {
    let mut errors: Vec<String> = dcsa_validator()
        .iter_errors(event)
        .map(|e| format!("{e} at '{}'", e.instance_path()))
        .collect();
    let names = dcsa_names();
    fn unknown(value: &Value, names: &BTreeSet<String>, path: &str, out: &mut Vec<String>) {
        if let Some(object) = value.as_object() {
            for (key, inner) in object {
                if !names.contains(key) {
                    out.push(format!("'{path}/{key}' is not a DCSA field"));
                }
                unknown(inner, names, &format!("{path}/{key}"), out);
            }
        }
    }
    unknown(event, &names, "", &mut errors);
    errors
}

#[test]
fn the_checker_refuses_what_dcsa_refuses() {
    let good = json!({
        "eventCreatedDateTime": "2026-03-04T04:00:00Z", "eventType": "EQUIPMENT",
        "eventClassifierCode": "ACT", "eventDateTime": "2026-03-04T03:00:00Z",
        "equipmentEventTypeCode": "LOAD", "equipmentReference": BOX,
        "emptyIndicatorCode": "LADEN"
    });
    assert_eq!(dcsa_errors(&good), Vec::<String>::new());
    // The shape of the events before DCSA events were carried: the project's own names.
    let legacy = json!({ "code": "LOAD", "classifier": "ACT", "eventAt": "2026-03-04T03:00:00Z", "emptyIndicator": "laden" });
    assert!(!dcsa_errors(&legacy).is_empty());
    for (field, wrong) in [
        ("emptyIndicatorCode", json!("laden")),
        ("equipmentEventTypeCode", json!("LOADED")),
        ("eventClassifierCode", json!("ACTUAL")),
        ("eventDateTime", json!("yesterday")),
        ("equipmentReference", json!("CSQU30543830000000")),
    ] {
        let mut bad = good.clone();
        bad[field] = wrong;
        assert!(!dcsa_errors(&bad).is_empty(), "{field} accepted: {bad}");
    }
    let mut invented = good.clone();
    invented["eventAt"] = json!("2026-03-04T03:00:00Z");
    assert!(
        !dcsa_errors(&invented).is_empty(),
        "an invented field passes"
    );
}

/// A box whose whole export life lies in the past of a simulated terminal: its first
/// result carries its equipment events (gate-in, load, ...).
#[tokio::test]
async fn result_payloads_carry_dcsa_equipment_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), true);
    let epoch = chrono::Utc::now() - chrono::Duration::days(30);
    config.provider.insert(
        "sim".into(),
        serde_json::from_value(json!({ "config": { "epoch": epoch, "lag": "0s" } })).unwrap(),
    );
    let server = server_with(config, dir).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    tms.register(&receiver.url).await;
    let mut events = Vec::new();
    for (action, container, data) in [
        (
            "TRACE_EXPORT_REQUESTED",
            BOX,
            json!({ "bookingNumber": "TASF883714", "scenario": "no-hold" }),
        ),
        ("TRACE_EMPTY_REQUESTED", "MSCU1234566", json!({})),
    ] {
        let response = tms
            .post("/api/events", &tms.event(action, container, data))
            .await;
        assert_eq!(response.status(), 202);
    }
    let deliveries = receiver.wait_for(2, 15).await;
    for delivery in &deliveries {
        let body = delivery.json();
        let payload = &body["payload"];
        let dcsa = payload["equipmentEvents"].as_array().unwrap();
        let legacy = payload["events"].as_array().unwrap();
        assert_eq!(dcsa.len(), legacy.len(), "one DCSA event per event: {body}");
        for (event, old) in dcsa.iter().zip(legacy) {
            assert_eq!(
                dcsa_errors(event),
                Vec::<String>::new(),
                "not a DCSA 2.2 equipmentEvent: {event}"
            );
            assert_eq!(event["equipmentEventTypeCode"], old["code"]);
            assert_eq!(event["eventType"], "EQUIPMENT");
            assert_eq!(
                event["equipmentReference"], payload["containerNumber"],
                "{event}"
            );
        }
        events.extend(dcsa.iter().cloned());
    }
    assert!(
        events.iter().any(|e| e["equipmentEventTypeCode"] == "LOAD"),
        "the export box was loaded: {events:#?}"
    );
    let load = events
        .iter()
        .find(|e| e["equipmentEventTypeCode"] == "LOAD")
        .unwrap();
    assert_eq!(load["emptyIndicatorCode"], "LADEN");
    assert_eq!(load["transportCall"]["modeOfTransport"], "VESSEL", "{load}");
    assert!(
        load["transportCall"]["transportCallID"].is_string(),
        "{load}"
    );
    assert!(
        load["transportCall"]["exportVoyageNumber"].is_string(),
        "{load}"
    );
    println!("a real LOAD event: {load}");
}

/// The OpenAPI document's DCSA schemas are no looser than DCSA: an optional field is left
/// out, never `null` (which the specification's schema refuses), so the document refuses
/// `null` too, and what it accepts DCSA accepts.
#[test]
fn the_documents_dcsa_schemas_refuse_null_as_dcsa_does() {
    let schemas = &crate::conformance::document()["components"]["schemas"];
    for name in [
        "DcsaEquipmentEvent",
        "DcsaLocation",
        "DcsaTransportCall",
        "DcsaVessel",
    ] {
        for (field, schema) in schemas[name]["properties"].as_object().unwrap() {
            assert!(
                !schema.to_string().contains("\"null\""),
                "{name}.{field} allows null: {schema}"
            );
        }
    }
    let full = json!({
        "eventCreatedDateTime": "2026-03-04T04:00:00Z", "eventType": "EQUIPMENT",
        "eventClassifierCode": "ACT", "eventDateTime": "2026-03-04T03:00:00Z",
        "equipmentEventTypeCode": "LOAD", "equipmentReference": BOX,
        "emptyIndicatorCode": "LADEN",
        "eventLocation": { "UNLocationCode": "PHMNL", "facilityCode": "MICT", "locationName": "MICT" },
        "transportCall": {
            "transportCallID": "ONEAPU042E", "modeOfTransport": "VESSEL",
            "exportVoyageNumber": "042E", "carrierVoyageNumber": "042E",
            "UNLocationCode": "PHMNL", "facilityCode": "MICT",
            "vessel": { "vesselIMONumber": "9806079", "vesselName": "ONE APUS" }
        }
    });
    let ours = "/components/schemas/DcsaEquipmentEvent";
    crate::conformance::validate(ours, &full).unwrap();
    assert_eq!(dcsa_errors(&full), Vec::<String>::new());
    for pointer in [
        "/equipmentReference",
        "/eventLocation/facilityCode",
        "/transportCall/exportVoyageNumber",
        "/transportCall/vessel/vesselName",
    ] {
        let mut with_null = full.clone();
        *with_null.pointer_mut(pointer).unwrap() = Value::Null;
        assert!(
            !dcsa_errors(&with_null).is_empty(),
            "DCSA takes null at {pointer}"
        );
        assert!(
            crate::conformance::validate(ours, &with_null).is_err(),
            "the document takes null at {pointer}"
        );
    }
}
