//! The OpenAPI document: valid for a standard validator, the one the conformance checks
//! use, complete (operation ids, shared responses, webhooks), and a checker that fails
//! on a wrong body.

use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

use crate::conformance::{check_response, check_webhook, document};
use crate::support::{send, server};

#[tokio::test]
async fn served_document_is_the_checked_one() {
    let server = server(true).await;
    let response = send(reqwest::Client::new().get(format!("{}/openapi.json", server.base)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, document());
}

/// `openapi-spec-validator` (Python, installed by `.ci/run`) reports no error. Without it
/// the test says "skipped", except on CI (`CI` set), where it fails.
#[test]
fn standard_validator_reports_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_vec_pretty(document()).unwrap()).unwrap();
    let output = match std::process::Command::new("openapi-spec-validator")
        .args(["--validation-errors", "all"])
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            println!("skipped: openapi-spec-validator is not installed (pip install openapi-spec-validator)");
            return;
        }
        Err(e) => panic!("openapi-spec-validator could not run: {e}"),
    };
    // The validator quotes the whole document with an error: its start says enough.
    let clip = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .chars()
            .take(3000)
            .collect::<String>()
    };
    let (stdout, stderr) = (clip(&output.stdout), clip(&output.stderr));
    assert!(
        output.status.success() && stdout.contains("OK"),
        "openapi-spec-validator: {}\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn the_document_is_complete() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = &operation["responses"];
            assert!(responses.get("503").is_some(), "{method} {path}: no 503");
            if path != "/oauth/token" {
                assert_eq!(
                    responses["503"]["headers"]["Retry-After"]["required"], true,
                    "{method} {path}"
                );
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if secured {
                assert_eq!(
                    responses["401"]["headers"]["WWW-Authenticate"]["required"], true,
                    "{method} {path}"
                );
            }
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                assert!(responses.get("413").is_some(), "{method} {path}: no 413");
                if content.contains_key("application/json") {
                    assert!(responses.get("415").is_some(), "{method} {path}: no 415");
                    assert!(responses.get("400").is_some(), "{method} {path}: no 400");
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                assert!(responses.get("400").is_some(), "{method} {path}: no 400");
                if path == "/api/containers" {
                    assert_eq!(parameter["in"], "query", "{parameter}");
                }
            }
        }
    }
    let kind = doc["paths"]["/api/containers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kind")
        .unwrap();
    assert_eq!(kind["required"], false);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["TraceKind"]["enum"], json!(["EXPORT", "EMPTY"]));
    assert_eq!(
        schemas["CreateWebhook"]["properties"]["triggers"]["minItems"],
        1
    );
    assert!(schemas["TokenRequest"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("grant_type")));
    assert_eq!(schemas["GrantType"]["enum"], json!(["client_credentials"]));
    for hook in ["TRACE_RESULT", "TRACE_ERROR"] {
        assert!(
            doc["webhooks"][hook]["post"]["requestBody"].is_object(),
            "webhook {hook}"
        );
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_static(value));
    }
    map
}

