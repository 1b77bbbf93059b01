//! A whole export read trace by trace through a real engine: advised → yard → hold →
//! released → loaded → departed, with exactly one result event per change and none for a
//! trace that finds nothing new.

use std::time::Duration;

use anyhow::Context;
use boxtrace::{
    EmitReason, Engine, EquipmentEventCode, JobKey, ManualClock, Policy, ResultEvent, Status,
    TrackingState,
};
use serde_json::json;

use crate::support::fake::{FakeIctsi, DETAILS, EVENTS, VESSEL};
use crate::support::{engine, event, export_data, t0, CONTAINER};

/// Moves the clock to the job's next due time and runs what is due: one trace.
pub async fn trace_next(engine: &Engine, clock: &ManualClock, key: &JobKey) -> anyhow::Result<()> {
    let job = engine.get(key).await?.context("the job exists")?;
    if let Some(due) = job.due_at {
        clock.set(due);
    }
    let ran = engine.run_due().await?;
    anyhow::ensure!(ran == 1, "expected one trace, {ran} ran");
    Ok(())
}

/// The result events committed since the last call, acknowledged.
pub async fn drain_outbox(engine: &Engine) -> anyhow::Result<Vec<ResultEvent>> {
    let mut events = Vec::new();
    loop {
        let claims = engine.claim_outbox(100, Duration::from_secs(60)).await?;
        if claims.is_empty() {
            return Ok(events);
        }
        for claim in claims {
            engine.ack_outbox(claim.entry.seq, claim.token).await?;
            events.push(claim.entry.event);
        }
    }
}

fn codes(event: &ResultEvent) -> Vec<EquipmentEventCode> {
    event
        .payload
        .result
        .as_ref()
        .map(|r| r.events.iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_export_from_advice_to_departure_notifies_once_per_change() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.events("events_hold.json").vessels("vessel_visit.json");
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    // Loaded is not a stop here, so that the departure is traced too.
    let policy = Policy {
        stop_on: vec![Status::Departed, Status::Returned],
        ..Policy::default()
    };
    let engine = engine(&fake, &clock, &dir, policy, json!({}))?;
    let accepted = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?;
    let key = accepted.key;

    use EquipmentEventCode::{Gtin, Load};
    let steps = [
        ("export_advised.json", Status::Expected, vec![], 0),
        ("export_yard.json", Status::GatedIn, vec![Gtin], 0),
        ("export_hold.json", Status::OnHold, vec![Gtin], 1),
        ("export_released.json", Status::GatedIn, vec![Gtin], 0),
        ("export_loaded.json", Status::Loaded, vec![Gtin, Load], 0),
        (
            "export_departed.json",
            Status::Departed,
            vec![Gtin, Load],
            0,
        ),
    ];
    let mut event_calls = 0;
    for (i, (fixture, status, events, holds)) in steps.into_iter().enumerate() {
        fake.containers(fixture);
        trace_next(&engine, &clock, &key).await?;
        let emitted = drain_outbox(&engine).await?;
        assert_eq!(
            emitted.len(),
            1,
            "{fixture}: one event per change: {emitted:#?}"
        );
        let emitted = &emitted[0];
        assert_eq!(emitted.payload.status, Some(status), "{fixture}");
        assert_eq!(codes(emitted), events, "{fixture}");
        let result = emitted.payload.result.as_ref().context("a result")?;
        assert_eq!(result.holds.len(), holds, "{fixture}");
        assert_eq!(result.booking_reference.as_deref(), Some("TASF883714"));
        let expected_reason = match i {
            0 => EmitReason::FirstResult,
            5 => EmitReason::TrackingStopped,
            _ => EmitReason::Changed,
        };
        assert_eq!(emitted.payload.reason, expected_reason, "{fixture}");
        if holds > 0 {
            event_calls += 1;
            assert_eq!(
                result.holds[0].description.as_deref(),
                Some("Customs hold: X-ray inspection ordered")
            );
        }
        assert_eq!(
            fake.calls(EVENTS),
            event_calls,
            "hold details only with holds"
        );

        // Tracing again without a change at ICTSI tells nobody anything.
        if i < 5 {
            trace_next(&engine, &clock, &key).await?;
            assert!(
                drain_outbox(&engine).await?.is_empty(),
                "{fixture}: unchanged"
            );
            // Each trace that finds holds asks for their details again.
            event_calls += usize::from(holds > 0);
        }
    }

    let job = engine.get(&key).await?.context("the job")?;
    assert_eq!(job.state, TrackingState::Completed);
    assert_eq!(job.due_at, None);
    assert_eq!(
        fake.calls(DETAILS),
        11,
        "one details call per trace, no more"
    );
    assert!(fake.calls(VESSEL) <= 11);
    let history = engine.history(&key, 100).await?;
    let statuses: Vec<_> = history.iter().filter_map(|e| e.payload.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Expected,
            Status::GatedIn,
            Status::OnHold,
            Status::GatedIn,
            Status::Loaded,
            Status::Departed
        ]
    );
    let last = history.last().context("history")?;
    let carrier = last.payload.carrier.as_ref().context("a carrier")?;
    assert_eq!(carrier.vessel.as_deref(), Some("CMA CGM TAGE"));
    assert_eq!(carrier.voyage.as_deref(), Some("0PPFEW1MA"));
    assert_eq!(carrier.steamship_line.as_deref(), Some("CMA"));
    let destination = last.payload.destination.as_ref().context("a destination")?;
    assert_eq!(destination.site_id.as_deref(), Some("SGSIN"));
    Ok(())
}

#[tokio::test]
async fn with_the_default_policy_tracking_completes_when_loaded() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.vessels("vessel_visit.json")
        .containers("export_yard.json");
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?
        .key;
    trace_next(&engine, &clock, &key).await?;
    fake.containers("export_loaded.json");
    trace_next(&engine, &clock, &key).await?;
    let job = engine.get(&key).await?.context("the job")?;
    assert_eq!(job.state, TrackingState::Completed);
    let result = job.last_result.context("a result")?;
    assert_eq!(result.status, Status::Loaded);
    assert_eq!(
        result.key_dates.cargo_cutoff,
        "2026-03-04T12:00:00Z".parse().ok()
    );
    assert_eq!(drain_outbox(&engine).await?.len(), 2);
    Ok(())
}
