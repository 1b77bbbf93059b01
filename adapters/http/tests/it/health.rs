//! Provider health over HTTP: a provider whose requests fail is suspended, and `/readyz`
//! and `/metrics` say so while the server stays ready; the breaker's keys parse from the
//! configuration file.

use std::time::Duration;

use boxtrace_http::ServerConfig;
use serde_json::{json, Value};

use crate::support::{config, send, server_with};

const BOX: &str = "CSQU3054383";

/// The sim provider failing every trace, with a breaker that opens at the first failed
/// request, configured as an operator would write it.
fn failing_sim(dir: &std::path::Path) -> ServerConfig {
    let file: ServerConfig = toml::from_str(
        r#"
        [provider.sim]
        config = { faults = { transient = 1.0 } }
        [provider.sim.limits]
        traceTimeout = "5s"
        [provider.sim.limits.breaker]
        failures = 1
        coolOff = "10m"
        maxCoolOff = "1h"
        "#,
    )
    .unwrap();
    let mut config = config(dir, true);
    config.provider = file.provider;
    config
}

#[test]
fn breaker_keys_parse_and_unknown_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = failing_sim(dir.path());
    let limits = config.provider["sim"].limits.clone().unwrap();
    assert_eq!(limits.breaker.failures, 1);
    assert_eq!(limits.breaker.cool_off, Duration::from_secs(600));
    assert_eq!(limits.breaker.max_cool_off, Duration::from_secs(3600));
    let typo = "[provider.sim.limits.breaker]\ncoolof = \"1m\"\n";
    let error = toml::from_str::<ServerConfig>(typo).unwrap_err();
    assert!(error.to_string().contains("coolof"), "{error}");
}

#[tokio::test]
async fn a_suspended_provider_shows_in_readyz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = failing_sim(dir.path());
    let server = server_with(config, dir).await;
    let http = reqwest::Client::new();
    let get = |path: &str| send(http.get(format!("{}{path}", server.base)));

    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(
        ready,
        json!({
            "status": "ready",
            "store": "ok",
            "providers": [{ "provider": "sim", "circuit": "closed", "suspendedCredentials": 0 }]
        })
    );

    let tms = server.tms("org-a").await;
    let accepted = tms
        .post(
            "/api/events",
            &tms.event("TRACE_EMPTY_REQUESTED", BOX, json!({})),
        )
        .await;
    assert_eq!(accepted.status(), 202);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = get("/readyz").await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "a suspended provider leaves it ready"
        );
        let body: Value = response.json().await.unwrap();
        if body["providers"][0]["circuit"] == "open" {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the circuit never opened: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sim = &response["providers"][0];
    assert_eq!(sim["cause"], "failures");
    let since: chrono::DateTime<chrono::Utc> = sim["since"].as_str().unwrap().parse().unwrap();
    let retry_at: chrono::DateTime<chrono::Utc> = sim["retryAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(retry_at - since, chrono::Duration::minutes(10));

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for series in [
        "boxtrace_provider_circuit_state{provider=\"sim\"} 2",
        "boxtrace_provider_circuit_transitions_total{provider=\"sim\",to=\"open\"} 1",
        "boxtrace_provider_requests_total{provider=\"sim\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }

    // A second box waits for the provider instead of being traced.
    tms.post(
        "/api/events",
        &tms.event("TRACE_EMPTY_REQUESTED", "MSCU1234566", json!({})),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        if metrics.contains("boxtrace_provider_deferred_jobs_total{provider=\"sim\"} 1") {
            assert!(
                metrics.contains("boxtrace_provider_requests_total{provider=\"sim\"} 1"),
                "no request while open: {metrics}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second box was not held back: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown.cancel();
    let _ = server.task.await;
}
