//! Errors classified for the scheduler: rejected credentials, rate limits, server errors,
//! slow answers, bodies that do not parse, missing credentials and wrong addresses.

use std::time::Duration;

use anyhow::Context;
use boxtrace::{
    CircuitState, Clock, EmitReason, ManualClock, PermanentReason, Policy, ProviderCredentials,
    ResultAction, TraceError, TraceKind, TrackingState,
};
use serde_json::json;

use crate::lifecycle::{drain_outbox, trace_next};
use crate::support::fake::{FakeIctsi, Fault, DETAILS, VESSEL};
use crate::support::logs::Logs;
use crate::support::{credentials, engine, event, export_data, request, t0, tracer, CONTAINER};

async fn trace_with(
    fake: &FakeIctsi,
    extra: serde_json::Value,
    credentials: &ProviderCredentials,
) -> Result<boxtrace::TraceResult, TraceError> {
    let clock = ManualClock::new(t0());
    tracer(fake, &clock, extra)
        .trace(
            &request(TraceKind::Export, CONTAINER, export_data()),
            credentials,
        )
        .await
}

async fn trace(fake: &FakeIctsi) -> Result<boxtrace::TraceResult, TraceError> {
    trace_with(fake, json!({}), &credentials()).await
}

#[tokio::test]
async fn rejected_credentials_are_permanent_and_tell_the_operator_what_to_fix() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeIctsi::start().await;
    fake.containers("export_yard.json");
    let wrong = ProviderCredentials::new()
        .with("subscriptionKey", "not-the-key")
        .with("subscriptionId", "not-the-id");
    let err = trace_with(&fake, json!({}), &wrong).await.unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::Permanent {
                reason: PermanentReason::CredentialsRejected,
                ..
            }
        ),
        "{err:?}"
    );
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("rejected the subscription credentials"))
        .unwrap_or_else(|| panic!("an operator log line in:\n{text}"));
    assert!(line.contains("BOXTRACE_ICTSI_SUBSCRIPTION_KEY"), "{line}");
    assert!(line.contains("BOXTRACE_ICTSI_SUBSCRIPTION_ID"), "{line}");
    assert!(
        !text.contains("not-the-key") && !text.contains("not-the-id"),
        "{text}"
    );

    fake.fail(DETAILS, Fault::status(403));
    let err = trace(&fake).await.unwrap_err();
    assert!(matches!(
        err,
        TraceError::Permanent {
            reason: PermanentReason::CredentialsRejected,
            ..
        }
    ));
}

#[tokio::test]
async fn the_engine_suspends_with_one_trace_error_on_rejected_credentials() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.fail(DETAILS, Fault::status(401));
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?
        .key;
    trace_next(&engine, &clock, &key).await?;
    let events = drain_outbox(&engine).await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, ResultAction::TraceError);
    let error = events[0].payload.error.as_ref().context("an error")?;
    assert_eq!(error.reason, "credentials_rejected");
    assert_eq!(events[0].payload.reason, EmitReason::Suspended);
    // Suspended, not stopped: the provider's circuit is open until the credentials work.
    let job = engine.get(&key).await?.context("the job")?;
    assert_eq!(job.state, TrackingState::Active);
    assert_eq!(engine.provider_health()[0].circuit, CircuitState::Open);
    Ok(())
}

#[tokio::test]
async fn missing_credentials_are_permanent_and_no_call_is_made() {
    let fake = FakeIctsi::start().await;
    let only_key = ProviderCredentials::new().with("subscriptionKey", "k");
    let err = trace_with(&fake, json!({}), &only_key).await.unwrap_err();
    assert!(
        matches!(&err, TraceError::Permanent { reason: PermanentReason::CredentialsMissing, message } if message.contains("subscriptionId")),
        "{err:?}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn rate_limits_honour_retry_after_in_seconds_or_as_a_date() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.containers("export_yard.json");
    fake.fail(DETAILS, Fault::status(429).header("Retry-After", "120"));
    let err = trace(&fake).await.unwrap_err();
    assert_eq!(
        err,
        TraceError::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );

    let at = chrono::Utc::now() + chrono::Duration::seconds(300);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    fake.fail(DETAILS, Fault::status(429).header("Retry-After", &date));
    let waited = trace(&fake)
        .await
        .unwrap_err()
        .retry_after()
        .context("a delay")?;
    assert!(
        waited > Duration::from_secs(280) && waited <= Duration::from_secs(300),
        "{waited:?}"
    );

    // The engine waits at least that long before the next trace.
    fake.fail(DETAILS, Fault::status(429).header("Retry-After", "7200"));
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?
        .key;
    trace_next(&engine, &clock, &key).await?;
    let job = engine.get(&key).await?.context("the job")?;
    let due = job.due_at.context("still traced")?;
    assert!(
        due >= clock.now() + chrono::Duration::seconds(7200),
        "{due}"
    );
    assert!(
        drain_outbox(&engine).await?.is_empty(),
        "a rate limit notifies nobody"
    );
    Ok(())
}

#[tokio::test]
async fn server_errors_are_transient_with_their_hint() {
    let fake = FakeIctsi::start().await;
    fake.containers("export_yard.json");
    fake.fail(DETAILS, Fault::status(500));
    let err = trace(&fake).await.unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    fake.fail(DETAILS, Fault::status(503).header("Retry-After", "30"));
    let err = trace(&fake).await.unwrap_err();
    assert_eq!(err.class(), "transient");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));

    // A failing vessel visit call fails the trace (no stale answer to fall back on).
    fake.heal().vessels("vessel_visit.json");
    fake.fail(VESSEL, Fault::status(502));
    assert_eq!(trace(&fake).await.unwrap_err().class(), "transient");
}

#[tokio::test]
async fn a_slow_answer_past_the_request_timeout_is_transient() {
    let fake = FakeIctsi::start().await;
    fake.containers("export_yard.json");
    fake.fail(DETAILS, Fault::delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let err = trace_with(&fake, json!({ "requestTimeout": "300ms" }), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up at the timeout"
    );
}

#[tokio::test]
async fn a_body_that_does_not_parse_is_transient_and_logged_in_excerpt() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeIctsi::start().await;
    let page = format!(
        "<html><body>{}</body></html>",
        "Service Unavailable ".repeat(40)
    );
    fake.fail(DETAILS, Fault::body(&page));
    let err = trace(&fake).await.unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(err.to_string().contains("does not parse"), "{err}");
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("does not parse") && l.contains("excerpt="))
        .unwrap_or_else(|| panic!("a log line with an excerpt in:\n{text}"));
    // The excerpt is the line's last field.
    let excerpt = line.split("excerpt=").nth(1).unwrap_or_default();
    assert!(
        excerpt.contains("<html><body>Service Unavailable"),
        "{line}"
    );
    assert!(
        excerpt.chars().count() <= 210,
        "bounded: {}",
        excerpt.chars().count()
    );
    assert!(!line.contains(&page), "never the whole body");
}

#[tokio::test]
async fn a_wrong_address_is_transient_and_logged() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeIctsi::start().await;
    let wrong_path = format!("{}nope/", fake.url());
    let err = trace_with(&fake, json!({ "baseUrl": wrong_path }), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(logs.text().contains("check the provider's baseUrl"));

    // Nothing listens on a port just released: a connection error, transient too.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let nobody = format!("http://127.0.0.1:{port}/");
    let err = trace_with(&fake, json!({ "baseUrl": nobody }), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(err.to_string().contains("could not connect"), "{err}");
}
