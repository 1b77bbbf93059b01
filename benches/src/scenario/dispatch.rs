//! Dispatch: traces per second the engine sustains on sled with the `sim` provider at
//! zero latency, at several job counts, and the time to find the next due batch at each.
//!
//! The workload is the "N jobs that each re-schedule themselves after running":
//! a fixed policy with a zero interval and no stop status, so every job is due again as
//! soon as it is traced and the dispatcher never waits for work. Two phases per size:
//! the first trace of every job (each result is new, so each commit writes the job's body
//! and schedule record, its due key, a history entry, a results-feed key and an outbox
//! entry, and is flushed before it returns), then re-traces that find nothing new (the
//! schedule record and the due key only).
//!
//! The first traces stand beside a baseline measured in the same run, after the engine
//! has stopped: for as many jobs, four of the writes of each first trace (the job body,
//! the schedule record, the due key, a history entry) with bare sled by one writer, and
//! nothing else: no claim, no results-feed key, no outbox entry
//! (`crate::baseline::sled_traces` lists what it leaves out). The disk used by the data
//! directory is reported per active job twice: at rest after the load, and at its peak
//! while dispatching (sampled every second).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use boxtrace::{Clock, Engine, EngineConfig, Policy, SledConfig, SledStore, Store, SystemClock};
use boxtrace_sim::{SimConfig, SimTracer};

use crate::baseline::sled_traces;
use crate::disk;
use crate::options::{count_label, Options};
use crate::report::{Figure, Report};
use crate::stats::{ms, Samples};
use crate::{export_request, rss_mib};

/// Publishes in flight while loading jobs.
const LOAD_CONCURRENCY: usize = 512;
/// Jobs per claim, as the engine's default `claimBatch`.
const CLAIM_BATCH: usize = 256;

/// Runs the scenario at every size.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let sizes = options.jobs_or(&[2_000], &[10_000, 1_000_000]);
    let window = options.window_or(Duration::from_secs(1), Duration::from_secs(15));
    // The bare-sled rate of each size, measured in the lazy pass, stands beside the first
    // traces of both passes.
    let mut baselines = std::collections::HashMap::new();
    for durable in [false, true] {
        for &n in &sizes {
            if durable && n > 1_000_000 {
                // Loading that many again only repeats the lazy run's story at great length.
                report.note(format!(
                    "dispatch at {}: measured with lazy reschedules only",
                    count_label(n)
                ));
                continue;
            }
            report.extend(measure(options, n, window, durable, Some(&mut baselines)).await?);
        }
    }
    Ok(report)
}

/// A policy under which every job is due again the moment it is traced, for ever.
pub fn saturating_policy() -> Policy {
    let mut policy = Policy::fixed(Duration::ZERO);
    policy.stop_on.clear();
    policy.max_tracking_age = Duration::from_secs(365 * 24 * 3600);
    policy
}

/// How long the first traces of `n` jobs may take before the rest is left untraced: long
/// enough for 1M jobs at the rates measured here (7k–10k/s), and at most five minutes.
/// 10M jobs would take about half an hour; their first-trace rate is measured over the
/// five minutes, and their re-traces are not measured.
fn first_traces_limit(n: u64, window: Duration) -> Duration {
    Duration::from_secs(n / 4_000)
        .min(Duration::from_secs(300))
        .max(window * 8)
}

