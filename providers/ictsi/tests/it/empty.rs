//! Empty returns through a real engine: not returned yet (no record, then a pre-advice),
//! then returned, which completes the trace.

use anyhow::Context;
use boxtrace::{EmptyIndicator, EquipmentEventCode, ManualClock, Policy, Status, TrackingState};
use serde_json::json;

use crate::lifecycle::{drain_outbox, trace_next};
use crate::support::fake::{FakeIctsi, DETAILS, EVENTS, VESSEL};
use crate::support::{empty_data, engine, event, t0, CONTAINER};

#[tokio::test]
async fn an_empty_is_not_found_until_it_is_back_in_the_yard() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EMPTY", CONTAINER, empty_data()))
        .await?
        .key;

    // No record at all: not returned yet.
    trace_next(&engine, &clock, &key).await?;
    let first = drain_outbox(&engine).await?;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].payload.status, Some(Status::NotFound));

    // A pre-advice of the return is still "not returned": no change, no event.
    fake.containers("empty_advised.json");
    trace_next(&engine, &clock, &key).await?;
    assert!(drain_outbox(&engine).await?.is_empty());

    // An earlier visit that left again is no return either.
    fake.containers("empty_departed.json");
    trace_next(&engine, &clock, &key).await?;
    assert!(drain_outbox(&engine).await?.is_empty());

    // Back in the yard (ICTSI masks empties' sensitive fields; nothing needed is masked).
    fake.containers("empty_returned.json");
    trace_next(&engine, &clock, &key).await?;
    let returned = drain_outbox(&engine).await?;
    assert_eq!(returned.len(), 1);
    assert_eq!(returned[0].payload.status, Some(Status::Returned));
    assert_eq!(returned[0].payload.loaded, Some(EmptyIndicator::Empty));
    let result = returned[0].payload.result.as_ref().context("a result")?;
    let gate_in = result.events.first().context("a gate-in")?;
    assert_eq!(gate_in.code, EquipmentEventCode::Gtin);
    assert_eq!(gate_in.empty_indicator, Some(EmptyIndicator::Empty));
    assert_eq!(
        gate_in.event_at,
        "2026-03-04T07:30:00Z".parse::<chrono::DateTime<chrono::Utc>>()?
    );
    let location = result.location.as_ref().context("a location")?;
    assert_eq!(location.un_locode.as_deref(), Some("PHMNL"));
    assert_eq!(location.facility_code.as_deref(), Some("MICT"));

    let job = engine.get(&key).await?.context("the job")?;
    assert_eq!(job.state, TrackingState::Completed, "returned is terminal");
    // Empties need neither hold details nor vessel dates.
    assert_eq!(fake.calls(DETAILS), 4);
    assert_eq!(fake.calls(EVENTS) + fake.calls(VESSEL), 0);
    let asked = fake.requests();
    assert!(asked
        .iter()
        .all(
            |r| r.query.get("container-type").map(String::as_str) == Some("empty")
                && !r.query.contains_key("ms-booking")
        ));
    Ok(())
}
