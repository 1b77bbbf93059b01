//! Memory and start-up: resident memory of the real `boxtrace serve` holding N active
//! jobs on sled (default cache, 64 MiB), and the time from process start to `/readyz`
//! answering 200 on that data directory. Then the same while it dispatches all N.
//! Beside them, the disk used by the data directory per active job: at rest after the
//! load, and at its peak (sampled every second) while the server dispatches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boxtrace::{SledConfig, SledStore, Store};
use chrono::Utc;

use crate::disk;
use crate::options::{count_label, Options};
use crate::report::{Figure, Report};
use crate::scenario::dispatch::load_jobs;
use crate::server::Launch;
use crate::stats::ms;

/// Runs the scenario.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let n = *options
        .jobs_or(&[2_000], &[1_000_000])
        .last()
        .unwrap_or(&1_000_000);
    let size = count_label(n);
    let settle = options.window_or(Duration::from_secs(1), Duration::from_secs(10));

    // Idle: every job due tomorrow.
    let dir = options.scratch("memory-idle")?;
    let loaded = load(dir.path(), n, Utc::now() + chrono::Duration::days(1)).await?;
    report.note(format!(
        "memory: {size} jobs loaded into sled in {:.1} s before the server starts",
        loaded.as_secs_f64()
    ));
    report.push(Figure::new(
        format!("memory/{size}/disk_per_job_at_rest"),
        format!(
            "sled data directory at rest after loading {size} active jobs, per job (du ÷ jobs)"
        ),
        disk::usage(&dir.path().join("db")) as f64 / n as f64,
        "bytes/job",
    ));
    let launch = Launch::new(options.server_bin()?, dir.path());
    let (server, ready) = launch.serve().await?;
    tokio::time::sleep(settle).await;
    let idle = server.rss_mib().unwrap_or(f64::NAN);
    let peak = server.peak_rss_mib().unwrap_or(f64::NAN);
    server.stop().await?;
    let (restarted, ready_again) = launch.serve().await?;
    restarted.stop().await?;
    report.push(
        Figure::new(
            format!("memory/{size}/startup"),
            format!("boxtrace serve: start to ready with {size} active jobs"),
            ms(ready),
            "ms",
        )
        .target("< 1,000 ms"),
    );
    report.push(Figure::new(
        format!("memory/{size}/startup_again"),
        format!("boxtrace serve: start to ready with {size} active jobs, second start"),
        ms(ready_again),
        "ms",
    ));
    report.push(
        Figure::new(
            format!("memory/{size}/rss_idle"),
            format!("boxtrace serve: resident memory holding {size} active jobs, {settle:?} after ready"),
            idle,
            "MiB",
        )
        .target("< 128 MiB"),
    );
    report.push(Figure::new(
        format!("memory/{size}/rss_peak_idle"),
        format!("boxtrace serve: peak resident memory (VmHWM) through start-up with {size} jobs"),
        peak,
        "MiB",
    ));

    // The same data with a smaller sled cache: how much of the resident memory is cache.
    let small = Launch::new(options.server_bin()?, dir.path()).config("cacheCapacity = 16777216\n");
    let (server, _) = small.serve().await?;
    tokio::time::sleep(settle).await;
    let idle_small = server.rss_mib().unwrap_or(f64::NAN);
    server.stop().await?;
    report.push(Figure::new(
        format!("memory/{size}/rss_idle_cache16"),
        format!("boxtrace serve: resident memory holding {size} active jobs, cacheCapacity 16 MiB"),
        idle_small,
        "MiB",
    ));
    drop(dir);

    // Busy: every job due now, traced by the sim provider at zero latency.
    let dir = options.scratch("memory-busy")?;
    load(dir.path(), n, Utc::now()).await?;
    let launch = Launch::new(options.server_bin()?, dir.path());
    let (server, _) = launch.serve().await?;
    let sampler = disk::PeakSampler::start(dir.path().join("db"), Duration::from_secs(1));
    let started = Instant::now();
    let mut traced = 0.0;
    while started.elapsed() < settle * 2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        traced = server.metric("boxtrace_traces_total").await?;
        if traced >= n as f64 {
            break;
        }
    }
    let busy_peak = server.peak_rss_mib().unwrap_or(f64::NAN);
    let busy_now = server.rss_mib().unwrap_or(f64::NAN);
    server.stop().await?;
    let disk_peak = sampler.stop();
    report.push(
        Figure::new(
            format!("memory/{size}/rss_peak_busy"),
            format!("boxtrace serve: peak resident memory while tracing {size} due jobs ({traced:.0} traced in {:.0} s)", started.elapsed().as_secs_f64()),
            busy_peak,
            "MiB",
        )
        .target("< 128 MiB"),
    );
    report.push(Figure::new(
        format!("memory/{size}/rss_busy"),
        format!("boxtrace serve: resident memory at the end of the busy window, {size} jobs"),
        busy_now,
        "MiB",
    ));
    report.push(Figure::new(
        format!("memory/{size}/disk_per_job_busy_peak"),
        format!("sled data directory while boxtrace serve traces {size} due jobs, peak per job (du every 1 s ÷ jobs)"),
        disk_peak as f64 / n as f64,
        "bytes/job",
    ));
    report.note(
        "memory: sled cache `cacheCapacity` at its default, 64 MiB (set it in the TOML file)",
    );
    Ok(report)
}

/// Loads `n` jobs due at `due` into a sled store where `Launch` will look, and closes it.
async fn load(
    data_dir: &std::path::Path,
    n: u64,
    due: chrono::DateTime<Utc>,
) -> anyhow::Result<Duration> {
    let store = SledStore::open(&SledConfig::new(data_dir.join("db")))?;
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let took = load_jobs(&shared, n, |_| due).await?;
    shared.flush().await?;
    drop(shared);
    // The writer thread stops, after a final flush, when the last clone goes.
    drop(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(took)
}
