//! Embeds boxtrace with the simulated terminal on a simulated clock: publishes a handful
//! of export and empty boxes, then prints every result event as simulated days pass.
//!
//! Run it with `cargo run -p boxtrace-examples --example embed`. It ends by itself, in
//! seconds, once every box is done (or after twelve simulated days).

use std::time::Duration;

use anyhow::Context;
use boxtrace::{Clock, Engine, ManualClock, SledStore, StaticCredentials, TrackingState};
use chrono::{TimeZone, Utc};
use serde_json::json;
// Linking the provider crate registers `sim`; nothing else names it, so say so.
use boxtrace_sim as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
        .single()
        .context("start time")?;
    let clock = ManualClock::new(start);

    // The sim provider comes from the inventory registry, as a server would build it.
    let engine = Engine::builder()
        .store(SledStore::open_path(dir.path())?)
        .registered_provider("sim", json!({ "seed": 2026, "epoch": start }))
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .seed(1)
        .build()?;
    let mut results = engine.subscribe();
    let running = engine.start();

    let exports = [
        ("MSCU1234566", "standard"),
        ("MAEU7781200", "hold"),
        ("CMAU4551027", "standard"),
    ];
    let empties = ["HLXU8207315", "OOLU6012942"];
    for (container, scenario) in exports {
        publish(
            &engine,
            "TRACE_EXPORT_REQUESTED",
            container,
            json!({
                "locationCode": "MICT", "bookingNumber": "TASF883714", "scenario": scenario
            }),
        )
        .await?;
    }
    for container in empties {
        publish(
            &engine,
            "TRACE_EMPTY_REQUESTED",
            container,
            json!({ "locationCode": "MICT" }),
        )
        .await?;
    }
    println!(
        "Tracing {} export and {} empty boxes at the simulated terminal from {}.\n",
        exports.len(),
        empties.len(),
        start.format("%Y-%m-%d %H:%M UTC")
    );

    let boxes = exports.len() + empties.len();
    let mut finished = 0;
    let end = start + chrono::Duration::days(12);
    while finished < boxes && clock.now() < end {
        // Ten simulated minutes per step; the dispatcher wakes when jobs come due.
        clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(Duration::from_millis(1)).await;
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(1), results.recv()).await
        {
            println!("{}", event.summary());
            if event.payload.tracking_state != TrackingState::Active {
                finished += 1;
            }
        }
    }
    running.shutdown().await;
    println!(
        "\n{finished} of {boxes} boxes done after {} simulated days.",
        (clock.now() - start).num_days()
    );
    Ok(())
}

async fn publish(
    engine: &Engine,
    action: &str,
    container: &str,
    data: serde_json::Value,
) -> anyhow::Result<()> {
    let event = json!({
        "orgId": "acme-trucking",
        "svcId": "tms-1",
        "type": "CONTAINER",
        "action": action,
        "origin": "embed-example",
        "payload": { "id": container, "providerId": "sim", "data": data }
    });
    engine.handle_event(&serde_json::to_vec(&event)?).await?;
    Ok(())
}
