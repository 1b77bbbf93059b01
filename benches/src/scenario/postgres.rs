//! Scenario `postgres`: dispatch on the PostgreSQL store with 1, 2 and 4 engine processes
//! sharing one database, against the loop a user would otherwise write by hand: a bare
//! `FOR UPDATE SKIP LOCKED` claim loop on a table of the same shape.
//!
//! The workload is [`dispatch`](super::dispatch)'s: every job is due again as soon as it
//! is traced (`saturating_policy`), with the `sim` provider at zero latency, so the
//! processes never wait for work. The PostgreSQL server runs on the same machine as the
//! engine processes and shares its cores with them; the report says so.
//!
//! One run, on a fresh schema that is dropped at the end:
//!
//! 1. **Load** N jobs, all due now: the first ones through `JobStore::publish`; when the rate
//!    measured on them says the rest would take more than [`PUBLISH_BUDGET`], the rest are
//!    cloned from a published job in SQL, with exactly the columns and body the store
//!    writes (checked by reading some back through the store).
//! 2. **First traces**: four engine processes trace every job once. Each result is new, so
//!    each commit writes the job, a history entry and an outbox entry, synchronously.
//! 3. **Re-traces**, the steady state measured at 1, 2 and 4 processes in turn: results
//!    are unchanged (the `sim` lifecycles ended before the epoch plus 30 days), so a claim
//!    commits synchronously and each trace's commit writes only the job, with
//!    `synchronous_commit = off` as the store does for commits without an event.
//! 4. **Baseline**: a copy of the jobs table (same columns, indexes and rows) and four
//!    connections, each looping BEGIN; `SELECT … FOR UPDATE SKIP LOCKED LIMIT 100`;
//!    `UPDATE` those rows; COMMIT, every commit synchronous.
//!
//! Engine processes are this executable run as `boxtrace-bench pg-worker` ([`worker_main`]).
//! Each builds its own engine on its own `PostgresStore` pool and starts it at once, says
//! `ready`, opens its window when the harness writes `start` to its stdin (to all processes
//! at once, after a lead-in), counts the engine's traces over the window (or until its
//! stdin closes), shuts the engine down gracefully, prints one JSON line and exits.

use std::io::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use boxtrace::testing::{container, request};
use boxtrace::{
    Clock, Engine, EngineConfig, Job, PostgresConfig, PostgresStore, Store, SystemClock, Tenant,
    TraceKind, TraceRequest,
};
use boxtrace_sim::{SimConfig, SimTracer};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::task::JoinSet;
use tokio_postgres::{Client, NoTls};

use crate::options::{count_label, Options};
use crate::report::{number, Figure, Report};
use crate::scenario::dispatch::saturating_policy;

/// Engine processes in each measured round, in order.
const PROCESS_COUNTS: [usize; 3] = [1, 2, 4];
/// Engine processes that trace every job once before the rounds.
const FIRST_TRACE_PROCESSES: usize = 4;
/// Jobs per claim, as the engine's default `claimBatch`.
const CLAIM_BATCH: usize = 256;
/// Traces in flight per process, as the engine's default `maxInFlight`.
const MAX_IN_FLIGHT: usize = 1024;
/// Connections per store, as `PostgresConfig`'s default.
const POOL_SIZE: usize = 16;
/// Publishes in flight while loading through the store.
const LOAD_CONCURRENCY: usize = 512;
/// Jobs published through the store before deciding how to load the rest.
const PUBLISH_SAMPLE: u64 = 20_000;
/// Longest the rest of the load may take through the store; past it, rows are cloned in SQL.
const PUBLISH_BUDGET: Duration = Duration::from_secs(180);
/// Rows per bulk `INSERT … SELECT`.
const BULK_CHUNK: u64 = 20_000;
/// Connections of the bare loop.
const BARE_WORKERS: usize = 4;
/// Rows per bare claim.
const BARE_BATCH: i64 = 100;
/// Distinct numbers `testing::container` gives; each service of the bench organization
/// holds that many jobs, so that keys stay unique at any size.
const CONTAINERS_PER_SVC: u64 = 100_000;
/// The `sim` epoch lies this far before the load: every lifecycle has ended, so a re-trace
/// finds the same result as the first trace.
const EPOCH_AGE_DAYS: i64 = 30;
/// Longest a worker process may take past its window to shut down and report.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(90);
/// The name of the baseline.
const BARE: &str = "bare SKIP LOCKED loop, 4 workers";

/// Runs the scenario at every size (default 1M; quick 2,000). Without a database URL it
/// returns a report that says it was skipped.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let Some(url) = options.database_url.clone() else {
        report.note(
            "postgres: skipped, no database (pass --database-url or set BOXTRACE_BENCH_DATABASE_URL; quick runs from tests read BOXTRACE_TEST_DATABASE_URL)",
        );
        return Ok(report);
    };
    let window = options.window_or(Duration::from_millis(500), Duration::from_secs(15));
    for n in options.jobs_or(&[2_000], &[1_000_000]) {
        report.extend(measure(options, &url, n, window).await?);
    }
    Ok(report)
}

