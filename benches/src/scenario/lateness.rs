//! Lateness: how late traces start after their due time when the engine runs at half of
//! its measured capacity.
//!
//! Capacity is measured first, in the same run: jobs all due at once, drained as fast as
//! the engine goes. Then jobs are loaded with due times spread evenly at half that rate
//! and the engine runs on the system clock; a probe around the `sim` provider records,
//! for each trace, the wall time it started minus the job's due time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use boxtrace::{
    Clock, DataError, Engine, EngineConfig, ProviderCredentials, ProviderLimits, SledConfig,
    SledStore, Store, SystemClock, TraceError, TraceKind, TraceRequest, TraceResult, Tracer,
    Workflow,
};
use boxtrace_sim::{SimConfig, SimTracer};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::options::Options;
use crate::report::{Figure, Report};
use crate::scenario::dispatch::load_jobs;
use crate::stats::{ms, Samples};

/// The `sim` provider, recording how late each trace starts.
#[derive(Debug)]
struct LatenessProbe {
    inner: SimTracer,
    due: HashMap<String, DateTime<Utc>>,
    samples: Mutex<Samples>,
}

#[async_trait]
impl Tracer for LatenessProbe {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn workflow(&self) -> Workflow {
        self.inner.workflow()
    }
    fn limits(&self) -> ProviderLimits {
        self.inner.limits()
    }
    fn validate(&self, kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        self.inner.validate(kind, data)
    }
    async fn trace(
        &self,
        request: &TraceRequest,
        credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        if let Some(due) = self.due.get(request.container.as_str()) {
            let late = (Utc::now() - *due).to_std().unwrap_or_default();
            self.samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(late);
        }
        self.inner.trace(request, credentials).await
    }
}

/// Runs the scenario.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let window = options.window_or(Duration::from_secs(1), Duration::from_secs(20));

    let capacity = capacity(options, if options.quick { 2_000 } else { 100_000 }).await?;
    let rate = (capacity / 2.0).max(1.0);
    let jobs = (rate * window.as_secs_f64()).round() as u64;

    let dir = options.scratch("lateness")?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&SledConfig::new(dir.path()))?);
    // Due times start after the load is surely done: the load runs well above `rate`.
    let lead = Duration::from_secs_f64(jobs as f64 / capacity * 4.0 + 2.0);
    let base = Utc::now() + chrono::Duration::from_std(lead)?;
    let due_of = |i: u64| base + chrono::Duration::nanoseconds((i as f64 / rate * 1e9) as i64);
    let loaded = Instant::now();
    load_jobs(&store, jobs, due_of).await?;
    anyhow::ensure!(
        Utc::now() < base,
        "loading {jobs} jobs took {:?}, past the first due time; use a shorter --window",
        loaded.elapsed()
    );
    let due: HashMap<String, DateTime<Utc>> = (0..jobs)
        .map(|i| {
            (
                crate::export_request(i).container.as_str().to_owned(),
                due_of(i),
            )
        })
        .collect();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let probe = Arc::new(LatenessProbe {
        inner: SimTracer::new(SimConfig::default(), clock.clone()),
        due,
        samples: Mutex::new(Samples::with_capacity(jobs as usize)),
    });
    let engine = Engine::builder()
        .shared_store(store.clone())
        .shared_provider(probe.clone())
        .shared_clock(clock)
        .config(EngineConfig::default())
        .build()?;
    let running = engine.start();
    let deadline = Instant::now() + lead + window + Duration::from_secs(10);
    while engine.metrics().traces_total() < jobs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
    let mut samples =
        std::mem::take(&mut *probe.samples.lock().unwrap_or_else(PoisonError::into_inner));
    anyhow::ensure!(
        samples.len() as u64 >= jobs,
        "only {} of {jobs} jobs were traced",
        samples.len()
    );
    report.push(Figure::new(
        "lateness/capacity",
        "capacity measured first (first traces, sled, all due at once)",
        capacity,
        "traces/s",
    ));
    report.push(Figure::new(
        "lateness/rate",
        "offered load: due times spread evenly (half of capacity)",
        rate,
        "traces/s",
    ));
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        let mut figure = Figure::new(
            format!("lateness/{name}"),
            format!("lateness at half capacity, {name}"),
            ms(samples.quantile(q)),
            "ms",
        );
        if name == "p99" {
            figure = figure.target("< 10 ms");
        }
        report.push(figure);
    }
    report.push(Figure::new(
        "lateness/max",
        "lateness at half capacity, max",
        ms(samples.max()),
        "ms",
    ));
    Ok(report)
}

/// First traces per second with every job due at once.
async fn capacity(options: &Options, jobs: u64) -> anyhow::Result<f64> {
    let dir = options.scratch("capacity")?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&SledConfig::new(dir.path()))?);
    let now = Utc::now();
    load_jobs(&store, jobs, |_| now).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::builder()
        .shared_store(store)
        .provider(SimTracer::new(SimConfig::default(), clock.clone()))
        .shared_clock(clock)
        .build()?;
    let started = Instant::now();
    let running = engine.start();
    while engine.metrics().traces_total() < jobs {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "capacity run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    running.shutdown().await;
    Ok(jobs as f64 / elapsed.as_secs_f64())
}
