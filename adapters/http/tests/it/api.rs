//! The API end to end: tokens, events, web-hooks, containers, errors, isolation, SSRF.

use serde_json::{json, Value};

use crate::support::{send, server, Receiver};

const BOX: &str = "CSQU3054383";

#[tokio::test]
async fn token_publish_signed_result_cancel_final_event_then_silence() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let receiver = Receiver::start().await;
    let (_, secret) = tms.register(&receiver.url).await;

    let publish = tms.event(
        "TRACE_EXPORT_REQUESTED",
        BOX,
        json!({ "bookingNumber": "TASF883714" }),
    );
    let response = tms.post("/api/events", &publish).await;
    assert_eq!(response.status(), 202);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["published"], "CREATED");

    let first = receiver.wait_for(1, 15).await;
    assert!(
        first[0].verifies(&secret),
        "a Standard Webhooks signature over id.timestamp.body"
    );
    let event = first[0].json();
    assert_eq!(event["action"], "TRACE_RESULT");
    assert_eq!(event["payload"]["containerNumber"], BOX);
    assert_eq!(event["payload"]["reason"], "FIRST_RESULT");
    assert_eq!(
        first[0].id,
        event["id"].as_str().unwrap(),
        "webhook-id is the event id"
    );

    let cancel = tms.event("TRACE_EXPORT_CANCELLED", BOX, json!({}));
    assert_eq!(tms.post("/api/events", &cancel).await.status(), 202);
    let both = receiver.wait_for(2, 15).await;
    let last = both[1].json();
    assert_eq!(last["payload"]["trackingState"], "CANCELLED");
    assert!(both[1].verifies(&secret));

    let detail: Value = tms
        .get(&format!("/api/containers/export/sim/{BOX}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["trace"]["trackingState"], "CANCELLED");
    assert_eq!(detail["history"].as_array().unwrap().len(), 2);

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "nothing after the final event"
    );
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tenants_are_isolated_and_bad_tokens_refused() {
    let server = server(true).await;
    let a = server.tms("org-a").await;
    let b = server.tms("org-b").await;
    let receiver = Receiver::start().await;
    let (b_hook, _) = b.register(&receiver.url).await;
    assert_eq!(
        b.post(
            "/api/events",
            &b.event("TRACE_EMPTY_REQUESTED", BOX, json!({}))
        )
        .await
        .status(),
        202
    );

    for action in ["TRACE_EMPTY_REQUESTED", "TRACE_EMPTY_CANCELLED"] {
        let as_b = b.event(action, BOX, json!({}));
        let response = a.post("/api/events", &as_b).await;
        assert_eq!(response.status(), 403, "{action} for another tenant");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let mine: Value = a.get("/api/containers").await.json().await.unwrap();
    assert!(
        mine["items"].as_array().unwrap().is_empty(),
        "org-a sees none of org-b's traces"
    );
    assert_eq!(
        a.get(&format!("/api/containers/empty/sim/{BOX}"))
            .await
            .status(),
        404
    );
    let hooks: Value = a.get("/api/webhooks").await.json().await.unwrap();
    assert!(hooks.as_array().unwrap().is_empty());
    assert_eq!(
        a.delete(&format!("/api/webhooks/{b_hook}")).await.status(),
        404
    );
    assert_eq!(
        a.post(&format!("/api/webhooks/{b_hook}/ping"), &json!({}))
            .await
            .status(),
        404
    );
    let theirs: Value = b.get("/api/containers").await.json().await.unwrap();
    assert_eq!(
        theirs["items"][0]["trackingState"], "ACTIVE",
        "org-b's trace is untouched"
    );

    // Expired, forged and wrong-key tokens.
    let key = boxtrace::Secret::new(crate::support::TOKEN_KEY);
    let tokens = boxtrace_http::auth::Tokens::new(&key, std::time::Duration::from_secs(60));
    let expired = tokens
        .issue(
            &a.client_id,
            &a.tenant,
            chrono::Utc::now() - chrono::Duration::hours(2),
        )
        .unwrap();
    let other_key = boxtrace_http::auth::Tokens::new(
        &boxtrace::Secret::new("another-key-of-thirty-two-bytes-or-more!"),
        std::time::Duration::from_secs(60),
    );
    let wrong_key = other_key
        .issue(&a.client_id, &a.tenant, chrono::Utc::now())
        .unwrap();
    let mut forged = a.token.clone();
    forged.pop();
    forged.push(if a.token.ends_with('A') { 'B' } else { 'A' });
    for token in [expired, wrong_key, forged, "garbage".to_owned()] {
        let response = send(
            a.http
                .get(format!("{}/api/containers", a.base))
                .bearer_auth(token),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
    }
    assert_eq!(
        send(a.http.get(format!("{}/api/containers", a.base)))
            .await
            .unwrap()
            .status(),
        401,
        "no token"
    );

    // A revoked client's token stops working at once.
    server
        .app
        .clients
        .revoke(&a.client_id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(a.get("/api/containers").await.status(), 401);
}

#[tokio::test]
async fn oauth_errors_follow_rfc_6749() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let http = &tms.http;
    let url = format!("{}/oauth/token", server.base);
    let basic = send(
        http.post(&url)
            .basic_auth(&tms.client_id, Some(&tms.client_secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await
    .unwrap();
    assert_eq!(basic.status(), 200, "HTTP Basic works too");
    assert_eq!(basic.headers()["cache-control"], "no-store");
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);

    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, u16, &str); 4] = [
        (&[("grant_type", "password")], 400, "unsupported_grant_type"),
        (&[("client_id", "x")], 400, "invalid_request"),
        (
            &[("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "btc_x"),
                ("client_secret", "nope"),
            ],
            401,
            "invalid_client",
        ),
    ];
    for (form, status, error) in cases {
        let response = send(http.post(&url).form(form)).await.unwrap();
        assert_eq!(response.status(), status, "{form:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
    }
    let repeated = send(
        http.post(&url)
            .basic_auth(&tms.client_id, Some(&tms.client_secret))
            .body("grant_type=client_credentials&grant_type=password")
            .header("content-type", "application/x-www-form-urlencoded"),
    )
    .await
    .unwrap();
    assert_eq!(
        repeated.status(),
        400,
        "RFC 6749 §3.2: no repeated parameters"
    );
    let lower = send(
        http.get(format!("{}/api/containers", server.base))
            .header("authorization", format!("bEaReR {}", tms.token)),
    )
    .await
    .unwrap();
    assert_eq!(lower.status(), 200, "the auth scheme is case-insensitive");
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("GET", "/api/events", 405),
        ("GET", "/api/containers?limit=abc", 400),
    ] {
        let response = send(
            http.request(method.parse().unwrap(), format!("{}{path}", server.base))
                .bearer_auth(&tms.token),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let wrong_secret = send(http.post(&url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", tms.client_id.as_str()),
        ("client_secret", "bts_wrong"),
    ]))
    .await
    .unwrap();
    assert_eq!(wrong_secret.status(), 401);
}

/// Every bad input gets its status and problem type, and nothing is stored.
#[tokio::test]
async fn bad_inputs_get_problem_details_and_store_nothing() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let base = tms.event(
        "TRACE_EXPORT_REQUESTED",
        BOX,
        json!({ "bookingNumber": "B1" }),
    );
    let with = |path: &[&str], value: Value| {
        let mut event = base.clone();
        let mut target = &mut event;
        for p in &path[..path.len() - 1] {
            target = &mut target[*p];
        }
        target[path[path.len() - 1]] = value;
        event
    };
    let cases = [
        (
            with(&["type"], json!("BOOKING")),
            422,
            "unsupported-type",
            "type",
        ),
        (
            with(&["action"], json!("TRACE_IMPORT_REQUESTED")),
            422,
            "unsupported-action",
            "action",
        ),
        (with(&["orgId"], json!(7)), 422, "invalid-type", "orgId"),
        (
            with(&["payload", "id"], json!("CSQU3054384")),
            422,
            "invalid-container-number",
            "payload.id",
        ),
        (
            with(&["payload", "providerId"], json!("nope")),
            422,
            "unknown-provider",
            "payload.providerId",
        ),
        (
            with(&["payload", "data", "bookingNumber"], Value::Null),
            422,
            "missing-field",
            "payload.data.bookingNumber",
        ),
        (
            with(&["payload", "data", "subscriptionKey"], json!("s3cr3t")),
            422,
            "credential-in-data",
            "payload.data.subscriptionKey",
        ),
        (
            with(&["payload", "data", "scenario"], json!("bogus")),
            422,
            "invalid-provider-data",
            "payload.data.scenario",
        ),
    ];
    for (body, status, code, field) in cases {
        let response = tms.post("/api/events", &body).await;
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], format!("urn:boxtrace:problem:{code}"));
        assert_eq!(problem["field"], field);
        assert_eq!(problem["status"], status);
        assert!(
            !problem.to_string().contains("s3cr3t"),
            "credentials are never echoed"
        );
    }
    let mut site_only = base.clone();
    site_only["payload"]
        .as_object_mut()
        .unwrap()
        .remove("providerId");
    site_only["payload"]["siteId"] = json!("urn:site");
    let problem: Value = tms
        .post("/api/events", &site_only)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        problem["type"],
        "urn:boxtrace:problem:site-id-not-supported"
    );
    assert_eq!(
        problem["detail"],
        "siteId is not supported yet, send providerId"
    );

    let malformed = tms
        .post_raw("/api/events", b"{\n  \"orgId\": ,\n}".to_vec())
        .await;
    assert_eq!(malformed.status(), 400);
    let problem: Value = malformed.json().await.unwrap();
    assert_eq!(problem["type"], "urn:boxtrace:problem:malformed-json");
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(2), Some(12))
    );

    let huge = tms.post_raw("/api/events", vec![b' '; 64 * 1024]).await;
    assert_eq!(huge.status(), 413);
    assert_eq!(huge.headers()["content-type"], "application/problem+json");

    let listed: Value = tms.get("/api/containers").await.json().await.unwrap();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "nothing stored from rejected requests"
    );
    let bad_filter = tms.get("/api/containers?state=SLEEPING").await;
    assert_eq!(bad_filter.status(), 400);
    assert_eq!(tms.get("/api/containers?after=zz").await.status(), 400);
}