/// The request of job `i`: an export at `sim` for container `i mod 100,000` of service
/// `bench-svc-<i / 100,000>`.
fn bench_request(i: u64) -> TraceRequest {
    let tenant = Tenant::new("bench-org", format!("bench-svc-{}", i / CONTAINERS_PER_SVC));
    let n = u32::try_from(i % CONTAINERS_PER_SVC).unwrap_or_default();
    request(&tenant, TraceKind::Export, "sim", &container(n))
}

/// What the runs at one size share.
#[derive(Debug)]
struct Context {
    url: String,
    schema: String,
    admin: Client,
    /// The `pg-worker` executable.
    worker: PathBuf,
    /// The `sim` epoch, the same in every process.
    epoch: DateTime<Utc>,
    /// How long the engines run before a measured window opens (after all are ready).
    lead: Duration,
    quick: bool,
}

impl Context {
    /// `sql` with `{s}` replaced by the schema (a plain identifier, checked by the store).
    fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", &self.schema)
    }
}

/// One size, on a fresh schema that is dropped afterwards (also when the run fails).
async fn measure(options: &Options, url: &str, n: u64, window: Duration) -> anyhow::Result<Report> {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let schema = format!("bench_{}_{nanos}", std::process::id());
    let context = Context {
        url: url.to_owned(),
        schema: schema.clone(),
        admin: connect(url).await?,
        worker: crate::options::harness_bin()?,
        epoch: Utc::now() - chrono::Duration::days(EPOCH_AGE_DAYS),
        lead: if options.quick {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(3)
        },
        quick: options.quick,
    };
    let result = measure_in(&context, n, window).await;
    // Worker processes of a failed run were killed when their handles were dropped.
    let dropped = context
        .admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
    let report = result?;
    dropped.with_context(|| format!("dropping schema {schema}"))?;
    Ok(report)
}

