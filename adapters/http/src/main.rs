//! The `boxtrace` binary: `serve`, `demo`, `clients`, `providers`.

use std::path::PathBuf;
use std::sync::Arc;

use boxtrace::{Clock, SystemClock, Tenant};
use boxtrace_http::auth::Clients;
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
    Serve {
        /// A TOML configuration file.
        #[arg(long, env = "BOXTRACE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the whole loop on this machine: server, simulated terminal, web-hook receiver.
    Demo(boxtrace_http::demo::DemoOptions),
    /// Manage API clients (with sled, while the server is stopped).
    Clients {
        /// A TOML configuration file (for the data directory).
        #[arg(long, global = true, env = "BOXTRACE_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// List the providers this binary ships.
    Providers,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create a client bound to one organization and service; prints its secret once.
    Create {
        /// Organization id (orgId).
        #[arg(long)]
        org: String,
        /// Service id (svcId).
        #[arg(long)]
        svc: String,
    },
    /// List clients (without secrets).
    List,
    /// Revoke a client: it gets no more tokens and its tokens stop working.
    Revoke {
        /// The client id.
        id: String,
    },
}

fn init_logs(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
        Command::Clients { config, command } => {
            let config = ServerConfig::load(config.as_deref())?;
            init_logs(&config.log);
            let clients = Clients::new(server::open_store(&config).await?);
            let now = SystemClock.now();
            match command {
                ClientsCommand::Create { org, svc } => {
                    let created = clients
                        .create(&Tenant::new(org.trim(), svc.trim()), now)
                        .await?;
                    println!("{}", serde_json::to_string_pretty(&created)?);
                }
                ClientsCommand::List => {
                    let list: Vec<serde_json::Value> = clients
                        .list()
                        .await?
                        .into_iter()
                        .map(|c| {
                            serde_json::json!({
                                "client_id": c.client_id, "org_id": c.org_id, "svc_id": c.svc_id,
                                "created_at": c.created_at, "revoked_at": c.revoked_at,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                }
                ClientsCommand::Revoke { id } => {
                    let revoked = clients.revoke(&id, now).await?;
                    anyhow::ensure!(revoked, "no client '{id}'");
                    println!("{}", serde_json::json!({ "revoked": id }));
                }
            }
        }
        Command::Providers => {
            for provider in boxtrace::registered_providers() {
                println!("{}\t{}", provider.id(), provider.description());
            }
        }
    }
    Ok(())
}
