//! Politeness: five container details calls and one vessel visit call for a hundred boxes
//! on one vessel, and the default limits bounding how hard the engine calls ICTSI.

use std::time::Duration;

use boxtrace::{ManualClock, Policy};
use serde_json::{json, Value};

use crate::lifecycle::drain_outbox;
use crate::support::fake::{records, FakeIctsi, Fault, DETAILS, EVENTS, VESSEL};
use crate::support::{engine, event, export_data, t0};

/// The yard fixture's record for `n` boxes, each its own container on the same vessel.
fn boxes_on_one_vessel(n: u32) -> (Vec<String>, Vec<Value>) {
    let template = records("export_yard.json").remove(0);
    (0..n)
        .map(|i| {
            let number = boxtrace::testing::container(i).as_str().to_owned();
            let mut record = template.clone();
            record["container_nbr"] = json!(number);
            record["unique_key"] = json!(format!("ICTSI/PH/MICT/{}", 30_000_000 + i));
            (number, record)
        })
        .unzip()
}

#[tokio::test]
async fn a_hundred_boxes_on_one_vessel_cost_one_vessel_visit_call() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let (numbers, boxes) = boxes_on_one_vessel(100);
    fake.set_containers(boxes).vessels("vessel_visit.json");
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    // Unthrottled so that the test is quick; concurrent traces meet at the cache.
    let limits = json!({ "limits": { "concurrency": 8, "ratePerSecond": null } });
    let engine = engine(&fake, &clock, &dir, Policy::default(), limits)?;
    for number in &numbers {
        engine
            .handle_event(&event("EXPORT", number, export_data()))
            .await?;
    }
    assert_eq!(engine.run_due().await?, 100);
    assert_eq!(
        fake.calls(DETAILS),
        5,
        "one container details call per 20 boxes (the default batch size)"
    );
    assert_eq!(
        fake.calls(VESSEL),
        1,
        "one call for the vessel, not one per box"
    );
    assert_eq!(fake.calls(EVENTS), 0, "no holds, no hold details");
    let events = drain_outbox(&engine).await?;
    assert_eq!(events.len(), 100);
    assert!(events.iter().all(|e| e
        .payload
        .result
        .as_ref()
        .and_then(|r| r.key_dates.cargo_cutoff)
        .is_some()));

    // Past the TTL (30 minutes on the engine's clock) the vessel is asked again, once.
    clock.advance(chrono::Duration::hours(3));
    assert_eq!(engine.run_due().await?, 100);
    assert_eq!(fake.calls(VESSEL), 2);
    Ok(())
}

#[tokio::test]
async fn the_default_limits_keep_calls_to_four_at_a_time() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let (numbers, boxes) = boxes_on_one_vessel(10);
    fake.set_containers(boxes).vessels("vessel_visit.json");
    // Slow answers, so that traces would overlap if the engine let them.
    fake.fail(DETAILS, Fault::delay(Duration::from_millis(100)));
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    // One box per call, so that there are calls enough to overlap.
    let one_by_one = json!({ "limits": { "batchSize": 1 } });
    let engine = engine(&fake, &clock, &dir, Policy::default(), one_by_one)?;
    for number in &numbers {
        engine
            .handle_event(&event("EXPORT", number, export_data()))
            .await?;
    }
    assert_eq!(engine.run_due().await?, 10);
    assert_eq!(fake.calls(DETAILS), 10);
    assert!(
        fake.max_in_flight() <= 4,
        "{} at once",
        fake.max_in_flight()
    );
    Ok(())
}
