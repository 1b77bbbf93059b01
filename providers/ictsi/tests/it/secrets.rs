//! The subscription key and id never appear in a log line, an error, a result or a
//! `Debug` output, whatever happens: every log level is captured while traces succeed,
//! fail, and meet answers that echo the secrets back.

use boxtrace::{ManualClock, Policy, ProviderCredentials, TraceKind};
use serde_json::json;

use crate::lifecycle::{drain_outbox, trace_next};
use crate::support::fake::{FakeIctsi, Fault, DETAILS, KEY, SUBSCRIPTION_ID, VESSEL};
use crate::support::logs::Logs;
use crate::support::{credentials, engine, event, export_data, request, t0, tracer, CONTAINER};

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(KEY), "the key leaked into {what}:\n{text}");
    assert!(
        !text.contains(SUBSCRIPTION_ID),
        "the id leaked into {what}:\n{text}"
    );
}

#[tokio::test]
async fn the_key_never_appears_in_logs_errors_or_results() -> anyhow::Result<()> {
    let (logs, _guard) = Logs::capture();
    let fake = FakeIctsi::start().await;
    fake.containers("export_hold.json")
        .events("events_hold.json")
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let tracer = tracer(&fake, &clock, json!({}));
    assert_clean("the tracer's Debug", &format!("{tracer:?}"));
    assert_clean("the credentials' Debug", &format!("{:?}", credentials()));
    let export = request(TraceKind::Export, CONTAINER, export_data());

    let mut seen = Vec::new();
    let ok = tracer.trace(&export, &credentials()).await?;
    assert_eq!(fake.calls(VESSEL), 1, "all three calls made");
    seen.push(serde_json::to_string(&ok)?);
    // Answers that echo the secrets back, the way a misbehaving gateway might.
    let echo = format!("<html>key {KEY} for subscription {SUBSCRIPTION_ID}</html>");
    for fault in [
        Fault::status(401),
        Fault::status(403),
        Fault::status(429).header("Retry-After", "5"),
        Fault::status(500),
        Fault::body(&echo),
        Fault {
            body: echo.clone(),
            ..Fault::status(400)
        },
        Fault {
            body: echo.clone(),
            ..Fault::status(404)
        },
    ] {
        fake.fail(DETAILS, fault);
        let err = tracer.trace(&export, &credentials()).await.unwrap_err();
        seen.push(format!("{err} {err:?}"));
    }
    let missing = ProviderCredentials::new().with("subscriptionKey", KEY);
    let err = tracer.trace(&export, &missing).await.unwrap_err();
    seen.push(format!("{err} {err:?}"));
    let bad = ProviderCredentials::new()
        .with("subscriptionKey", format!("{KEY}\n"))
        .with("subscriptionId", SUBSCRIPTION_ID);
    let err = tracer.trace(&export, &bad).await.unwrap_err();
    seen.push(format!("{err} {err:?}"));

    // And through an engine: its spans, its failure logs, its stored errors and events.
    fake.fail(DETAILS, Fault::status(401));
    let dir = tempfile::tempdir()?;
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?
        .key;
    trace_next(&engine, &clock, &key).await?;
    seen.push(format!("{:?}", engine.get(&key).await?));
    seen.push(format!("{:?}", drain_outbox(&engine).await?));

    for (i, text) in seen.iter().enumerate() {
        assert_clean(&format!("answer {i}"), text);
    }
    let text = logs.text();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "every level captured"
    );
    assert!(text.contains("rejected the subscription credentials"));
    assert_clean("the logs", &text);
    Ok(())
}