/// The checker can fail: wrong bodies, undocumented statuses, missing required headers
/// and undocumented media types are all reported.
#[test]
fn the_checker_refuses_wrong_answers() {
    let json_type = headers(&[("content-type", "application/json")]);
    let problem_type = headers(&[("content-type", "application/problem+json")]);
    let get = Method::GET;
    let post = Method::POST;
    let good_list = br#"[{"id":"wh_1","url":"https://tms.example/hook","triggers":["TRACE_RESULT"],"entityType":"CONTAINER","createdAt":"2026-12-07T10:00:00Z","pending":0,"dead":0}]"#;
    check_response(&get, "/api/webhooks", 200, &json_type, good_list).unwrap();
    let cases: [(&Method, &str, u16, &HeaderMap, &[u8]); 9] = [
        // Not an array.
        (&get, "/api/webhooks", 200, &json_type, br#"{"id":"wh_1"}"#),
        // A trigger that does not exist.
        (&get, "/api/webhooks", 200, &json_type, br#"[{"id":"wh_1","url":"https://tms.example/hook","triggers":["TRACE_DONE"],"entityType":"CONTAINER","createdAt":"2026-12-07T10:00:00Z","pending":0,"dead":0}]"#),
        // A status the operation does not document.
        (&get, "/api/webhooks", 418, &problem_type, br#"{}"#),
        // 401 without its WWW-Authenticate challenge.
        (&get, "/api/containers", 401, &problem_type, br#"{"type":"urn:boxtrace:problem:unauthorized","title":"t","status":401,"detail":"d"}"#),
        // 503 without Retry-After.
        (
            &get,
            "/api/webhooks",
            503,
            &problem_type,
            br#"{"type":"urn:boxtrace:problem:unavailable","title":"t","status":503,"detail":"d"}"#,
        ),
        // A problem without its type.
        (&post, "/api/events", 422, &problem_type, br#"{"title":"t","status":422,"detail":"d"}"#),
        // An answer as text where JSON is documented.
        (&get, "/api/containers/export/sim/CSQU3054383", 404, &headers(&[("content-type", "text/plain")]), b"not found"),
        // No body where one is documented.
        (&get, "/api/webhooks", 200, &json_type, b""),
        // A 202 whose action is not one of the four.
        (&post, "/api/events", 202, &json_type, br#"{"action":"TRACE_SOMETHING","key":{"tenant":{"orgId":"o","svcId":"s"},"kind":"EXPORT","providerId":"sim","container":"CSQU3054383"}}"#),
    ];
    for (method, path, status, headers, body) in cases {
        assert!(
            check_response(method, path, status, headers, body).is_err(),
            "{method} {path} {status} {} passed",
            String::from_utf8_lossy(body)
        );
    }
    // A result event whose DCSA event uses the project's own casing.
    let mut event = json!({
        "id": "evt_1", "orgId": "o", "svcId": "s", "type": "CONTAINER", "action": "TRACE_RESULT",
        "origin": "boxtrace", "createdAt": "2026-12-07T10:00:00Z",
        "payload": {
            "containerNumber": "CSQU3054383", "providerId": "sim", "traceKind": "EXPORT",
            "tracedAt": "2026-12-07T10:00:00Z", "nextTraceAt": null, "trackingState": "ACTIVE",
            "reason": "FIRST_RESULT", "events": [], "equipmentEvents": [{
                "eventCreatedDateTime": "2026-12-07T10:00:00Z", "eventType": "EQUIPMENT",
                "eventClassifierCode": "ACT", "eventDateTime": "2026-12-07T09:00:00Z",
                "equipmentEventTypeCode": "GTIN", "emptyIndicatorCode": "LADEN"
            }]
        }
    });
    check_webhook(&serde_json::to_vec(&event).unwrap()).unwrap();
    event["payload"]["equipmentEvents"][0]["emptyIndicatorCode"] = json!("laden");
    assert!(check_webhook(&serde_json::to_vec(&event).unwrap()).is_err());
    event["payload"]["equipmentEvents"][0]["emptyIndicatorCode"] = json!("LADEN");
    event["payload"]["reason"] = json!("FAILED");
    assert!(
        check_webhook(&serde_json::to_vec(&event).unwrap()).is_err(),
        "a TRACE_RESULT with an error's reason"
    );
}

/// `POST /api/events` takes JSON only: a body declared otherwise (or not declared) gets
/// 415 problem details, as `/api/webhooks` does, even when it would parse, and nothing is
/// stored.
#[tokio::test]
async fn publish_refuses_a_body_not_declared_json_with_415() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let event = tms.event("TRACE_EMPTY_REQUESTED", "CSQU3054383", json!({}));
    let valid = serde_json::to_vec(&event).unwrap();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let refused = tms
            .post_typed("/api/events", content_type, valid.clone())
            .await;
        assert_eq!(refused.status(), 415, "{content_type}");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:boxtrace:problem:unsupported-media-type"
        );
    }
    let untyped = send(
        tms.http
            .post(format!("{}/api/events", tms.base))
            .bearer_auth(&tms.token)
            .body(valid.clone()),
    )
    .await
    .unwrap();
    assert_eq!(untyped.status(), 415, "no Content-Type");
    let listed: Value = tms.get("/api/containers").await.json().await.unwrap();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing stored: {listed}"
    );
    for content_type in [
        "application/json; charset=utf-8",
        "application/cloudevents+json",
    ] {
        let accepted = tms
            .post_typed("/api/events", content_type, valid.clone())
            .await;
        assert_eq!(accepted.status(), 202, "{content_type}");
    }
}

/// The typed envelope agrees with the engine's validation on what it can say (the check
/// digit and credentials in `data` are the engine's alone).
#[test]
fn the_event_envelope_takes_what_the_engine_takes() {
    let event = |action: &str, payload: Value| {
        json!({
            "orgId": "org-a", "svcId": "svc-1", "type": "CONTAINER", "action": action,
            "origin": "test", "payload": payload
        })
    };
    let export = |data: Value| {
        event(
            "TRACE_EXPORT_REQUESTED",
            json!({ "id": "CSQU3054383", "providerId": "sim", "data": data }),
        )
    };
    let mut cases = vec![
        (export(json!({ "bookingNumber": "TASF883714" })), true),
        (
            event(
                "TRACE_EMPTY_REQUESTED",
                json!({ "id": "csqu 305438-3", "providerId": "SIM" }),
            ),
            true,
        ),
        (
            event(
                "TRACE_EXPORT_CANCELLED",
                json!({ "id": "CSQU3054383", "providerId": "sim", "data": null }),
            ),
            true,
        ),
        (export(json!({})), false),
        (export(json!({ "bookingNumber": "   " })), false),
        (export(json!({ "bookingNumber": 42 })), false),
        (
            export(json!({ "bookingNumber": "B1", "normalize": "yes" })),
            false,
        ),
        (
            event(
                "TRACE_DONE",
                json!({ "id": "CSQU3054383", "providerId": "sim" }),
            ),
            false,
        ),
        (
            event(
                "TRACE_EMPTY_REQUESTED",
                json!({ "id": "CSQU3054383", "siteId": "MICT" }),
            ),
            false,
        ),
        (
            event(
                "TRACE_EMPTY_REQUESTED",
                json!({ "id": "CSQU3054383", "providerId": "sim", "data": [] }),
            ),
            false,
        ),
    ];
    let valid = export(json!({ "bookingNumber": "B1" }));
    for (field, wrong) in [
        ("type", json!("BOX")),
        ("orgId", json!("")),
        ("orgId", json!("x".repeat(201))),
        ("svcId", json!("tab\there")),
        ("origin", json!(5)),
    ] {
        let mut bad = valid.clone();
        bad[field] = wrong;
        cases.push((bad, false));
    }
    let mut no_payload = valid.clone();
    no_payload.as_object_mut().unwrap().remove("payload");
    cases.push((no_payload, false));
    for (event, accepted) in cases {
        let engine = boxtrace::Command::from_value(event.clone());
        assert_eq!(engine.is_ok(), accepted, "engine: {event} {engine:?}");
        let schema = crate::conformance::validate("/components/schemas/EventEnvelope", &event);
        assert_eq!(schema.is_ok(), accepted, "schema: {event} {schema:?}");
    }
}

/// A request that runs past `http.requestTimeout` gets what the document promises every
/// 503: problem details with `Retry-After`. (The timeout layer used to sit outside the
/// layer that gives bare answers their problem details, so it answered an empty 503.)
#[tokio::test]
async fn a_request_past_the_timeout_gets_problem_details_with_retry_after() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(dir.path(), true);
    config.http.request_timeout = std::time::Duration::from_millis(300);
    let server = crate::support::server_with(config, dir).await;
    let tms = server.tms("org-a").await;
    // A body announced but never sent: the handler waits for it past the timeout.
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        tms.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read_answer = async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            if n == 0
                || text.find("\r\n\r\n").is_some_and(|end| {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    answer.len() >= end + 4 + length
                })
            {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read_answer)
        .await
        .expect("no answer within 10 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(
            axum::http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    assert_eq!(status, 503, "{text}");
    check_response(
        &Method::POST,
        "/api/events",
        status,
        &headers,
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["type"], "urn:boxtrace:problem:timeout", "{text}");
    assert!(headers.contains_key("retry-after"), "{text}");
}
