//! Shared set-up: an engine on a temporary sled store with a scripted tracer and a
//! manual clock.

use boxtrace::testing::{t0, ScriptedTracer};
use boxtrace::{Engine, EngineConfig, ManualClock, Policy, SledStore, StaticCredentials};
use tempfile::TempDir;

pub struct Harness {
    pub engine: Engine,
    pub tracer: ScriptedTracer,
    pub clock: ManualClock,
    /// Kept so the store's directory outlives the engine.
    pub _dir: TempDir,
}

pub fn harness() -> Harness {
    harness_with(ScriptedTracer::new("scripted"), Policy::default())
}

pub fn harness_with(tracer: ScriptedTracer, policy: Policy) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(t0());
    let engine = engine_on(&dir, &tracer, &clock, policy);
    Harness {
        engine,
        tracer,
        clock,
        _dir: dir,
    }
}

pub fn engine_on(
    dir: &TempDir,
    tracer: &ScriptedTracer,
    clock: &ManualClock,
    policy: Policy,
) -> Engine {
    Engine::builder()
        .store(SledStore::open_path(dir.path()).expect("open sled"))
        .provider(tracer.clone())
        .credentials(StaticCredentials::new())
        .clock(clock.clone())
        .policy(policy)
        .config(EngineConfig {
            lease: std::time::Duration::from_secs(60),
            ..EngineConfig::default()
        })
        .seed(7)
        .build()
        .expect("engine builds")
}

/// An event body for `action` on `container` at the scripted provider.
pub fn event(org: &str, action: &str, container: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "orgId": org,
        "svcId": "svc-1",
        "type": "CONTAINER",
        "action": action,
        "origin": "test",
        "payload": { "id": container, "providerId": "scripted", "data": data }
    }))
    .expect("serializable")
}

pub fn export(container: &str) -> Vec<u8> {
    event(
        "org-a",
        "TRACE_EXPORT_REQUESTED",
        container,
        serde_json::json!({"bookingNumber": "BKG1"}),
    )
}

/// Polls `check` every 10 ms until it gives `Some`, and returns what it gave; panics,
/// saying `what` was awaited, after `within` of real time. A check that needs the manual
/// clock moved on moves it itself, before it looks.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(done) = check().await {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
