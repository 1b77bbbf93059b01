//! Efficiency: what the re-trace policy costs the provider and what it buys the client.
//!
//! The reference's goal is to notice changes soon while calling providers little. This
//! scenario runs the same fleet of boxes on the `sim` provider's seeded lifecycles through
//! the engine four times, on a [`ManualClock`], under the default adaptive [`Policy`] and
//! under fixed-interval polling every 15 min, 1 h and 4 h ([`Policy::fixed`], same stop
//! statuses and tracking limits). For each policy it counts provider calls per box and,
//! for every status change at the terminal after tracking started, the delay until the
//! first result event that reports it.
//!
//! The fleet: two export boxes for every empty, each with its own lifecycle anchor
//! (booking made, empty released) spread evenly at random over the first two weeks, and
//! published (tracking starts) up to 12 hours after its anchor, which is before any box
//! can gate in or be returned. The `sim` provider anchors all lifecycles at one epoch, so
//! each box gets a `SimTracer` of its own with its anchor as the epoch; seed and every
//! other setting are shared. A box's ground truth is that tracer's
//! [`SimTracer::timeline`].
//!
//! Time moves by jumps: to the next due time in the store or the next publish, whichever
//! comes first, then [`Engine::run_due`] traces what is due. Traces therefore run exactly
//! at their due times, and an event's time is the clock's time of the trace that found the
//! change. Under the adaptive policy jobs are claimed one at a time, so the engine's
//! seeded jitter is drawn in the same order on every run; fixed polling draws nothing, and
//! its jobs due at the same instant (publishes fall on quarter hours) are traced together.
//!
//! The four policies run side by side, each with its own sled store, clock and terminal.
//! A store call that does not return within [`STALL`] ends the run with an error instead
//! of a hang (sled 0.34's writer has been seen to deadlock here under heavy machine load).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use boxtrace::testing::{container, request};
use boxtrace::{
    Clock, DataError, Engine, EngineConfig, ManualClock, Policy, ProviderCredentials,
    ProviderLimits, ResultAction, SledConfig, SledStore, StaticCredentials, Status, Store, Tenant,
    TraceError, TraceKind, TraceRequest, TraceResult, Tracer, TrackingState, Workflow,
};
use boxtrace_sim::{SimConfig, SimTracer};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::export_request;
use crate::options::Options;
use crate::report::{number, Figure, Report};
use crate::stats::Samples;

/// Seeds the fleet, the `sim` lifecycles and the engine's jitter.
const SEED: u64 = 2026;
/// Longest time between a box's lifecycle anchor and its publish.
const MAX_LEAD: Duration = Duration::from_secs(12 * 3600);
/// Simulated time after the last anchor before the run gives up on jobs still active.
/// Every policy stops tracking after 30 days (`maxTrackingAge`), so this is a guard only.
const TAIL: Duration = Duration::from_secs(35 * 24 * 3600);
/// Publishes fall on quarter hours, as a client's periodic sync would send them.
const PUBLISH_GRID: Duration = Duration::from_secs(15 * 60);
/// Real time one store call may take before the run is declared stuck.
const STALL: Duration = Duration::from_secs(120);

/// One policy under test.
#[derive(Debug, Clone)]
struct Variant {
    /// Figure id segment, e.g. `fixed_1h`.
    id: &'static str,
    /// For labels, e.g. `fixed 1 h polling`.
    name: &'static str,
    policy: Policy,
}

fn variants() -> Vec<Variant> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    vec![
        Variant {
            id: "adaptive",
            name: "adaptive policy (default)",
            policy: Policy::default(),
        },
        Variant {
            id: "fixed_15m",
            name: "fixed 15 min polling",
            policy: Policy::fixed(minutes(15)),
        },
        Variant {
            id: "fixed_1h",
            name: "fixed 1 h polling",
            policy: Policy::fixed(minutes(60)),
        },
        Variant {
            id: "fixed_4h",
            name: "fixed 4 h polling",
            policy: Policy::fixed(minutes(240)),
        },
    ]
}

/// One box of the fleet.
#[derive(Debug, Clone)]
struct Case {
    request: TraceRequest,
    /// The anchor of its lifecycle (the epoch of its `SimTracer`).
    anchor: DateTime<Utc>,
    /// When its tracking starts.
    published: DateTime<Utc>,
    /// Ground truth: every status change at the terminal, in order, from the anchor on.
    timeline: Vec<(DateTime<Utc>, Status)>,
}