async fn measure_in(context: &Context, n: u64, window: Duration) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let size = count_label(n);
    let run_started = Instant::now();
    let load_before = load_average();
    let settings = ServerSettings::read(&context.admin).await?;
    // Wall time of each phase, for the notes.
    let mut phases: Vec<String> = Vec::new();
    let mut phase_started = Instant::now();
    let mut phase = |name: &str| {
        phases.push(format!(
            "{name} {:.1} s",
            phase_started.elapsed().as_secs_f64()
        ));
        phase_started = Instant::now();
    };

    // 1. Load.
    let config = PostgresConfig::new(context.url.clone())
        .with_schema(context.schema.clone())
        .with_pool_size(POOL_SIZE);
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::connect(config)
            .await
            .context("connecting the PostgreSQL store")?,
    );
    let load = load(context, &store, n).await?;
    // Its connections are not needed any more; the workers need theirs.
    drop(store);
    report.push(Figure::new(
        format!("postgres/{size}/publish_per_s"),
        format!(
            "PostgreSQL: publish through the store, {} jobs from an empty table ({LOAD_CONCURRENCY} in flight, pool {POOL_SIZE}, every commit synchronous)",
            if load.published == n {
                format!("all {size}")
            } else {
                format!("the first {} of {size}", count_label(load.published))
            }
        ),
        load.published as f64 / load.publish_time.as_secs_f64(),
        "jobs/s",
    ));
    if load.bulk == 0 && n > PUBLISH_SAMPLE {
        report.note(format!(
            "postgres at {size}: the first {} publishes promised the whole load within {} s, so all {size} jobs went through `JobStore::publish`",
            count_label(PUBLISH_SAMPLE),
            PUBLISH_BUDGET.as_secs()
        ));
    }
    if load.bulk > 0 {
        report.push(Figure::new(
            format!("postgres/{size}/bulk_load_per_s"),
            format!(
                "PostgreSQL: the other {} jobs cloned in SQL from a published one (INSERT … SELECT, {} rows a statement; rows as the store writes them)",
                count_label(load.bulk),
                count_label(BULK_CHUNK)
            ),
            load.bulk as f64 / load.bulk_time.as_secs_f64(),
            "jobs/s",
        ));
        report.note(format!(
            "postgres at {size}: publishing {} jobs one by one would have taken about {:.0} s at the measured rate (more than {} s), so {} were cloned in SQL; {} cloned jobs read back through `JobStore::get` equal the published template but for id and key, and every row's body id equals its id column",
            count_label(n),
            n as f64 / (load.published as f64 / load.publish_time.as_secs_f64()),
            PUBLISH_BUDGET.as_secs(),
            count_label(load.bulk),
            load.checked
        ));
    }
    phase("load");
    let mut vacuum_time = vacuum(context, "jobs").await?;

    // 2. First traces of every job, by four processes.
    let first = first_traces(context, n).await?;
    if first.stopped_early || first.traced < i64::try_from(n)? {
        report.note(format!(
            "postgres at {size}: the first-trace phase {}; only {} of {size} jobs had been traced once, and the rounds measure a mix of first traces and re-traces",
            if first.stopped_early { "hit its time limit" } else { "ended early" },
            first.traced
        ));
    }
    phase("first traces");

    // 3. Re-traces at 1, 2 and 4 processes.
    let mut rounds = Vec::new();
    for procs in PROCESS_COUNTS {
        vacuum_time += vacuum(context, "jobs").await?;
        let traced_before = count(context, "SELECT sum(trace_count)::bigint FROM {s}.jobs").await?;
        let events_before = count(context, "SELECT count(*) FROM {s}.outbox").await?;
        let mut workers = Workers::spawn(context, procs, Some(window)).await?;
        tokio::time::sleep(context.lead).await;
        workers.start().await?;
        let cpu_from = CpuSample::take();
        let wal_from = wal_position(context).await?;
        tokio::time::sleep(window).await;
        let cpu = CpuUse::between(cpu_from, CpuSample::take());
        let wal = wal_position(context).await? - wal_from;
        let reports = workers.finish(SHUTDOWN_LIMIT).await?;
        let traced =
            count(context, "SELECT sum(trace_count)::bigint FROM {s}.jobs").await? - traced_before;
        let events = count(context, "SELECT count(*) FROM {s}.outbox").await? - events_before;
        rounds.push(Round {
            procs,
            reports,
            traced,
            events,
            cpu,
            wal,
        });
        phase(&format!("round of {procs}"));
    }
    let jobs_size = relation_size(context, "jobs").await?;

    // 4. The bare loop on a copy of the table.
    let bare = bare_loop(context, window, &mut vacuum_time).await?;
    let bare_size = relation_size(context, "bare_jobs").await?;
    phase("bare loop");

    report.push(
        Figure::new(
            format!("postgres/{size}/first_traces_per_s"),
            format!(
                "PostgreSQL, {FIRST_TRACE_PROCESSES} engine processes: first trace of each of {size} jobs (new result: job, history and outbox written, every commit synchronous)"
            ),
            first.rate(),
            "traces/s",
        ),
    );
    for round in &rounds {
        let procs = round.procs;
        let noun = if procs == 1 { "process" } else { "processes" };
        report.push(
            Figure::new(
                format!("postgres/{size}/procs_{procs}/traces_per_s"),
                format!(
                    "PostgreSQL, {procs} engine {noun}: re-traces of {size} jobs, steady phase after every job was traced once (nothing new; claims commit synchronously, trace commits with synchronous_commit = off as the store does)"
                ),
                round.rate(),
                "traces/s",
            )
            .baseline(BARE, bare.rate),
        );
    }
    report.push(Figure::new(
        format!("postgres/{size}/bare_skip_locked/runs_per_s"),
        format!(
            "PostgreSQL, {BARE}: SELECT … FOR UPDATE SKIP LOCKED LIMIT {BARE_BATCH}, UPDATE, COMMIT (synchronous) on a copy of the {size} jobs"
        ),
        bare.rate,
        "job runs/s",
    ));

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    report.note(format!(
        "postgres: the PostgreSQL server ({}) runs on this same {cores}-core machine as the engine processes and the harness: every figure is the engine and the database sharing those cores. Server settings as found: autovacuum = {}, synchronous_commit = {}, fsync = {}, shared_buffers = {}, max_connections = {}",
        settings.version,
        settings.autovacuum,
        settings.synchronous_commit,
        settings.fsync,
        settings.shared_buffers,
        settings.max_connections
    ));
    report.note(format!(
        "postgres at {size}: before the first traces, before each round and before the bare loop the harness ran VACUUM ANALYZE on the table ({:.1} s in all, outside the windows){}. Sizes at the end (table, indexes, TOAST): jobs {} MiB, its copy for the bare loop {} MiB",
        vacuum_time.as_secs_f64(),
        if settings.autovacuum == "off" {
            ", standing in for the autovacuum that is off on this server"
        } else {
            ""
        },
        number(jobs_size),
        number(bare_size)
    ));
    report.note(format!(
        "postgres at {size}: rounds and the bare loop have {window:?} windows after a {:?} lead-in; each engine process has a pool of {POOL_SIZE}, claims {CLAIM_BATCH} at a time and runs up to {MAX_IN_FLIGHT} traces at once",
        context.lead,
    ));
    report.note(format!("postgres at {size}, {}", first.summary(cores)));
    for round in &rounds {
        report.note(format!("postgres at {size}, {}", round.summary(cores)));
    }
    report.note(format!(
        "postgres at {size}, bare loop: {} job runs/s{}{}",
        number(bare.rate),
        cpu_text(bare.cpu, None, cores),
        bare.wal_text
    ));
    report.note(format!(
        "postgres at {size}: whole run {:.0} s ({}, vacuums included); load average {} at the start, {} at the end (other work on the machine competes for the same cores)",
        run_started.elapsed().as_secs_f64(),
        phases.join(", "),
        load_before.as_deref().unwrap_or("n/a"),
        load_average().as_deref().unwrap_or("n/a"),
    ));
    Ok(report)
}

