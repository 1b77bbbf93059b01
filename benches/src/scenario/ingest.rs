//! Ingest: durable publishes per second through `POST /api/events` of the real
//! `boxtrace serve` (sled, and PostgreSQL when a database is given), against two
//! baselines in the same run, each in its own process under the same load generator:
//!
//! - `bare-server`: an axum handler that parses and validates the same JSON and answers
//!   202 without storing or authenticating (what HTTP and parsing cost);
//! - `bare-sled-server` (`crate::baseline::sled_ingest`): the same handler, answering
//!   202 only after a group-committed sled flush of the event (what durable ingest on
//!   sled allows).
//!
//! Every 202 of `boxtrace serve` means the job is on disk. `serve` is measured twice:
//! as it runs by default (the sim provider at zero latency traces each job as soon as
//! it is accepted, so the writer also claims, commits and fans out every job inside the
//! window), and with the provider held to one trace a second (publishes alone). Each
//! connection count (`--connections`, default 64) is measured with every server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use boxtrace::Command;
use tokio::process::Command as Process;

use crate::load::{closed_loop, LoadOutcome, Target};
use crate::options::Options;
use crate::postgres_schema::Schema;
use crate::report::{Figure, Report};
use crate::server::{free_port, Launch};
use crate::stats::ms;

/// The target for `boxtrace serve` against the bare handler.
const TARGET: &str = "≥ 0.35 × baseline";

/// Limits that hold the sim provider to one trace a second, so that a load of publishes
/// measures the ingest path without the first traces it would otherwise start.
const TRACES_HELD_BACK: &str =
    "[provider.sim.limits]\nconcurrency = 1\nratePerSecond = 1\nburst = 1\n";

/// Runs the scenario at every connection count.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let counts = if !options.connections.is_empty() {
        options.connections.clone()
    } else if options.quick {
        vec![8]
    } else {
        vec![64]
    };
    for connections in counts {
        report.extend(measure(options, connections).await?);
    }
    Ok(report)
}

/// The three servers (and PostgreSQL) under `connections` clients. Figure ids are
/// `ingest/c<connections>/<server>/...`.
async fn measure(options: &Options, connections: usize) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let warmup = if options.quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    let window = options.window_or(Duration::from_secs(1), Duration::from_secs(10));
    let c = format!("c{connections}");

    let mut bare = baseline(&["bare-server"], connections, warmup, window).await?;
    let bare_rate = bare.per_second();
    report.push(Figure::new(
        format!("ingest/{c}/bare/req_per_s"),
        format!("bare axum handler: parse, validate, 202 ({connections} clients)"),
        bare_rate,
        "req/s",
    ));
    report.push(Figure::new(
        format!("ingest/{c}/bare/p99"),
        format!("bare axum handler: latency p99 ({connections} clients)"),
        ms(bare.latency.quantile(0.99)),
        "ms",
    ));

    let dir = options.scratch("ingest-bare-sled")?;
    let data_dir = dir.path().join("db");
    let mut bare_sled = baseline(
        &["bare-sled-server", "--data-dir", path_arg(&data_dir)?],
        connections,
        warmup,
        window,
    )
    .await?;
    drop(dir);
    let bare_sled_rate = bare_sled.per_second();
    report.push(
        Figure::new(
            format!("ingest/{c}/bare_sled/req_per_s"),
            format!("bare axum handler + sled group commit: 202 after the flush ({connections} clients)"),
            bare_sled_rate,
            "req/s",
        )
        .baseline("bare axum handler", bare_rate)
        .target("– (the issue measured 0.43)"),
    );
    report.push(Figure::new(
        format!("ingest/{c}/bare_sled/p99"),
        format!("bare axum handler + sled group commit: latency p99 ({connections} clients)"),
        ms(bare_sled.latency.quantile(0.99)),
        "ms",
    ));

    let bin = options.server_bin()?;
    let dir = options.scratch("ingest")?;
    let sled = served(
        Launch::new(bin.clone(), dir.path()),
        connections,
        warmup,
        window,
    )
    .await?;
    report.push(
        Figure::new(
            format!("ingest/{c}/sled/vs_bare_sled"),
            format!("boxtrace serve on sled against the sled group-commit baseline ({connections} clients)"),
            sled.per_second(),
            "req/s",
        )
        .baseline("bare axum handler + sled group commit", bare_sled_rate),
    );
    push_store(&mut report, &c, "sled", sled, bare_rate, connections);
    drop(dir);

    // The figure above includes the first trace of every published job: `serve` traces
    // what it accepts at once (sim at zero latency), so its writer also claims, commits
    // and fans out each job while the window runs. With the provider held to one trace
    // a second, the same load measures publishes alone: what the ingest path costs.
    let dir = options.scratch("ingest-alone")?;
    let alone = served(
        Launch::new(bin.clone(), dir.path()).config(TRACES_HELD_BACK),
        connections,
        warmup,
        window,
    )
    .await?;
    report.push(
        Figure::new(
            format!("ingest/{c}/sled_alone/req_per_s"),
            format!("boxtrace serve on sled: durable publishes, traces held back to 1/s ({connections} clients)"),
            alone.per_second(),
            "req/s",
        )
        .baseline("bare axum handler", bare_rate)
        .target(TARGET),
    );
    report.push(Figure::new(
        format!("ingest/{c}/sled_alone/vs_bare_sled"),
        format!("boxtrace serve on sled, traces held back, against the sled group-commit baseline ({connections} clients)"),
        alone.per_second(),
        "req/s",
    )
    .baseline("bare axum handler + sled group commit", bare_sled_rate));
    drop(dir);

    if let Some(url) = &options.database_url {
        let schema = Schema::create(url, "bench_ingest").await?;
        let dir = options.scratch("ingest-pg")?;
        let launch = Launch::new(bin, dir.path())
            .env("BOXTRACE_DATABASE_URL", url.as_str())
            .env("BOXTRACE_DATABASE_SCHEMA", schema.name());
        let outcome = served(launch, connections, warmup, window).await;
        schema.drop().await?;
        push_store(
            &mut report,
            &c,
            "postgres",
            outcome?,
            bare_rate,
            connections,
        );
        report.note("ingest on PostgreSQL: the database server shares this 2-core machine with boxtrace and the load generator");
    } else {
        report.note("ingest on PostgreSQL skipped: no --database-url");
    }
    report.note(format!(
        "ingest: {connections} HTTP/1.1 clients on loopback, one new container per request, {warmup:?} warm-up then a {window:?} window; load generator, servers and baselines share the 2 cores"
    ));
    Ok(report)
}