/// Loads `n` jobs due at `due(i)` into `store`, `LOAD_CONCURRENCY` publishes in flight
/// (the writer group-commits them). Returns the time it took.
pub async fn load_jobs(
    store: &Arc<dyn Store>,
    n: u64,
    due: impl Fn(u64) -> chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if tasks.len() >= LOAD_CONCURRENCY {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let store = store.clone();
        let at = due(i);
        tasks.spawn(async move {
            store
                .publish(export_request(i), true, at)
                .await
                .map(drop)
                .context("publish")
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

/// Times `claim_due` of one batch, `rounds` times, on a store whose jobs are all due.
/// The lease ends at once, so claimed jobs stay due and the store keeps its size.
pub async fn claim_latency(store: &Arc<dyn Store>, rounds: usize) -> anyhow::Result<Samples> {
    let mut samples = Samples::with_capacity(rounds);
    for _ in 0..rounds {
        let now = SystemClock.now();
        let started = Instant::now();
        let claimed = store.claim_due(now, CLAIM_BATCH, now).await?;
        samples.push(started.elapsed());
        anyhow::ensure!(!claimed.is_empty(), "no due job found to claim");
    }
    Ok(samples)
}

/// Measures one size: bulk load, claim latency (lazy mode only), first traces and
/// re-traces, disk use. With `baselines`, also the bare-sled baseline of the first traces
/// (measured in lazy mode, kept by size for the durable pass). Figure ids are
/// `dispatch/<size>/<lazy|durable>/retraces_per_s` and so on.
pub async fn measure(
    options: &Options,
    n: u64,
    window: Duration,
    durable: bool,
    mut baselines: Option<&mut std::collections::HashMap<u64, f64>>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let size = count_label(n);
    // Figures with another cache than the default say so, in their ids and their text.
    let (id, sled) = match options.cache_mib {
        Some(mib) => (
            format!("{size}/cache{mib}MiB"),
            format!("sled ({mib} MiB cache)"),
        ),
        None => (size.clone(), "sled".to_owned()),
    };
    let mode = if durable {
        "every commit fsync'd"
    } else {
        "unchanged reschedules flushed lazily"
    };
    let tag = if durable { "durable" } else { "lazy" };
    let dir = options.scratch(&format!("dispatch-{size}"))?;
    let defaults = SledConfig::new(dir.path());
    let config = SledConfig {
        durable_reschedules: durable,
        cache_capacity: options
            .cache_mib
            .map_or(defaults.cache_capacity, |mib| mib * 1024 * 1024),
        ..defaults
    };
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&config)?);
    let start = SystemClock.now();
    let loaded = load_jobs(&store, n, |_| start).await?;
    store.flush().await?;
    let at_rest = disk::usage(dir.path());
    if !durable {
        report.push(Figure::new(
            format!("dispatch/{id}/disk_per_job_loaded"),
            format!("{sled}: disk used per active job after loading {size} jobs (du of the data directory ÷ jobs)"),
            at_rest as f64 / n as f64,
            "bytes/job",
        ));
        report.push(Figure::new(
            format!("dispatch/{id}/load_per_s"),
            format!("{sled}: bulk publish of {size} jobs (durable, group commit)"),
            n as f64 / loaded.as_secs_f64(),
            "jobs/s",
        ));
        report.push(Figure::new(
            format!("dispatch/{id}/rss_after_load"),
            format!("{sled}: resident memory after loading {size} jobs (whole harness)"),
            rss_mib().unwrap_or(f64::NAN),
            "MiB",
        ));
        let mut lookups = Samples::with_capacity(1_000);
        for _ in 0..1_000 {
            let started = Instant::now();
            store.next_due().await?;
            lookups.push(started.elapsed());
        }
        report.push(Figure::new(
            format!("dispatch/{id}/next_due_p50"),
            format!("{sled}: find the earliest due job at {size} (due-index lookup), p50"),
            lookups.quantile(0.5).as_secs_f64() * 1e6,
            "µs",
        ));
        let rounds = if options.quick { 20 } else { 400 };
        let mut claims = claim_latency(&store, rounds).await?;
        report.push(Figure::new(
            format!("dispatch/{id}/claim_p50"),
            format!("{sled}: claim the next {CLAIM_BATCH} due jobs at {size}, p50"),
            ms(claims.quantile(0.5)),
            "ms",
        ));
        report.push(Figure::new(
            format!("dispatch/{id}/claim_p99"),
            format!("{sled}: claim the next {CLAIM_BATCH} due jobs at {size}, p99"),
            ms(claims.quantile(0.99)),
            "ms",
        ));
    }

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sim = SimTracer::new(
        SimConfig {
            epoch: Some(start - chrono::Duration::days(3)),
            ..SimConfig::default()
        },
        clock.clone(),
    );
    let engine = Engine::builder()
        .shared_store(store.clone())
        .provider(sim)
        .policy(saturating_policy())
        .shared_clock(clock)
        .config(EngineConfig {
            claim_batch: CLAIM_BATCH,
            max_in_flight: 1024,
            ..EngineConfig::default()
        })
        .build()?;
    let sampler = disk::PeakSampler::start(dir.path(), Duration::from_secs(1));
    let running = engine.start();

    // First traces: every result is new. Sizes whose first traces take longer than
    // `first_limit` are measured over that time only, and their re-traces not at all.
    let first_started = Instant::now();
    let first_limit = first_traces_limit(n, window);
    while engine.metrics().traces_total() < n && first_started.elapsed() < first_limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = engine.metrics().traces_total();
    let first_elapsed = first_started.elapsed();
    let first_traces = Figure::new(
        format!("dispatch/{id}/{tag}/first_traces_per_s"),
        format!("{sled}, {mode}: first trace of each of {size} jobs (new result: job, history, outbox; fsync'd)"),
        first.min(n) as f64 / first_elapsed.as_secs_f64(),
        "traces/s",
    )
    .target("≥ 0.8 × baseline at 1M");

    // Re-traces that find nothing new, measured over the window.
    let settled = first >= n;
    if settled {
        let before = engine.metrics().traces_total();
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let traced = engine.metrics().traces_total() - before;
        report.push(
            Figure::new(
                format!("dispatch/{id}/{tag}/retraces_per_s"),
                format!("{sled}, {mode}: re-traces at {size} jobs (nothing new: job and due key)"),
                traced as f64 / started.elapsed().as_secs_f64(),
                "traces/s",
            )
            .target("≥ 50,000 at 1M"),
        );
    } else {
        report.note(format!(
            "dispatch at {size} ({mode}): the first traces of all jobs did not finish within {:?}; re-traces not measured",
            first_limit
        ));
    }
    report.push(Figure::new(
        format!("dispatch/{id}/{tag}/rss"),
        format!("{sled}, {mode}: resident memory while dispatching {size} jobs (whole harness)"),
        rss_mib().unwrap_or(f64::NAN),
        "MiB",
    ));
    running.shutdown().await;
    drop(engine);
    drop(store);
    let peak = sampler.stop();
    report.push(Figure::new(
        format!("dispatch/{id}/{tag}/disk_per_job_peak"),
        format!("{sled}, {mode}: disk used per active job while dispatching {size} jobs, peak (du every 1 s ÷ jobs)"),
        peak as f64 / n as f64,
        "bytes/job",
    ));
    drop(dir);

    if let (false, Some(baselines)) = (durable, baselines.as_deref_mut()) {
        let bare_dir = options.scratch(&format!("dispatch-bare-sled-{size}"))?;
        let path = bare_dir.path().to_owned();
        let cache = config.cache_capacity;
        let bare = tokio::task::spawn_blocking(move || sled_traces::run(&path, n, cache)).await??;
        drop(bare_dir);
        baselines.insert(n, bare.per_second());
        report.note(format!(
            "dispatch at {size}: the bare-sled baseline loaded its jobs in {:.1} s (not measured), then wrote {} first traces in {:.1} s (batches of {}, one flush each)",
            bare.loaded_in.as_secs_f64(),
            bare.traces,
            bare.elapsed.as_secs_f64(),
            sled_traces::BATCH,
        ));
    }
    let first_traces = match baselines.and_then(|b| b.get(&n).copied()) {
        Some(rate) => first_traces.baseline(
            "bare sled, one writer: body, schedule, due key and history writes only (no claim, feed key or outbox entry)",
            rate,
        ),
        None => first_traces,
    };
    report.push(first_traces);
    Ok(report)
}