/// How the jobs were loaded.
#[derive(Debug, Default)]
struct Load {
    published: u64,
    publish_time: Duration,
    bulk: u64,
    bulk_time: Duration,
    /// Cloned jobs read back and compared.
    checked: usize,
}

/// Loads jobs `0..n`, all due now: through the store, or the first ones through the store
/// and the rest cloned in SQL when the store would take too long.
async fn load(context: &Context, store: &Arc<dyn Store>, n: u64) -> anyhow::Result<Load> {
    let sample = n.min(PUBLISH_SAMPLE);
    let mut load = Load {
        published: sample,
        publish_time: publish(store, 0..sample).await?,
        ..Load::default()
    };
    if sample == n {
        return Ok(load);
    }
    let rate = sample as f64 / load.publish_time.as_secs_f64();
    if Duration::from_secs_f64((n - sample) as f64 / rate) <= PUBLISH_BUDGET {
        load.publish_time += publish(store, sample..n).await?;
        load.published = n;
        return Ok(load);
    }
    let (bulk_time, checked) = bulk_clone(context, store, sample..n).await?;
    load.bulk = n - sample;
    load.bulk_time = bulk_time;
    load.checked = checked;
    Ok(load)
}

/// Publishes jobs `range`, due now, `LOAD_CONCURRENCY` at a time; returns the time taken.
async fn publish(store: &Arc<dyn Store>, range: Range<u64>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in range {
        if tasks.len() >= LOAD_CONCURRENCY {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let store = store.clone();
        tasks.spawn(async move {
            store
                .publish(bench_request(i), true, SystemClock.now())
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

/// Copies of job 0's row, one per `(service, container)` pair, with fresh ids: the columns
/// of the template, and its body with the id and the three places the key lives replaced.
const BULK_INSERT: &str = "
    WITH new AS (
        SELECT nextval('{s}.job_ids') AS id, c.svc_id, c.container
        FROM unnest($2::text[], $3::text[]) AS c(svc_id, container)
    )
    INSERT INTO {s}.jobs (id, org_id, svc_id, kind, provider_id, container, state, due_at,
                          lease_token, lease_until, lease_seq, attempts, trace_count,
                          updated_at, body)
    SELECT new.id, t.org_id, new.svc_id, t.kind, t.provider_id, new.container, t.state,
           t.due_at, t.lease_token, t.lease_until, t.lease_seq, t.attempts, t.trace_count,
           t.updated_at,
           jsonb_set(jsonb_set(jsonb_set(jsonb_set(t.body,
               '{id}', to_jsonb(new.id)),
               '{request,key,tenant,svcId}', to_jsonb(new.svc_id)),
               '{request,key,container}', to_jsonb(new.container)),
               '{request,container,id}', to_jsonb(new.container))
    FROM new, {s}.jobs t
    WHERE t.id = $1";

/// Clones job 0 into jobs `range` in SQL, then checks some clones against what the store
/// would have written. Returns the time the inserts took and how many jobs were checked.
async fn bulk_clone(
    context: &Context,
    store: &Arc<dyn Store>,
    range: Range<u64>,
) -> anyhow::Result<(Duration, usize)> {
    let template = store
        .get(&bench_request(0).key)
        .await?
        .context("the published template job is missing")?;
    let template_id = i64::try_from(template.id.0)?;
    let insert = context
        .admin
        .prepare(&context.sql(BULK_INSERT))
        .await
        .context("preparing the bulk insert")?;
    let started = Instant::now();
    let mut from = range.start;
    while from < range.end {
        let to = (from + BULK_CHUNK).min(range.end);
        let (services, containers): (Vec<String>, Vec<String>) = (from..to)
            .map(|i| {
                let key = bench_request(i).key;
                (key.tenant.svc_id, key.container)
            })
            .unzip();
        let inserted = context
            .admin
            .execute(&insert, &[&template_id, &services, &containers])
            .await
            .context("bulk insert")?;
        anyhow::ensure!(
            inserted == to - from,
            "bulk insert wrote {inserted} rows, not {}",
            to - from
        );
        from = to;
    }
    let elapsed = started.elapsed();

    let probes = [
        range.start,
        range.start + (range.end - range.start) / 2,
        range.end - 1,
    ];
    let mut ids = std::collections::BTreeSet::from([template.id]);
    for i in probes {
        let request = bench_request(i);
        let job = store
            .get(&request.key)
            .await?
            .with_context(|| format!("cloned job {i} is missing"))?;
        let expected = Job {
            id: job.id,
            request,
            ..template.clone()
        };
        anyhow::ensure!(
            job == expected,
            "cloned job {i} differs from what the store would have written:\n{job:?}\nexpected\n{expected:?}"
        );
        anyhow::ensure!(ids.insert(job.id), "cloned job {i} reuses id {}", job.id);
    }
    let mismatched = count(
        context,
        "SELECT count(*) FROM {s}.jobs WHERE (body->>'id')::bigint <> id",
    )
    .await?;
    anyhow::ensure!(
        mismatched == 0,
        "{mismatched} rows have a body id that is not their id"
    );
    Ok((elapsed, probes.len()))
}

/// Runs four processes until each of the `n` jobs has been traced once, which is when the
/// results queue holds `n` events: only a first trace has a new result to announce.
async fn first_traces(context: &Context, n: u64) -> anyhow::Result<Phase> {
    let limit = if context.quick {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(1_800)
    };
    let poll = if context.quick {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    };
    let n = i64::try_from(n)?;
    // Cheap, and never below the number of events: a commit takes its number first.
    let numbered = context
        .admin
        .prepare(&context.sql("SELECT last_value FROM {s}.event_seqs"))
        .await?;
    let events = context
        .admin
        .prepare(&context.sql("SELECT count(*) FROM {s}.outbox"))
        .await?;
    let mut workers = Workers::spawn(context, FIRST_TRACE_PROCESSES, None).await?;
    workers.start().await?;
    let cpu_from = CpuSample::take();
    let wal_from = wal_position(context).await?;
    let started = Instant::now();
    // Committed while the processes were getting ready.
    let before: i64 = context.admin.query_one(&events, &[]).await?.try_get(0)?;
    let mut stopped_early = false;
    loop {
        tokio::time::sleep(poll).await;
        let upper: i64 = context.admin.query_one(&numbered, &[]).await?.try_get(0)?;
        if upper >= n {
            let done: i64 = context.admin.query_one(&events, &[]).await?.try_get(0)?;
            if done >= n {
                break;
            }
        }
        if started.elapsed() > limit {
            stopped_early = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    let cpu = CpuUse::between(cpu_from, CpuSample::take());
    let wal = wal_position(context).await? - wal_from;
    let reports = workers.finish(SHUTDOWN_LIMIT).await?;
    let traced = count(context, "SELECT count(DISTINCT job_id) FROM {s}.outbox").await?;
    Ok(Phase {
        reports,
        measured: n - before,
        elapsed,
        traced,
        stopped_early,
        cpu,
        wal,
    })
}

/// The first-trace phase.
#[derive(Debug)]
struct Phase {
    reports: Vec<WorkerReport>,
    /// First traces committed in the window.
    measured: i64,
    /// The window, from `start` until every job had its event.
    elapsed: Duration,
    /// Jobs with a result event at the end: traced at least once.
    traced: i64,
    stopped_early: bool,
    cpu: Option<CpuUse>,
    /// WAL the server wrote in the window, in bytes.
    wal: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.measured as f64 / self.elapsed.as_secs_f64()
    }

    fn summary(&self, cores: usize) -> String {
        let engines: Option<f64> = self
            .reports
            .iter()
            .map(|r| r.cpu_s.map(|c| c / r.elapsed_s))
            .sum();
        format!(
            "first traces: {} in {:.1} s, {} jobs traced at least once by the end{}{}",
            self.measured,
            self.elapsed.as_secs_f64(),
            self.traced,
            cpu_text(self.cpu, engines, cores),
            wal_text(
                self.wal,
                u64::try_from(self.measured).unwrap_or_default(),
                "trace"
            )
        )
    }
}

/// One measured round of re-traces.
#[derive(Debug)]
struct Round {
    procs: usize,
    reports: Vec<WorkerReport>,
    /// Traces committed during the whole round (lead-in and shutdown included), by the
    /// database's trace counts.
    traced: i64,
    /// Result events written during the round.
    events: i64,
    cpu: Option<CpuUse>,
    /// WAL the server wrote in the window, in bytes.
    wal: f64,
}

impl Round {
    fn rate(&self) -> f64 {
        self.reports
            .iter()
            .map(|r| r.traces as f64 / r.elapsed_s)
            .sum()
    }

    fn summary(&self, cores: usize) -> String {
        let per_process: Vec<String> = self
            .reports
            .iter()
            .map(|r| number(r.traces as f64 / r.elapsed_s))
            .collect();
        let reported: u64 = self.reports.iter().map(|r| r.total).sum();
        let engines: Option<f64> = self
            .reports
            .iter()
            .map(|r| r.cpu_s.map(|c| c / r.elapsed_s))
            .sum();
        format!(
            "{} engine process(es): {} traces/s{}{}; {} traces counted by the processes over the whole round (lead-in and shutdown included), {} committed by the database's trace counts, {} result events",
            self.procs,
            per_process.join(" + "),
            cpu_text(self.cpu, engines, cores),
            wal_text(self.wal, self.reports.iter().map(|r| r.traces).sum::<u64>(), "trace"),
            reported,
            self.traced,
            self.events,
        )
    }
}

/// What a worker process prints, as one JSON line, before it exits.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerReport {
    /// Traces in the window.
    traces: u64,
    /// The window, as the process measured it.
    elapsed_s: f64,
    /// Traces from its start to its shutdown.
    total: u64,
    /// CPU time (user and system) the process used in the window, where `/proc` says.
    cpu_s: Option<f64>,
}

/// What a worker prints once its engine runs.
const READY: &str = "ready";
/// What a worker waits for on stdin before its window opens.
const START: &str = "start";

/// One running worker process.
#[derive(Debug)]
struct Worker {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Lines<BufReader<tokio::process::ChildStdout>>,
}

/// Running worker processes.
#[derive(Debug)]
struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `procs` processes and waits until each one's engine runs. Their window opens
    /// at [`Workers::start`] and lasts `window`, or until [`Workers::finish`] when `None`.
    async fn spawn(
        context: &Context,
        procs: usize,
        window: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let mut workers = Vec::with_capacity(procs);
        for _ in 0..procs {
            let mut command = tokio::process::Command::new(&context.worker);
            command
                .arg("pg-worker")
                .arg("--schema")
                .arg(&context.schema)
                .arg("--epoch")
                .arg(context.epoch.timestamp_millis().to_string())
                .arg("--pool-size")
                .arg(POOL_SIZE.to_string())
                // Not on the command line, where `ps` would show a password.
                .env(URL_ENV, &context.url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            if let Some(window) = window {
                command
                    .arg("--window")
                    .arg(humantime::format_duration(window).to_string());
            }
            let mut child = command
                .spawn()
                .with_context(|| format!("starting {}", context.worker.display()))?;
            let stdin = child.stdin.take();
            let stdout = child
                .stdout
                .take()
                .context("the worker process has no stdout")?;
            workers.push(Worker {
                child,
                stdin,
                stdout: BufReader::new(stdout).lines(),
            });
        }
        for (index, worker) in workers.iter_mut().enumerate() {
            let line = tokio::time::timeout(Duration::from_secs(60), worker.stdout.next_line())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("worker process {index} was not ready within 60 s")
                })??;
            anyhow::ensure!(
                line.as_deref() == Some(READY),
                "worker process {index} did not start (it said {line:?})"
            );
        }
        Ok(Self { workers })
    }

    /// Opens every process's window.
    async fn start(&mut self) -> anyhow::Result<()> {
        for (index, worker) in self.workers.iter_mut().enumerate() {
            if let Some(stdin) = &mut worker.stdin {
                let sent = async {
                    stdin.write_all(format!("{START}\n").as_bytes()).await?;
                    stdin.flush().await
                };
                sent.await.with_context(|| {
                    format!("worker process {index} is gone (it exited before its window)")
                })?;
            }
        }
        Ok(())
    }

    /// Closes the processes' stdin (ending an open window), waits for them to exit and
    /// returns their reports; `limit` bounds the wait.
    async fn finish(self, limit: Duration) -> anyhow::Result<Vec<WorkerReport>> {
        let mut waits = JoinSet::new();
        for (index, mut worker) in self.workers.into_iter().enumerate() {
            drop(worker.stdin.take());
            waits.spawn(async move {
                let report = tokio::time::timeout(limit, async {
                    let mut last = None;
                    while let Some(line) = worker.stdout.next_line().await? {
                        if !line.trim().is_empty() {
                            last = Some(line);
                        }
                    }
                    let status = worker.child.wait().await?;
                    anyhow::ensure!(status.success(), "worker process {index} failed ({status})");
                    let line =
                        last.with_context(|| format!("worker process {index} printed no report"))?;
                    serde_json::from_str::<WorkerReport>(&line)
                        .with_context(|| format!("worker process {index} printed {line:?}"))
                })
                .await;
                report.unwrap_or_else(|_| {
                    Err(anyhow::anyhow!(
                        "worker process {index} did not finish within {limit:?}"
                    ))
                })
            });
        }
        let mut reports = Vec::new();
        while let Some(done) = waits.join_next().await {
            reports.push(done??);
        }
        Ok(reports)
    }
}

/// What the bare loop measured.
#[derive(Debug)]
struct Bare {
    /// Job runs per second.
    rate: f64,
    cpu: Option<CpuUse>,
    wal_text: String,
}

/// The bare loop's rows: a copy of the jobs table, columns, indexes and rows alike.
const BARE_TABLE: &str = "
    CREATE TABLE {s}.bare_jobs (LIKE {s}.jobs INCLUDING ALL EXCLUDING GENERATED)
        WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
    INSERT INTO {s}.bare_jobs SELECT * FROM {s}.jobs;";

/// The bare claim: due rows, earliest first, skipping rows other workers hold.
const BARE_CLAIM: &str = "
    SELECT id FROM {s}.bare_jobs
    WHERE state = 'ACTIVE' AND due_at <= now()
    ORDER BY due_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED";

/// The bare run's write: due again now, one more trace, and the body changed as a trace
/// commit changes it (trace count, trace and update times, due time).
const BARE_UPDATE: &str = "
    UPDATE {s}.bare_jobs
    SET due_at = now(), trace_count = trace_count + 1, updated_at = now(),
        body = jsonb_set(jsonb_set(jsonb_set(jsonb_set(body,
            '{traceCount}', to_jsonb(trace_count + 1)),
            '{lastTracedAt}', to_jsonb(now())),
            '{updatedAt}', to_jsonb(now())),
            '{dueAt}', to_jsonb(now()))
    WHERE id = ANY($1)";

/// Job runs per second of the bare loop on a copy of the jobs table: four connections,
/// one transaction per claim of 100, every commit synchronous.
async fn bare_loop(
    context: &Context,
    window: Duration,
    vacuum_time: &mut Duration,
) -> anyhow::Result<Bare> {
    context
        .admin
        .batch_execute(&context.sql(BARE_TABLE))
        .await
        .context("copying the jobs table for the bare loop")?;
    *vacuum_time += vacuum(context, "bare_jobs").await?;
    let stop = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..BARE_WORKERS {
        let client = connect(&context.url).await?;
        let claim = client.prepare(&context.sql(BARE_CLAIM)).await?;
        let update = client.prepare(&context.sql(BARE_UPDATE)).await?;
        let (stop, runs) = (stop.clone(), runs.clone());
        workers.spawn(async move {
            let mut client = client;
            while !stop.load(Ordering::Relaxed) {
                let tx = client.transaction().await?;
                let ids = tx
                    .query(&claim, &[&BARE_BATCH])
                    .await?
                    .iter()
                    .map(|row| row.try_get::<_, i64>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                if ids.is_empty() {
                    tx.commit().await?;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let updated = tx.execute(&update, &[&ids]).await?;
                tx.commit().await?;
                runs.fetch_add(updated, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    // The same lead-in as the engine's rounds.
    tokio::time::sleep(context.lead).await;
    let before = runs.load(Ordering::Relaxed);
    let started = Instant::now();
    let cpu_from = CpuSample::take();
    let wal_from = wal_position(context).await?;
    tokio::time::sleep(window).await;
    let done = runs.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed();
    let cpu = CpuUse::between(cpu_from, CpuSample::take());
    let wal = wal_position(context).await? - wal_from;
    stop.store(true, Ordering::Relaxed);
    while let Some(worker) = workers.join_next().await {
        worker?.context("bare loop")?;
    }
    Ok(Bare {
        rate: done as f64 / elapsed.as_secs_f64(),
        cpu,
        wal_text: wal_text(wal, done, "job run"),
    })
}

/// A plain connection, its driver task spawned.
async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres scenario: connection ended: {e}");
        }
    });
    Ok(client)
}

/// The single number `sql` (with `{s}` the schema) returns; 0 for NULL.
async fn count(context: &Context, sql: &str) -> anyhow::Result<i64> {
    let row = context.admin.query_one(&context.sql(sql), &[]).await?;
    Ok(row.try_get::<_, Option<i64>>(0)?.unwrap_or_default())
}

/// Size of `table` with its indexes and TOAST, in MiB.
async fn relation_size(context: &Context, table: &str) -> anyhow::Result<f64> {
    let bytes = count(
        context,
        &format!("SELECT pg_total_relation_size('{{s}}.{table}')"),
    )
    .await?;
    Ok(bytes as f64 / (1024.0 * 1024.0))
}

/// `VACUUM ANALYZE` of one of the schema's tables; returns the time it took.
async fn vacuum(context: &Context, table: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    context
        .admin
        .batch_execute(&context.sql(&format!("VACUUM ANALYZE {{s}}.{table}")))
        .await
        .with_context(|| format!("VACUUM ANALYZE {table}"))?;
    Ok(started.elapsed())
}

/// The server settings the report names.
#[derive(Debug)]
struct ServerSettings {
    version: String,
    autovacuum: String,
    synchronous_commit: String,
    fsync: String,
    shared_buffers: String,
    max_connections: String,
}

impl ServerSettings {
    async fn read(client: &Client) -> anyhow::Result<Self> {
        let show = |name: &'static str| async move {
            let row = client.query_one(&format!("SHOW {name}"), &[]).await?;
            anyhow::Ok(row.try_get::<_, String>(0)?)
        };
        let version = show("server_version").await?;
        Ok(Self {
            version: format!("PostgreSQL {version}"),
            autovacuum: show("autovacuum").await?,
            synchronous_commit: show("synchronous_commit").await?,
            fsync: show("fsync").await?,
            shared_buffers: show("shared_buffers").await?,
            max_connections: show("max_connections").await?,
        })
    }
}

/// The worker processes' database URL, from the environment.
const URL_ENV: &str = "BOXTRACE_BENCH_DATABASE_URL";

/// The `pg-worker` executable: this one when it is `boxtrace-bench`, else `boxtrace-bench`
/// beside it or one directory up (where a test executable finds it after `cargo test`).
/// `boxtrace-bench pg-worker`: one engine process of the scenario (started by it).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The database.
    #[arg(long, env = URL_ENV, hide_env_values = true)]
    database_url: String,
    /// The loaded schema.
    #[arg(long)]
    schema: String,
    /// The window; without it, until stdin closes.
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// The `sim` epoch, in Unix milliseconds.
    #[arg(long)]
    epoch: i64,
    /// Connections in the store's pool.
    #[arg(long, default_value_t = POOL_SIZE)]
    pool_size: usize,
}

/// The worker's `main`: runs an engine on its own store and prints its report as one
/// JSON line.
pub fn worker_main(args: WorkerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(worker(args))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn worker(args: WorkerArgs) -> anyhow::Result<WorkerReport> {
    let config = PostgresConfig::new(args.database_url)
        .with_schema(args.schema)
        .with_pool_size(args.pool_size);
    let store = PostgresStore::connect(config)
        .await
        .context("worker: connecting the PostgreSQL store")?;
    let epoch = DateTime::from_timestamp_millis(args.epoch).context("worker: bad --epoch")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sim = SimTracer::new(
        SimConfig {
            epoch: Some(epoch),
            ..SimConfig::default()
        },
        clock.clone(),
    );
    let engine = Engine::builder()
        .store(store)
        .provider(sim)
        .policy(saturating_policy())
        .shared_clock(clock)
        .config(EngineConfig {
            claim_batch: CLAIM_BATCH,
            max_in_flight: MAX_IN_FLIGHT,
            ..EngineConfig::default()
        })
        .build()?;
    let running = engine.start();
    // Lines from the harness, read on a thread of their own (tokio's stdin is not among
    // the features this crate enables); the channel closes at EOF.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{READY}")?;
        stdout.flush()?;
    }
    loop {
        match lines.recv().await {
            Some(line) if line.trim() == START => break,
            Some(_) => {}
            None => {
                running.shutdown().await;
                anyhow::bail!("worker: stdin closed before the window opened");
            }
        }
    }
    let before = engine.metrics().traces_total();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    match args.window {
        Some(window) => tokio::time::sleep(window).await,
        // Until the next line or EOF.
        None => drop(lines.recv().await),
    }
    let traces = engine.metrics().traces_total() - before;
    let elapsed_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    running.shutdown().await;
    Ok(WorkerReport {
        traces,
        elapsed_s,
        total: engine.metrics().traces_total(),
        cpu_s,
    })
}

/// CPU time so far of the whole machine (busy, not idle) and of the PostgreSQL server's
/// processes, from `/proc` (ticks of 1/100 s).
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    machine_s: f64,
    postgres_s: f64,
}

impl CpuSample {
    /// `None` off Linux.
    fn take() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: all but idle and iowait.
        let busy: f64 = [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| ticks.get(i))
            .sum();
        let mut postgres = 0.0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if stat.contains("(postgres)") {
                postgres += process_ticks(&stat).unwrap_or_default();
            }
        }
        Some(Self {
            at: Instant::now(),
            machine_s: busy / 100.0,
            postgres_s: postgres / 100.0,
        })
    }
}

/// CPU-seconds per second between two samples. A server process that exited in between
/// (a closed connection) is missing from the second, so the server's figure is a floor.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    machine: f64,
    postgres: f64,
}