fn path_arg(path: &Path) -> anyhow::Result<&str> {
    path.to_str().ok_or_else(|| {
        anyhow::anyhow!(
            "the work directory {} is not UTF-8: pass another --work-dir",
            path.display()
        )
    })
}

fn push_store(
    report: &mut Report,
    c: &str,
    store: &str,
    mut outcome: LoadOutcome,
    bare_rate: f64,
    connections: usize,
) {
    report.push(
        Figure::new(
            format!("ingest/{c}/{store}/req_per_s"),
            format!("boxtrace serve on {store}: durable publishes ({connections} clients)"),
            outcome.per_second(),
            "req/s",
        )
        .baseline("bare axum handler", bare_rate)
        .target(TARGET),
    );
    report.push(Figure::new(
        format!("ingest/{c}/{store}/p50"),
        format!("boxtrace serve on {store}: latency p50 ({connections} clients)"),
        ms(outcome.latency.quantile(0.5)),
        "ms",
    ));
    report.push(Figure::new(
        format!("ingest/{c}/{store}/p99"),
        format!("boxtrace serve on {store}: latency p99 ({connections} clients)"),
        ms(outcome.latency.quantile(0.99)),
        "ms",
    ));
    if outcome.failed > 0 {
        report.note(format!(
            "ingest on {store}: {} requests failed, first: {}",
            outcome.failed,
            outcome.first_failure.unwrap_or_default()
        ));
    }
}

async fn served(
    launch: Launch,
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<LoadOutcome> {
    let client = launch.create_client().await?;
    let (server, _) = launch.serve().await?;
    let target = Target {
        url: server.url("/api/events"),
        token: Some(server.token(&client).await?),
        first_container: 0,
    };
    let outcome = closed_loop(&target, connections, warmup, window).await;
    server.stop().await?;
    let outcome = outcome?;
    anyhow::ensure!(
        outcome.accepted > 0,
        "no publish was accepted: {:?}",
        outcome.first_failure
    );
    Ok(outcome)
}

/// Starts `boxtrace-bench <args> --listen ADDR` and loads it.
async fn baseline(
    args: &[&str],
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<LoadOutcome> {
    let port = free_port()?;
    let mut child = Process::new(crate::options::harness_bin()?)
        .args(args)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .kill_on_drop(true)
        .spawn()?;
    let target = Target {
        url: format!("http://127.0.0.1:{port}/api/events"),
        token: None,
        first_container: 0,
    };
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the baseline server ({}) did not start",
            args.join(" ")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcome = closed_loop(&target, connections, warmup, window).await;
    child.kill().await?;
    let outcome = outcome?;
    anyhow::ensure!(
        outcome.accepted > 0,
        "the baseline server ({}) accepted nothing: {:?}",
        args.join(" "),
        outcome.first_failure
    );
    Ok(outcome)
}

/// The baseline server's `main`: `boxtrace-bench bare-server --listen ADDR`.
pub fn bare_server_main(listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let router = axum::Router::new().route(
            "/api/events",
            post(|body: Bytes| async move {
                match Command::from_json(&body) {
                    Ok(command) => (
                        StatusCode::ACCEPTED,
                        format!("{{\"action\":\"{:?}\"}}", command.action()),
                    ),
                    Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, router).await?;
        anyhow::Ok(())
    })
}