/// The boxes every policy traces, in publish order.
#[derive(Debug)]
struct Fleet {
    start: DateTime<Utc>,
    horizon: DateTime<Utc>,
    spread: Duration,
    cases: Vec<Case>,
}

impl Fleet {
    /// `n` boxes (two exports for every empty), anchored evenly at random over `spread`.
    fn new(n: usize, spread: Duration) -> anyhow::Result<Self> {
        let start = boxtrace::testing::t0();
        let mut rng = StdRng::seed_from_u64(SEED);
        let tenant = Tenant::new("bench-org", "bench-svc");
        let ground: Arc<dyn Clock> = Arc::new(ManualClock::new(start));
        let mut cases = Vec::with_capacity(n);
        for i in 0..n {
            let number = u32::try_from(i)?;
            let request = if i % 3 == 2 {
                request(&tenant, TraceKind::Empty, "sim", &container(number))
            } else {
                export_request(u64::from(number))
            };
            let anchor = start + seconds(rng.random_range(0..spread.as_secs().max(1)));
            let lead = rng.random_range(0..=MAX_LEAD.as_secs());
            // Publishes fall on the grid, changes at the terminal do not.
            let published = on_grid(anchor + seconds(lead));
            let timeline = sim_for(anchor, ground.clone()).timeline(
                request.key.kind,
                request.container.as_str(),
                &request.data,
            );
            anyhow::ensure!(
                !timeline.is_empty(),
                "the sim has no lifecycle for {}",
                request.container.as_str()
            );
            cases.push(Case {
                request,
                anchor,
                published,
                timeline,
            });
        }
        cases.sort_by_key(|c| c.published);
        Ok(Self {
            start,
            horizon: start + chrono::Duration::from_std(spread + TAIL)?,
            spread,
            cases,
        })
    }
}

/// The `sim` terminal for a box anchored at `anchor`.
fn sim_for(anchor: DateTime<Utc>, clock: Arc<dyn Clock>) -> SimTracer {
    SimTracer::new(
        SimConfig {
            seed: SEED,
            epoch: Some(anchor),
            ..SimConfig::default()
        },
        clock,
    )
}

/// `at` (whole seconds) if it is on the publish grid, else the next time on it.
fn on_grid(at: DateTime<Utc>) -> DateTime<Utc> {
    let grid = PUBLISH_GRID.as_secs() as i64;
    let secs = at.timestamp();
    DateTime::from_timestamp(secs + (grid - secs.rem_euclid(grid)) % grid, 0).unwrap_or(at)
}

