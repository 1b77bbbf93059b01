//! A whole engine on the simulated terminal: publish, let the clock run the box's life,
//! and check that every result the engine emitted is what the timeline says.

use boxtrace::{
    Engine, JobKey, ManualClock, SledStore, StaticCredentials, Status, Tenant, TraceKind,
    TrackingState,
};
use serde_json::json;

use crate::support::{t0, timeline_status_at};

const CONTAINER: &str = "CSQU3054383";

fn engine(clock: &ManualClock, dir: &tempfile::TempDir) -> anyhow::Result<Engine> {
    Ok(Engine::builder()
        .store(SledStore::open_path(dir.path())?)
        .registered_provider("sim", json!({ "seed": 7, "epoch": t0() }))
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .seed(7)
        .build()?)
}

fn event(kind: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "orgId": "org", "svcId": "svc", "type": "CONTAINER",
        "action": format!("TRACE_{kind}_REQUESTED"), "origin": "test",
        "payload": { "id": CONTAINER, "providerId": "sim", "data": data }
    }))
    .unwrap_or_default()
}

/// Runs due traces and jumps the clock to the next due time until tracking stops.
async fn run_to_completion(
    engine: &Engine,
    clock: &ManualClock,
    key: &JobKey,
) -> anyhow::Result<()> {
    for _ in 0..1_000 {
        engine.run_due().await?;
        let job = engine
            .get(key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job gone"))?;
        match job.due_at {
            Some(due) if job.state.is_active() => clock.set(due),
            _ => return Ok(()),
        }
    }
    anyhow::bail!("tracking never stopped")
}

#[tokio::test]
async fn the_engine_follows_a_simulated_export_to_completion() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&clock, &dir)?;
    let data = json!({ "bookingNumber": "TASF883714", "scenario": "hold" });
    let accepted = engine.handle_event(&event("EXPORT", data.clone())).await?;
    run_to_completion(&engine, &clock, &accepted.key).await?;

    let job = engine
        .get(&accepted.key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("job gone"))?;
    assert_eq!(job.state, TrackingState::Completed);
    let last = job.last_result.map(|r| r.status);
    assert!(
        matches!(last, Some(Status::Loaded | Status::Departed)),
        "{last:?}"
    );

    // What the engine reported at each trace is the timeline's status at that time.
    let sim = boxtrace_sim::SimTracer::new(
        boxtrace_sim::SimConfig {
            seed: 7,
            epoch: Some(t0()),
            ..Default::default()
        },
        std::sync::Arc::new(clock.clone()),
    );
    let data = data.as_object().cloned().unwrap_or_default();
    let timeline = sim.timeline(TraceKind::Export, CONTAINER, &data);
    let history = engine.history(&accepted.key, 1_000).await?;
    assert!(history.len() >= 3, "{} result events", history.len());
    for event in &history {
        if let Some(status) = event.payload.status {
            let expected = timeline_status_at(&timeline, event.payload.traced_at);
            assert_eq!(status, expected, "at {}", event.payload.traced_at);
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_engine_refuses_an_unknown_scenario_at_publish() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&clock, &dir)?;
    let err = engine
        .handle_event(&event("EMPTY", json!({ "scenario": "sometimes" })))
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("scenario"), "{message}");
    let key = JobKey {
        tenant: Tenant::new("org", "svc"),
        kind: TraceKind::Empty,
        provider_id: "sim".into(),
        container: CONTAINER.into(),
    };
    assert!(engine.get(&key).await?.is_none(), "nothing stored");
    Ok(())
}