impl CpuUse {
    fn between(from: Option<CpuSample>, to: Option<CpuSample>) -> Option<Self> {
        let (from, to) = (from?, to?);
        let seconds = to.at.duration_since(from.at).as_secs_f64();
        (seconds > 0.0).then(|| Self {
            machine: (to.machine_s - from.machine_s) / seconds,
            postgres: ((to.postgres_s - from.postgres_s) / seconds).max(0.0),
        })
    }
}

/// How the cores were used in a window, for the notes.
fn cpu_text(cpu: Option<CpuUse>, engines: Option<f64>, cores: usize) -> String {
    let mut text = String::new();
    if let Some(cpu) = cpu {
        text.push_str(&format!(
            "; CPU-s/s in the window: machine {:.2} of {cores}, PostgreSQL server {:.2}",
            cpu.machine, cpu.postgres
        ));
        if let Some(engines) = engines {
            text.push_str(&format!(", engine processes {engines:.2}"));
        }
    } else if let Some(engines) = engines {
        text.push_str(&format!("; engine processes {engines:.2} CPU-s/s"));
    }
    text
}

/// User and system ticks of a `/proc/<pid>/stat` line.
fn process_ticks(stat: &str) -> Option<f64> {
    // Fields after the command name, which is in parentheses: state is field 3, utime
    // and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The server's WAL insert position, in bytes from the start.
async fn wal_position(context: &Context) -> anyhow::Result<f64> {
    let row = context
        .admin
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8",
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// WAL written in a window, for the notes: the whole server's, so other databases' writes
/// count too.
fn wal_text(bytes: f64, units: u64, unit: &str) -> String {
    if units == 0 {
        return String::new();
    }
    format!(
        "; WAL {} MiB, {} KiB a {unit}",
        number(bytes / (1024.0 * 1024.0)),
        number(bytes / 1024.0 / units as f64)
    )
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`; `None` off Linux.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// CPU time (user and system) of this process so far, from `/proc/self/stat` (in ticks
/// of 1/100 s, Linux's `USER_HZ`); `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    process_ticks(&stat).map(|ticks| ticks / 100.0)
}
