//! The `boxtrace` binary: `serve`, `demo`, `clients`, `providers`.

use std::path::PathBuf;
use std::sync::Arc;

mod cli;

use boxtrace::{Clock, SystemClock};
use boxtrace_http::{server, ServerConfig};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// sled copies and frees tree nodes on every write; glibc's malloc spent about a third of
/// dispatch time in that churn, mimalloc about half as much (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "boxtrace",
    version,
    about = "Container tracing: events in, signed web-hooks out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (configuration: --config file, then BOXTRACE_* variables).
    #[command(after_help = cli::SERVE_ENVIRONMENT)]
    Serve {
        /// A TOML configuration file (boxtrace.example.toml lists every key).
        #[arg(long, env = "BOXTRACE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the whole loop on this machine: server, simulated terminal, web-hook receiver.
    Demo(boxtrace_http::demo::DemoOptions),
    /// Manage API clients: through a running server's operator API, or in the store.
    Clients(cli::clients::ClientsArgs),
    /// List the providers this binary ships.
    Providers,
}

fn init_logs(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal only: in a file or a log collector the
        // escape codes are noise that breaks searching and parsing.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    boxtrace_http::linked_providers();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = ServerConfig::load(config.as_deref())?;
            init_logs(&config.log);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let shutdown = CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                server::shutdown_signal().await;
                signal.cancel();
            });
            // Listening before the store is open: a load balancer or an orchestrator sees
            // "alive, not ready" while the database is unreachable, not a refused port.
            let listener = server::bind(config.listen).await?;
            server::run(config, clock, listener, shutdown).await?;
        }
        Command::Demo(options) => {
            init_logs("warn");
            boxtrace_http::demo::run(options).await?;
        }
        Command::Clients(args) => cli::clients::run(args).await?,
        Command::Providers => {
            for provider in boxtrace::registered_providers() {
                println!("{}\t{}", provider.id(), provider.description());
            }
        }
    }
    Ok(())
}