fn seconds(s: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// The `sim` provider with one lifecycle anchor per box, counting every call, and the
/// answered ones by the status the box was in.
#[derive(Debug)]
struct Terminal {
    sims: HashMap<String, SimTracer>,
    calls: AtomicU64,
    by_status: Mutex<HashMap<(TraceKind, Status), u64>>,
}

impl Terminal {
    fn new(fleet: &Fleet, clock: &Arc<dyn Clock>) -> Self {
        Self {
            sims: fleet
                .cases
                .iter()
                .map(|c| {
                    (
                        c.request.container.as_str().to_owned(),
                        sim_for(c.anchor, clock.clone()),
                    )
                })
                .collect(),
            calls: AtomicU64::new(0),
            by_status: Mutex::new(HashMap::new()),
        }
    }

    fn by_status(&self) -> HashMap<(TraceKind, Status), u64> {
        self.by_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Tracer for Terminal {
    fn id(&self) -> &str {
        "sim"
    }
    fn workflow(&self) -> Workflow {
        Workflow::RealTime
    }
    fn limits(&self) -> ProviderLimits {
        SimConfig::default().effective_limits()
    }
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        match self.sims.values().next() {
            Some(sim) => sim.validate(kind, data),
            None => Ok(()),
        }
    }
    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        let Some(sim) = self.sims.get(request.container.as_str()) else {
            return Err(TraceError::transient("a box outside the fleet"));
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = sim.trace(request, credentials).await;
        let status = match &answer {
            Ok(result) => Some(result.status),
            Err(TraceError::NotFound) => Some(Status::NotFound),
            Err(_) => None,
        };
        if let Some(status) = status {
            *self
                .by_status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((request.key.kind, status))
                .or_default() += 1;
        }
        answer
    }
}

/// What a client heard, for scoring: the time, status and tracking state of each result
/// event, oldest first.
type Heard = (DateTime<Utc>, Option<Status>, TrackingState);

/// How the changes of one box fared.
#[derive(Debug, Default, Clone)]
struct Score {
    /// Changes after tracking started.
    changes: usize,
    /// Reported by a result event while the status held; the delays.
    delays: Vec<(Status, Duration)>,
    /// Came and went between two traces while the box was tracked: never reported.
    missed: Vec<Status>,
    /// After tracking completed at a stop status (e.g. `DEPARTED` after `LOADED`).
    after_completion: usize,
    /// After tracking stopped otherwise (expired).
    after_expiry: usize,
    /// After the last trace of a job still active when the run ended.
    unobserved: usize,
}

impl Score {
    fn add(&mut self, other: Score) {
        self.changes += other.changes;
        self.delays.extend(other.delays);
        self.missed.extend(other.missed);
        self.after_completion += other.after_completion;
        self.after_expiry += other.after_expiry;
        self.unobserved += other.unobserved;
    }
}

/// Scores one box: each change of `timeline` after `published` is detected by the first
/// event, at or after the change and before the next one, that reports its status.
/// `last_trace` is the job's last trace.
fn score(
    timeline: &[(DateTime<Utc>, Status)],
    published: DateTime<Utc>,
    heard: &[Heard],
    last_trace: Option<DateTime<Utc>>,
) -> Score {
    let mut score = Score::default();
    let stopped = heard
        .iter()
        .find(|(_, _, state)| !state.is_active())
        .map(|(at, _, state)| (*at, *state));
    for (k, &(at, status)) in timeline.iter().enumerate() {
        if at <= published {
            continue;
        }
        score.changes += 1;
        let until = timeline.get(k + 1).map(|(next, _)| *next);
        let reported = heard.iter().find(|(when, seen, _)| {
            *when >= at && until.is_none_or(|u| *when < u) && *seen == Some(status)
        });
        match (reported, stopped) {
            (Some((when, _, _)), _) => score
                .delays
                .push((status, (*when - at).to_std().unwrap_or_default())),
            (None, Some((end, state))) if end <= at => {
                if state == TrackingState::Completed {
                    score.after_completion += 1;
                } else {
                    score.after_expiry += 1;
                }
            }
            (None, None) if last_trace.is_none_or(|l| l < at) => score.unobserved += 1,
            (None, _) => score.missed.push(status),
        }
    }
    score
}

/// One policy's run over the fleet.
#[derive(Debug)]
struct Outcome {
    calls: u64,
    calls_by: HashMap<(TraceKind, Status), u64>,
    score: Score,
    /// Jobs still active when the run ended (the horizon).
    active_at_end: usize,
    /// The clock's time at the last trace.
    last_trace: DateTime<Utc>,
    wall: Duration,
}

impl Outcome {
    fn per_box(&self, boxes: usize) -> f64 {
        self.calls as f64 / boxes.max(1) as f64
    }

    fn delays(&self) -> Samples {
        let mut samples = Samples::with_capacity(self.score.delays.len());
        for (_, d) in &self.score.delays {
            samples.push(*d);
        }
        samples
    }

    fn delay_min(&self, q: f64) -> f64 {
        if self.score.delays.is_empty() {
            return f64::NAN;
        }
        minutes(self.delays().quantile(q))
    }
}

fn minutes(d: Duration) -> f64 {
    d.as_secs_f64() / 60.0
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
async fn simulate(
    fleet: Arc<Fleet>,
    variant: Variant,
    dir: &std::path::Path,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let clock = ManualClock::new(fleet.start);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let terminal = Arc::new(Terminal::new(&fleet, &shared));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&SledConfig::new(dir))?);
    // A policy that draws jitter draws it as traces commit: one job at a time keeps the
    // draws in the same order on every run. Without jitter, jobs due together are traced
    // together, as the dispatcher does.
    let claim_batch = if variant.policy.interval_jitter > 0.0 {
        1
    } else {
        EngineConfig::default().claim_batch
    };
    let engine = Engine::builder()
        .shared_store(store.clone())
        .shared_provider(terminal.clone())
        .shared_clock(shared)
        .credentials(StaticCredentials::new())
        .policy(variant.policy.clone())
        .config(EngineConfig {
            claim_batch,
            ..EngineConfig::default()
        })
        .seed(SEED)
        .build()?;
    match drive(&fleet, &engine, &clock, variant.id).await {
        Ok(last_trace) => {
            let outcome = collect(&fleet, &engine, &terminal, last_trace, variant.id).await?;
            Ok(Outcome {
                wall: started.elapsed(),
                ..outcome
            })
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
/// from one to the next. Returns the clock's time at the last trace.
async fn drive(
    fleet: &Fleet,
    engine: &Engine,
    clock: &ManualClock,
    id: &str,
) -> anyhow::Result<DateTime<Utc>> {
    let store = engine.store();
    let mut next = 0;
    let mut last_trace = fleet.start;
    let mut idle_steps = 0u32;
    loop {
        let due = watched("next_due", store.next_due()).await?;
        let publish = fleet.cases.get(next).map(|c| c.published);
        let Some(at) = [due, publish].into_iter().flatten().min() else {
            return Ok(last_trace);
        };
        if at > fleet.horizon {
            return Ok(last_trace);
        }
        clock.set(at);
        let mut published = 0;
        while let Some(case) = fleet.cases.get(next).filter(|c| c.published <= at) {
            watched("publish", engine.publish(case.request.clone())).await?;
            next += 1;
            published += 1;
        }
        let traced = watched("run_due", engine.run_due()).await?;
        if traced > 0 {
            last_trace = clock.now();
            idle_steps = 0;
        } else if published == 0 {
            idle_steps += 1;
            anyhow::ensure!(
                idle_steps < 1_000,
                "{id}: the store keeps reporting {at} as due but nothing is claimed"
            );
        }
    }
}

/// Scores every box from its job's history, and counts the calls.
async fn collect(
    fleet: &Fleet,
    engine: &Engine,
    terminal: &Terminal,
    last_trace: DateTime<Utc>,
    id: &str,
) -> anyhow::Result<Outcome> {
    let mut total = Score::default();
    let mut active_at_end = 0;
    for case in &fleet.cases {
        let key = &case.request.key;
        let job = watched("get", engine.get(key)).await?;
        if job.as_ref().is_some_and(|job| job.state.is_active()) {
            active_at_end += 1;
        }
        let heard: Vec<Heard> = watched("history", engine.history(key, usize::MAX))
            .await?
            .into_iter()
            .filter(|e| e.action == ResultAction::TraceResult)
            .map(|e| (e.created_at, e.payload.status, e.payload.tracking_state))
            .collect();
        let last_trace = job.and_then(|job| job.last_traced_at);
        total.add(score(&case.timeline, case.published, &heard, last_trace));
    }
    let calls_by = terminal.by_status();
    let calls = terminal.calls.load(Ordering::Relaxed);
    anyhow::ensure!(
        calls == engine.metrics().traces_total(),
        "{id}: {calls} calls counted, the engine counted {} traces",
        engine.metrics().traces_total()
    );
    Ok(Outcome {
        calls,
        calls_by,
        score: total,
        active_at_end,
        last_trace,
        wall: Duration::ZERO,
    })
}

/// Runs the scenario.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let (boxes, spread) = if options.quick {
        (15, Duration::from_secs(2 * 24 * 3600))
    } else {
        (1_500, Duration::from_secs(14 * 24 * 3600))
    };
    let fleet = Arc::new(Fleet::new(boxes, spread)?);
    let variants = variants();

    // The policies run side by side, each with its own store, clock and terminal.
    let mut dirs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, variant) in variants.iter().enumerate() {
        let dir = options.scratch(&format!("efficiency-{}", variant.id))?;
        let path = dir.path().to_owned();
        dirs.push(dir);
        let fleet = fleet.clone();
        let variant = variant.clone();
        tasks.spawn(async move { (i, simulate(fleet, variant, &path).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = variants.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, outcome) = done?;
        outcomes[i] = Some(outcome?);
    }
    drop(dirs);
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    anyhow::ensure!(outcomes.len() == variants.len(), "a policy did not report");

    let mut report = Report::default();
    let by_id = |id: &str| {
        variants
            .iter()
            .position(|v| v.id == id)
            .and_then(|i| outcomes.get(i))
    };
    let hourly = by_id("fixed_1h").map(|o| o.per_box(boxes));
    let quarter = by_id("fixed_15m");
    for (variant, outcome) in variants.iter().zip(&outcomes) {
        let adaptive = variant.id == "adaptive";
        let mut calls = Figure::new(
            format!("efficiency/{}/calls_per_container", variant.id),
            format!("{}: provider calls per container", variant.name),
            outcome.per_box(boxes),
            "calls",
        );
        if let (true, Some(hourly)) = (adaptive, hourly) {
            calls = calls
                .baseline("fixed 1 h polling", hourly)
                .target("ratio ≤ 0.33");
        }
        report.push(calls);
        for (q, name) in [(0.5, "p50"), (0.95, "p95")] {
            let mut figure = Figure::new(
                format!("efficiency/{}/delay_{name}_min", variant.id),
                format!(
                    "{}: delay from a status change at the terminal to its result event, {name}",
                    variant.name
                ),
                outcome.delay_min(q),
                "min",
            );
            if let (true, Some(quarter)) = (adaptive, quarter) {
                figure = figure
                    .baseline("fixed 15 min polling", quarter.delay_min(q))
                    .target("ratio ≈ 1 (no worse)");
            }
            report.push(figure);
        }
        report.push(Figure::new(
            format!("efficiency/{}/missed_changes", variant.id),
            format!(
                "{}: changes while tracked that no result event reported (came and went between two traces)",
                variant.name
            ),
            outcome.score.missed.len() as f64,
            "changes",
        ));
    }

    let exports = fleet
        .cases
        .iter()
        .filter(|c| c.request.key.kind == TraceKind::Export)
        .count();
    let changes = outcomes.first().map_or(0, |o| o.score.changes);
    let last_trace = outcomes
        .iter()
        .map(|o| o.last_trace)
        .max()
        .unwrap_or(fleet.start);
    report.note(format!(
        "efficiency: {boxes} containers on the `sim` provider (seed {SEED}; {exports} export, {} empty; \
         standard lifecycles, about a third of exports meet a hold), the same boxes and lifecycles for every policy. \
         Lifecycle anchors spread evenly at random over {} days from {}; each box is published {} h or less after its anchor \
         (on a quarter hour), before it can gate in or be returned. Simulated until every job stopped: last trace {} ({:.1} days after the start; \
         horizon {} days). Engine seed {SEED}, sled store, ManualClock jumped to each due time (traces run exactly when due).",
        boxes - exports,
        fleet.spread.as_secs() / 86_400,
        fleet.start.format("%Y-%m-%d %H:%M"),
        MAX_LEAD.as_secs() / 3600,
        last_trace.format("%Y-%m-%d %H:%M"),
        (last_trace - fleet.start).num_minutes() as f64 / 1440.0,
        (fleet.horizon - fleet.start).num_days(),
    ));
    report.note(format!(
        "efficiency: delay = time of the first result event (the engine's event time under the manual clock) that reports \
         a status change at the terminal (`SimTracer::timeline`), minus the time of the change; an event counts if it \
         comes while that status still holds. {changes} changes happened after their box's publish. Changes after \
         tracking completed (DEPARTED after LOADED stops tracking) are not delays and are listed per policy below. \
         Web-hook delivery adds milliseconds on top (scenario webhooks). Calls include every provider call (first trace, \
         re-traces, not found)."
    ));
    for (variant, outcome) in variants.iter().zip(&outcomes) {
        report.note(breakdown(variant, outcome, &fleet));
    }
    report.note(format!(
        "efficiency: wall time {:.1} s for the four policies side by side ({})",
        started.elapsed().as_secs_f64(),
        variants
            .iter()
            .zip(&outcomes)
            .map(|(v, o)| format!("{} {:.1} s", v.id, o.wall.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(report)
}

/// Where a policy's calls and delays come from: calls per box by the status the box was
/// in, delay quantiles by the status changed to, and what was never reported.
fn breakdown(variant: &Variant, outcome: &Outcome, fleet: &Fleet) -> String {
    let calls = [TraceKind::Export, TraceKind::Empty]
        .into_iter()
        .map(|kind| {
            let boxes = fleet
                .cases
                .iter()
                .filter(|c| c.request.key.kind == kind)
                .count()
                .max(1) as f64;
            let mut by: Vec<(Status, u64)> = outcome
                .calls_by
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, status), n)| (*status, *n))
                .collect();
            by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
            let total: u64 = by.iter().map(|(_, n)| n).sum();
            let parts = by
                .iter()
                .map(|(status, n)| format!("{} {}", status.as_str(), number(*n as f64 / boxes)))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "per {} box {} ({parts})",
                kind.as_str().to_ascii_lowercase(),
                number(total as f64 / boxes)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut by_status: BTreeMap<&'static str, Samples> = BTreeMap::new();
    for (status, d) in &outcome.score.delays {
        by_status.entry(status.as_str()).or_default().push(*d);
    }
    let delays = by_status
        .iter_mut()
        .map(|(status, samples)| {
            format!(
                "{status} {} / {} min (n={})",
                number(minutes(samples.quantile(0.5))),
                number(minutes(samples.quantile(0.95))),
                samples.len()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut missed: BTreeMap<&'static str, usize> = BTreeMap::new();
    for status in &outcome.score.missed {
        *missed.entry(status.as_str()).or_default() += 1;
    }
    let missed = if missed.is_empty() {
        "none".to_owned()
    } else {
        missed
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let s = &outcome.score;
    format!(
        "efficiency/{}: calls by the box's status at the call: {calls}. Delay p50 / p95 by status changed to: {delays}. \
         Of {} changes: {} reported, missed {missed}, {} after tracking completed, {} after tracking expired, \
         {} after the last trace of a job still active; {} jobs active at the end.",
        variant.id,
        s.changes,
        s.delays.len(),
        s.after_completion,
        s.after_expiry,
        s.unobserved,
        outcome.active_at_end,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        boxtrace::testing::t0() + chrono::Duration::minutes(minutes)
    }

    #[test]
    fn changes_are_scored_by_the_first_event_while_the_status_holds() {
        let timeline = [
            (t(0), Status::BookingNotFound),
            (t(60), Status::Expected),
            (t(600), Status::GatedIn),
            (t(700), Status::OnHold),
            (t(800), Status::GatedIn),
            (t(2000), Status::Loaded),
            (t(2300), Status::Departed),
        ];
        let active = TrackingState::Active;
        let heard = [
            (t(10), Some(Status::BookingNotFound), active),
            (t(70), Some(Status::Expected), active),
            (t(640), Some(Status::GatedIn), active),
            // The hold came and went between two traces.
            (t(2015), Some(Status::Loaded), TrackingState::Completed),
        ];
        let s = score(&timeline, t(10), &heard, Some(t(2015)));
        assert_eq!(s.changes, 6);
        let delays: Vec<_> = s
            .delays
            .iter()
            .map(|(st, d)| (*st, d.as_secs() / 60))
            .collect();
        assert_eq!(
            delays,
            [
                (Status::Expected, 10),
                (Status::GatedIn, 40),
                (Status::Loaded, 15)
            ]
        );
        assert_eq!(s.missed, [Status::OnHold, Status::GatedIn]);
        assert_eq!(s.after_completion, 1);
        assert_eq!((s.after_expiry, s.unobserved), (0, 0));

        // Published after the booking opened: that change is before tracking.
        let s = score(&timeline, t(65), &heard[1..], Some(t(2015)));
        assert_eq!(s.changes, 5);
        // Still tracked when the run ended, last trace before the loading.
        let s = score(&timeline, t(10), &heard[..3], Some(t(1900)));
        assert_eq!((s.unobserved, s.after_completion), (2, 0));
    }

    #[tokio::test]
    async fn quick_run_measures_every_policy() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let report = run(&Options::quick(dir.path())).await?;
        let value = |id: &str| {
            report
                .figures
                .iter()
                .find(|f| f.id == id)
                .map(|f| f.value)
                .ok_or_else(|| anyhow::anyhow!("no figure {id}"))
        };
        for id in ["adaptive", "fixed_15m", "fixed_1h", "fixed_4h"] {
            for figure in [
                "calls_per_container",
                "delay_p50_min",
                "delay_p95_min",
                "missed_changes",
            ] {
                assert!(value(&format!("efficiency/{id}/{figure}"))?.is_finite());
            }
        }
        let calls = |id: &str| value(&format!("efficiency/{id}/calls_per_container"));
        assert!(calls("fixed_15m")? > calls("fixed_1h")?);
        assert!(calls("fixed_1h")? > calls("fixed_4h")?);
        assert!(value("efficiency/fixed_15m/delay_p95_min")? <= 15.0);
        assert!(value("efficiency/fixed_1h/delay_p95_min")? <= 60.0);
        assert_eq!(value("efficiency/fixed_15m/missed_changes")?, 0.0);
        Ok(())
    }
}
