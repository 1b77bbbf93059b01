//! Answers of unknown shape (issue 14, item 8): a 200 whose records ICTSI's format does not
//! describe is a format error, transient and logged with a short excerpt, never a
//! `NOT_FOUND` result sent to clients.

use boxtrace::{JobKey, ManualClock, Policy, Status, Tenant, TraceKind};
use serde_json::json;

use crate::lifecycle::drain_outbox;
use crate::support::fake::{FakeIctsi, Fault, DETAILS, KEY, SUBSCRIPTION_ID};
use crate::support::logs::Logs;
use crate::support::{empty_data, engine, event, export_data, t0};

/// A 200 with 200,000 records that name no container, visit or state.
fn unknown_records() -> String {
    let records: Vec<String> = (0..200_000)
        .map(|i| format!(r#"{{"ref":{i},"note":"x"}}"#))
        .collect();
    format!(r#"{{"data":[{}],"extra":{{}}}}"#, records.join(","))
}

#[tokio::test]
async fn two_hundred_thousand_records_of_unknown_shape_are_a_format_error_not_not_found(
) -> anyhow::Result<()> {
    let (logs, _guard) = Logs::capture();
    let fake = FakeIctsi::start().await;
    let body = unknown_records();
    assert!(
        body.len() < 8 * 1024 * 1024,
        "read whole, not refused as too large"
    );
    fake.fail(DETAILS, Fault::body(&body));
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    // Megabytes to read and parse: time enough for a loaded machine.
    let slow = json!({ "requestTimeout": "30s" });
    let engine = engine(&fake, &clock, &dir, Policy::default(), slow)?;
    let boxes: Vec<String> = (0..28)
        .map(|i| boxtrace::testing::container(i).as_str().to_owned())
        .collect();
    for (i, number) in boxes.iter().enumerate() {
        let (kind, data) = if i % 2 == 0 {
            ("EXPORT", export_data())
        } else {
            ("EMPTY", empty_data())
        };
        engine.handle_event(&event(kind, number, data)).await?;
    }
    assert_eq!(engine.run_due().await?, 28);

    let events = drain_outbox(&engine).await?;
    assert!(
        events
            .iter()
            .all(|e| e.payload.status != Some(Status::NotFound)),
        "no NOT_FOUND result from an answer of unknown shape"
    );
    assert!(
        events.is_empty(),
        "a transient error notifies nobody: {events:?}"
    );
    for (i, number) in boxes.iter().enumerate() {
        let kind = if i % 2 == 0 {
            TraceKind::Export
        } else {
            TraceKind::Empty
        };
        let key = JobKey {
            tenant: Tenant::new("org", "svc"),
            kind,
            provider_id: "ictsi".into(),
            container: number.clone(),
        };
        let job = engine.get(&key).await?.expect("the job is kept");
        assert!(job.last_result.is_none() && job.not_found_since.is_none());
        let error = job.last_error.expect("the failure is recorded");
        assert_eq!(error.class, "transient");
        assert!(
            error.message.contains("expected shape"),
            "{}",
            error.message
        );
    }

    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("unknown shape") && l.contains("excerpt="))
        .unwrap_or_else(|| panic!("a log line with an excerpt"));
    assert!(line.contains(r#"{"note":"x","ref":0}"#), "{line}");
    assert!(line.len() < 1_000, "a short excerpt: {} bytes", line.len());
    assert!(
        !text.contains(KEY) && !text.contains(SUBSCRIPTION_ID),
        "no secret logged"
    );
    Ok(())
}
