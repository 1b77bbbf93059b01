//! One policy's run over the fleet: its own sled store, manual clock and terminal; the
//! clock jumps to each due time or publish and the engine traces what is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::{
    Clock, Engine, EngineConfig, ManualClock, Policy, ResultAction, SledConfig, SledStore,
    StaticCredentials, Store,
};

use super::score::{Heard, Score};
use super::world::World;

/// Real time one store call may take before the run is declared stuck.
const STALL: Duration = Duration::from_secs(120);

/// One policy under test.
#[derive(Debug, Clone)]
pub(super) struct Variant {
    /// As the JSON names it, e.g. `fixed-15m`.
    pub(super) name: String,
    /// For labels, e.g. `fixed 15 min polling`.
    pub(super) label: String,
    pub(super) policy: Policy,
    /// Containers per request and how far ahead requests take jobs.
    pub(super) batch: (usize, Duration),
}

/// What one policy's run measured.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) requests: u64,
    pub(super) visit_lookups: u64,
    pub(super) traces: u64,
    pub(super) score: Score,
    pub(super) active_at_end: usize,
    pub(super) wall: Duration,
}

/// The run stopped making progress: a store call did not come back within [`STALL`].
#[derive(Debug)]
struct Stalled(String);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stalled {}

/// `call`, or [`Stalled`] if it takes longer than [`STALL`] of real time.
async fn watched<T, E>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(STALL, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Stalled(format!(
            "{what} did not return within {STALL:?}: the sled store stopped answering \
             (sled 0.34's writer can deadlock on its own I/O thread pool, upstream issue #1412)"
        ))
        .into()),
    }
}

/// Traces the fleet under one policy, from the first publish until every job stopped
/// (or the horizon).
pub(super) async fn simulate(
    world: Arc<World>,
    variant: Variant,
    seed: u64,
    dir: &std::path::Path,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let clock = ManualClock::new(world.start);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let terminal = world.terminal(shared.clone(), variant.batch.0);
    let limits = terminal
        .tracer()
        .limits()
        .with_batch(variant.batch.0, variant.batch.1);
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&SledConfig::new(dir))?);
    let engine = Engine::builder()
        .shared_store(store.clone())
        .shared_provider(terminal.tracer())
        .provider_limits("sim", limits)
        .shared_clock(shared)
        .credentials(StaticCredentials::new())
        .policy(variant.policy.clone())
        .config(EngineConfig::default())
        .seed(seed)
        .build()?;
    match drive(&world, &engine, &clock, &variant.name).await {
        Ok(()) => {
            let mut outcome = collect(&world, &engine).await?;
            outcome.requests = terminal.requests();
            outcome.visit_lookups = terminal.visit_lookups();
            outcome.wall = started.elapsed();
            Ok(outcome)
        }
        Err(e) => {
            if e.is::<Stalled>() {
                // Dropping the last handle of a sled store joins its writer thread, which
                // would hang with it: leave both behind so that the error gets out.
                std::mem::forget(engine);
                std::mem::forget(store);
            }
            Err(e)
        }
    }
}

/// Publishes each box at its time and runs every trace at its due time, jumping the clock
/// from one to the next, until nothing is due before the horizon.
async fn drive(
    world: &World,
    engine: &Engine,
    clock: &ManualClock,
    name: &str,
) -> anyhow::Result<()> {
    let store = engine.jobs();
    let mut next = 0;
    let mut idle_steps = 0u32;
    loop {
        let due = watched("next_due", store.next_due()).await?;
        let publish = world.cases.get(next).map(|c| c.published);
        let Some(at) = [due, publish].into_iter().flatten().min() else {
            return Ok(());
        };
        if at > world.horizon {
            return Ok(());
        }
        clock.set(at);
        let mut published = 0;
        while let Some(case) = world.cases.get(next).filter(|c| c.published <= at) {
            watched("publish", engine.publish(case.request.clone())).await?;
            next += 1;
            published += 1;
        }
        let traced = watched("run_due", engine.run_due()).await?;
        if traced > 0 {
            idle_steps = 0;
        } else if published == 0 {
            idle_steps += 1;
            anyhow::ensure!(
                idle_steps < 1_000,
                "{name}: the store keeps reporting {at} as due but nothing is claimed"
            );
        }
    }
}

/// Scores every box from its job's history.
async fn collect(world: &World, engine: &Engine) -> anyhow::Result<Outcome> {
    let mut score = Score::default();
    let mut active_at_end = 0;
    for case in &world.cases {
        let key = &case.request.key;
        let job = watched("get", engine.get(key)).await?;
        if job.as_ref().is_some_and(|job| job.state.is_active()) {
            active_at_end += 1;
        }
        let heard: Vec<Heard> = watched("history", engine.history(key, usize::MAX))
            .await?
            .into_iter()
            .filter(|e| e.action == ResultAction::TraceResult)
            .map(|e| Heard {
                at: e.created_at,
                status: e.payload.status,
                visit: e
                    .payload
                    .result
                    .as_ref()
                    .and_then(|r| r.visit.as_ref())
                    .map(|v| v.id.clone()),
                state: e.payload.tracking_state,
            })
            .collect();
        let last = job.and_then(|job| job.last_traced_at);
        score.add(&case.milestones, case.published, &heard, last);
    }
    Ok(Outcome {
        requests: 0,
        visit_lookups: 0,
        traces: engine.metrics().traces_total(),
        score,
        active_at_end,
        wall: Duration::ZERO,
    })
}
