//! `boxtrace-bench`: the macro benchmarks. `boxtrace-bench run dispatch`, `… run all
//! --quick`; `benches/README.md` lists the commands behind every figure.
//! `boxtrace-bench lifecycles --out FILE` writes a generated fleet as a lifecycle file.

use std::path::PathBuf;
use std::time::Duration;

use boxtrace_benches::options::Options;
use boxtrace_benches::report::Report;
use boxtrace_benches::scenario::Scenario;
use clap::{Parser, Subcommand};

/// As the `boxtrace` binary: sled's node churn is malloc-bound.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "boxtrace-bench", about = "boxtrace's macro benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs scenarios and prints their figures as a Markdown table (medians over runs).
    Run {
        /// The scenarios; `all` for every one.
        #[arg(required = true)]
        scenarios: Vec<String>,
        /// Seconds, not minutes: small sizes and short windows (the figures mean little).
        #[arg(long)]
        quick: bool,
        /// Runs of each scenario; the table shows medians.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Job counts for the dispatch scenarios, e.g. `--jobs 10000 --jobs 1000000`.
        #[arg(long)]
        jobs: Vec<u64>,
        /// Length of each measured window, e.g. `15s`.
        #[arg(long, value_parser = humantime::parse_duration)]
        window: Option<Duration>,
        /// Where data directories are made (and removed).
        #[arg(long, default_value = "target/bench-work")]
        work_dir: PathBuf,
        /// The `boxtrace` binary (default: beside this one).
        #[arg(long)]
        server_bin: Option<PathBuf>,
        /// PostgreSQL for the PostgreSQL scenarios.
        #[arg(long, env = "BOXTRACE_BENCH_DATABASE_URL")]
        database_url: Option<String>,
        /// Also write every figure of every run as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// sled's page cache in the dispatch scenario, in MiB (default: the store's, 64).
        #[arg(long)]
        cache_mib: Option<u64>,
        /// Efficiency: replay this lifecycle file (JSON Lines, see providers/sim/README.md).
        #[arg(long)]
        lifecycles: Option<PathBuf>,
        /// Efficiency: the terminal model, `vessels` (default) or `independent` (2026-11).
        #[arg(long, value_parser = ["vessels", "independent"])]
        model: Option<String>,
        /// Efficiency: seeds the fleet and the engine's jitter (default 2026).
        #[arg(long)]
        seed: Option<u64>,
        /// Efficiency: boxes in the generated fleet (default 1,500).
        #[arg(long)]
        boxes: Option<usize>,
        /// Ingest: HTTP clients of the load generator (default 64); repeat it to measure
        /// several counts, e.g. `--connections 64 --connections 256`.
        #[arg(long)]
        connections: Vec<usize>,
    },
    /// Writes a generated fleet as a lifecycle file (JSON Lines, see
    /// providers/sim/README.md); the defaults are the efficiency scenario's fleet.
    Lifecycles(boxtrace_benches::lifecycles::LifecycleArgs),
    /// A bare axum server that parses events and answers 202 (the ingest baseline).
    #[command(hide = true)]
    BareServer {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// The ingest scenario's second baseline: parse, then append to sled through a
    /// group-commit writer and answer 202 after the flush.
    #[command(hide = true)]
    BareSledServer {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The sled directory (created).
        #[arg(long)]
        data_dir: PathBuf,
        /// sled's page cache in MiB (the engine's default, 64).
        #[arg(long, default_value_t = 64)]
        cache_mib: u64,
    },
    /// One engine process of the `postgres` scenario (started by it).
    #[command(hide = true)]
    PgWorker(boxtrace_benches::scenario::postgres::WorkerArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::BareServer { listen } => {
            boxtrace_benches::scenario::ingest::bare_server_main(listen)
        }
        Command::BareSledServer {
            listen,
            data_dir,
            cache_mib,
        } => boxtrace_benches::baseline::sled_ingest::main(
            listen,
            &data_dir,
            cache_mib * 1024 * 1024,
        ),
        Command::PgWorker(args) => boxtrace_benches::scenario::postgres::worker_main(args),
        Command::Lifecycles(args) => {
            let written = args.run()?;
            eprintln!(
                "wrote {}: {} boxes, {} visits, first publish {}",
                args.out.display(),
                written.boxes().count(),
                written.visits().count(),
                args.fleet().start.to_rfc3339()
            );
            Ok(())
        }
        Command::Run {
            scenarios,
            quick,
            runs,
            jobs,
            window,
            work_dir,
            server_bin,
            database_url,
            json,
            cache_mib,
            lifecycles,
            model,
            seed,
            boxes,
            connections,
        } => {
            let chosen = parse_scenarios(&scenarios)?;
            let options = Options {
                quick,
                work_dir,
                server_bin,
                database_url,
                jobs,
                window,
                cache_mib,
                lifecycles,
                model,
                seed,
                boxes,
                connections,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let mut report = Report::default();
            for scenario in chosen {
                for run in 1..=runs.max(1) {
                    eprintln!("running {scenario:?} ({run}/{runs})");
                    let one = runtime.block_on(scenario.run(&options))?;
                    eprintln!("{}", one.markdown());
                    report.extend(one);
                }
            }
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            }
            println!("{}", report.markdown());
            Ok(())
        }
    }
}

fn parse_scenarios(names: &[String]) -> anyhow::Result<Vec<Scenario>> {
    use clap::ValueEnum as _;
    let mut chosen = Vec::new();
    for name in names {
        if name == "all" {
            chosen.extend(Scenario::ALL);
        } else {
            chosen.push(Scenario::from_str(name, true).map_err(|e| {
                anyhow::anyhow!("{e}; scenarios: all, ingest, dispatch, lateness, memory, webhooks, efficiency, apalis, postgres")
            })?);
        }
    }
    Ok(chosen)
}
