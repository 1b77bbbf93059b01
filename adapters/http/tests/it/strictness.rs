//! Input that is refused, end to end: look-alike container ids and http web-hook URLs.

use serde_json::{json, Value};

use crate::support::{config, server, server_with};

#[tokio::test]
async fn a_look_alike_container_id_is_refused_with_a_clear_problem() {
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    // The long s upper-cases to S: this must not be traced as CSQU3054383.
    let event = tms.event("TRACE_EMPTY_REQUESTED", "CſQU3054383", json!({}));
    let response = tms.post("/api/events", &event).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "payload.id", "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("'ſ' (U+017F) at position 2 is not an ASCII letter or digit"),
        "{detail}"
    );
    let listed: Value = tms.get("/api/containers").await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "nothing was stored");
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_check_value_of_10_is_traced_with_check_digit_0() {
    // 10 is what owner code, category and serial of this box give.
    let number = (0..1_000_000u32)
        .map(|s| format!("CSQU{s:06}"))
        .find(|p| boxtrace::check_value(p.as_bytes()) == 10)
        .map(|p| format!("{p}0"))
        .unwrap();
    let server = server(true).await;
    let tms = server.tms("org-a").await;
    let event = tms.event("TRACE_EMPTY_REQUESTED", &number, json!({}));
    assert_eq!(tms.post("/api/events", &event).await.status(), 202);
    let wrong = tms.event(
        "TRACE_EMPTY_REQUESTED",
        &format!("{}1", &number[..10]),
        json!({}),
    );
    let response = tms.post("/api/events", &wrong).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("check digit is 1, expected 0"),
        "{problem}"
    );
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn http_web_hooks_are_refused_unless_the_operator_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut strict = config(dir.path(), true);
    strict.allow_insecure_webhooks = false;
    let server = server_with(strict, dir).await;
    let tms = server.tms("org-a").await;
    let response = tms
        .post(
            "/api/webhooks",
            &json!({ "url": "http://127.0.0.1:9/hook", "triggers": ["TRACE_RESULT"] }),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "url");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("must use https"),
        "{problem}"
    );
    let https = tms
        .post(
            "/api/webhooks",
            &json!({ "url": "https://127.0.0.1:9/hook", "triggers": ["TRACE_RESULT"] }),
        )
        .await;
    assert_eq!(
        https.status(),
        201,
        "private targets are allowed here, over https"
    );
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}