#[tokio::test]
async fn webhook_urls_to_private_addresses_are_refused_unless_allowed() {
    let strict = server(false).await;
    let tms = strict.tms("org-a").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "ftp://example.com/hook",
    ] {
        let response = tms
            .post(
                "/api/webhooks",
                &json!({ "url": url, "triggers": ["TRACE_RESULT"] }),
            )
            .await;
        assert_eq!(response.status(), 422, "{url}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], "url");
    }
    let open = server(true).await;
    let tms = open.tms("org-a").await;
    let response = tms
        .post(
            "/api/webhooks",
            &json!({ "url": "http://127.0.0.1:9/hook", "triggers": ["TRACE_RESULT"] }),
        )
        .await;
    assert_eq!(response.status(), 201, "allowed by configuration");
    let invalid = tms
        .post(
            "/api/webhooks",
            &json!({ "url": "http://127.0.0.1:9/hook", "triggers": [] }),
        )
        .await;
    assert_eq!(invalid.status(), 422);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let server = server(true).await;
    let http = reqwest::Client::new();
    let get = |path: &str| send(http.get(format!("{}{path}", server.base)));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    for path in [
        "/oauth/token",
        "/api/events",
        "/api/webhooks",
        "/api/webhooks/{id}",
        "/api/webhooks/{id}/ping",
        "/api/webhooks/{id}/replay",
        "/api/containers",
        "/api/containers/{kind}/{providerId}/{containerId}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    let tms = server.tms("org-a").await;
    tms.post(
        "/api/events",
        &tms.event("TRACE_EMPTY_REQUESTED", BOX, json!({})),
    )
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let metrics = loop {
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        if metrics.contains("boxtrace_result_events_total{action=\"TRACE_RESULT\"}") {
            break metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no trace counted: {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for series in [
        "boxtrace_events_total{action=\"TRACE_EMPTY_REQUESTED\",outcome=\"accepted\"} 1",
        "boxtrace_trace_seconds_count{provider=\"sim\"}",
        "boxtrace_result_events_total{action=\"TRACE_RESULT\"}",
        "boxtrace_outbox_depth",
        "boxtrace_due_lag_seconds_count{} 1",
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }
}
