//! The fake refuses calls without the reference's headers, and the tracer sends them all,
//! with the query each call needs.

use anyhow::Context;
use boxtrace::{ManualClock, TraceKind};
use serde_json::json;

use crate::support::fake::{FakeIctsi, DETAILS, EVENTS, KEY, SUBSCRIPTION_ID, VESSEL};
use crate::support::{credentials, export_data, request, t0, tracer, CONTAINER};

#[tokio::test]
async fn the_fake_refuses_calls_without_the_right_headers() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}api/v2/getContainerDetails?container-type=export",
        fake.url()
    );
    let call = |headers: &[(&str, &str)], body: &'static str| {
        let mut builder = http.post(&url).body(body);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.send()
    };
    let key = ("Ocp-Apim-Subscription-Key", KEY);
    let id = ("x-subscription-id", SUBSCRIPTION_ID);
    let api = ("x-api-id", "container");
    let product = ("x-request-product-id", "truck-management-system");
    for (headers, status) in [
        (vec![], 401),
        (vec![id, api, product], 401),
        (
            vec![("Ocp-Apim-Subscription-Key", "wrong"), id, api, product],
            401,
        ),
        (vec![key, api, product], 401),
        (vec![key, id, product], 403),
        (vec![key, id, ("x-api-id", "vessel-visit"), product], 403),
        (
            vec![key, id, api, ("x-request-product-id", "track-and-trace")],
            403,
        ),
    ] {
        let answer = call(&headers, "{}").await?;
        assert_eq!(answer.status().as_u16(), status, "{headers:?}");
    }
    assert_eq!(
        call(&[key, id, api, product], "").await?.status().as_u16(),
        400,
        "no body"
    );
    assert_eq!(
        call(&[key, id, api, product], "{}")
            .await?
            .status()
            .as_u16(),
        200
    );
    Ok(())
}

#[tokio::test]
async fn every_call_carries_its_headers_and_query() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.containers("export_hold.json")
        .events("events_hold.json")
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let tracer = tracer(&fake, &clock, json!({ "userAgent": "acme-tms/2.1" }));
    tracer
        .trace(
            &request(TraceKind::Export, CONTAINER, export_data()),
            &credentials(),
        )
        .await?;
    let asked = fake.requests();
    let calls: Vec<_> = asked.iter().map(|r| r.call.as_str()).collect();
    assert_eq!(calls, [DETAILS, EVENTS, VESSEL]);
    for (request, api, product) in [
        (&asked[0], "container", "truck-management-system"),
        (&asked[1], "container-event", "track-and-trace"),
        (&asked[2], "vessel-visit", "track-and-trace"),
    ] {
        let header = |name: &str| request.headers.get(name).map(String::as_str);
        assert_eq!(request.status, 200, "{}", request.call);
        assert_eq!(header("ocp-apim-subscription-key"), Some(KEY));
        assert_eq!(header("x-subscription-id"), Some(SUBSCRIPTION_ID));
        assert_eq!(header("x-api-id"), Some(api));
        assert_eq!(header("x-request-product-id"), Some(product));
        assert_eq!(header("user-agent"), Some("acme-tms/2.1"));
        assert_eq!(header("content-type"), Some("application/json"));
    }
    let query = |i: usize, name: &str| asked[i].query.get(name).cloned();
    assert_eq!(query(0, "container-type").as_deref(), Some("export"));
    assert_eq!(query(0, "facility-id").as_deref(), Some("MICT"));
    assert_eq!(query(0, "container-number").as_deref(), Some(CONTAINER));
    assert_eq!(query(0, "ms-booking").as_deref(), Some("TASF883714"));
    assert_eq!(
        query(1, "unique-key").as_deref(),
        Some("ICTSI/PH/MICT/25878505")
    );
    assert_eq!(query(2, "carrier-visit-id").as_deref(), Some("TAGE610"));
    assert_eq!(query(2, "facility-id").as_deref(), Some("MICT"));

    // Without a configured user agent, the engine's HTTP settings name boxtrace.
    let fake = FakeIctsi::start().await;
    let tracer = crate::support::tracer(&fake, &clock, json!({}));
    let _ = tracer
        .trace(
            &request(TraceKind::Export, CONTAINER, export_data()),
            &credentials(),
        )
        .await;
    let asked = fake.requests();
    let agent = asked
        .first()
        .context("a call")?
        .headers
        .get("user-agent")
        .cloned();
    assert!(agent.is_some_and(|a| a.starts_with("boxtrace/")));
    Ok(())
}
