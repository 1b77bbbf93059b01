//! Retention run by the engine: finished jobs go once the clock passes their retention
//! period; active ones stay; `None` keeps everything.

use std::time::Duration;

use boxtrace::testing::ScriptedTracer;
use boxtrace::{
    Engine, EngineConfig, JobKey, ManualClock, SledStore, StaticCredentials, Tenant, TraceKind,
    TrackingState,
};
use tempfile::TempDir;

use crate::support::{event, eventually, export};

const DONE: &str = "CSQU3054383";
const ACTIVE: &str = "MSKU0000006";

const DAY: Duration = Duration::from_secs(24 * 3600);

fn engine(dir: &TempDir, clock: &ManualClock, retention: Option<Duration>) -> Engine {
    Engine::builder()
        .store(SledStore::open_path(dir.path()).expect("open sled"))
        .provider(ScriptedTracer::new("scripted"))
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .config(EngineConfig::default())
        .retention(retention)
        .seed(7)
        .build()
        .expect("engine builds")
}

fn key(container: &str) -> JobKey {
    JobKey {
        tenant: Tenant::new("org-a", "svc-1"),
        kind: TraceKind::Export,
        provider_id: "scripted".into(),
        container: container.into(),
    }
}

/// Publishes both boxes and cancels DONE, which finishes at the clock's now.
async fn finish_one_of_two(engine: &Engine) {
    engine.handle_event(&export(DONE)).await.unwrap();
    engine.handle_event(&export(ACTIVE)).await.unwrap();
    engine
        .handle_event(&event(
            "org-a",
            "TRACE_EXPORT_CANCELLED",
            DONE,
            serde_json::json!({}),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_engine_removes_finished_jobs_once_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(boxtrace::testing::t0());
    let engine = engine(&dir, &clock, Some(DAY));
    finish_one_of_two(&engine).await;

    clock.advance(chrono::Duration::hours(23));
    assert_eq!(
        engine.sweep_retention().await.unwrap(),
        0,
        "within retention"
    );
    assert!(engine.get(&key(DONE)).await.unwrap().is_some());

    let running = engine.start();
    clock.advance(chrono::Duration::hours(2));
    // The dispatcher's sweep runs at start and every 5 minutes of clock time.
    let (engine, clock) = (&engine, &clock);
    eventually(
        Duration::from_secs(30),
        "the sweep removing a job finished 25 h ago with a retention of 24 h",
        move || {
            clock.advance(chrono::Duration::minutes(5));
            async move {
                engine
                    .get(&key(DONE))
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            }
        },
    )
    .await;
    assert!(engine.history(&key(DONE), 10).await.unwrap().is_empty());
    let active = engine
        .get(&key(ACTIVE))
        .await
        .unwrap()
        .expect("an active job stays");
    assert_eq!(active.state, TrackingState::Active);
    running.shutdown().await;
}

#[tokio::test]
async fn retention_off_keeps_every_finished_job() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(boxtrace::testing::t0());
    let engine = engine(&dir, &clock, None);
    finish_one_of_two(&engine).await;
    assert_eq!(engine.sweep_retention().await.unwrap(), 0);

    let running = engine.start();
    clock.advance(chrono::Duration::days(400));
    // With retention on, a sweep would run at start and every 5 minutes of clock time:
    // let ten of them pass, and the dispatcher trace the active job, so that the engine
    // has surely run meanwhile.
    let (engine, clock) = (&engine, &clock);
    let mut sweeps = 0;
    eventually(
        Duration::from_secs(30),
        "ten sweep periods and a trace of the active job",
        move || {
            clock.advance(chrono::Duration::minutes(5));
            sweeps += 1;
            let ten = sweeps >= 10;
            async move {
                let active = engine.get(&key(ACTIVE)).await.unwrap().expect("active");
                (ten && active.trace_count > 0).then_some(())
            }
        },
    )
    .await;
    assert!(
        engine.get(&key(DONE)).await.unwrap().is_some(),
        "a job finished 400 days ago is kept with retention off"
    );
    running.shutdown().await;
}

#[test]
fn zero_retention_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::builder()
        .store(SledStore::open_path(dir.path()).unwrap())
        .provider(ScriptedTracer::new("scripted"))
        .retention(Some(Duration::ZERO))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("off"), "{err}");
}
