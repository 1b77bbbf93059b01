//! `boxtrace clients`: API clients through a running server's operator API, or in the
//! store directly when no server runs. Either way it says on stderr which it used.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use boxtrace::{Clock, PostgresConfig, PostgresStore, Store, SystemClock};
use boxtrace_http::auth::{client_tenant, Clients};
use boxtrace_http::{server, ServerConfig};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// Where `boxtrace clients` does its work.
#[derive(Debug, Args)]
pub struct ClientsArgs {
    /// A TOML configuration file (data directory, database, listen address, operator token).
    #[arg(long, global = true, env = "BOXTRACE_CONFIG")]
    config: Option<PathBuf>,
    /// Use the operator API of the server at this URL (with BOXTRACE_OPERATOR_TOKEN).
    #[arg(
        long,
        global = true,
        env = "BOXTRACE_SERVER_URL",
        conflicts_with = "local"
    )]
    server: Option<String>,
    /// Open the store directly even when a server answers on the configured address.
    #[arg(long, global = true)]
    local: bool,
    /// Make a new store when the configured one does not exist (a sled data directory, or a
    /// PostgreSQL schema). Without it, a missing store is an error (a mistyped
    /// BOXTRACE_DATA_DIR or BOXTRACE_DATABASE_SCHEMA would otherwise put the client in a
    /// new, empty store that no server reads).
    #[arg(long, global = true)]
    create_store: bool,
    #[command(subcommand)]
    command: ClientsCommand,
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

/// How long the CLI waits for a server's `/healthz` before it takes the server for absent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one operator API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `boxtrace clients …`: prints the result as JSON on stdout.
pub async fn run(args: ClientsArgs) -> anyhow::Result<()> {
    let config = ServerConfig::load(args.config.as_deref())?;
    crate::init_logs(&config.log);
    let creating = matches!(args.command, ClientsCommand::Create { .. });
    let output = if let Some(url) = &args.server {
        let api = OperatorApi::new(url, &config)?;
        eprintln!(
            "boxtrace clients: using the operator API of {} (--server, BOXTRACE_SERVER_URL)",
            api.base
        );
        api.run(args.command).await?
    } else if let Some(api) = detected_server(&args, &config).await? {
        eprintln!(
            "boxtrace clients: a server answers on {}: using its operator API (--local opens the store instead)",
            api.base
        );
        api.run(args.command).await?
    } else {
        local(&args, &config).await?
    };
    // A closed stdout (`boxtrace clients list | head -1`) is an error to report, not a
    // panic as `println!` would make it; after `create` the secret is lost with it.
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&output)?)
        .with_context(|| {
            if creating {
                format!(
                    "the client {} was created, but its secret could not be written to stdout: revoke it and create another",
                    output["client_id"].as_str().unwrap_or("(unknown)")
                )
            } else {
                "the result could not be written to stdout".to_owned()
            }
        })?;
    Ok(())
}

/// The server on the configured listen address, when it answers `/healthz` and an
/// operator token is configured (without one its operator API cannot be used).
async fn detected_server(
    args: &ClientsArgs,
    config: &ServerConfig,
) -> anyhow::Result<Option<OperatorApi>> {
    if args.local || config.operator_token.is_none() {
        return Ok(None);
    }
    let base = listen_url(config);
    if !answers(&base).await {
        return Ok(None);
    }
    Ok(Some(OperatorApi::new(&base, config)?))
}

/// The URL of the configured listen address, with an unspecified address (`0.0.0.0`, `::`)
/// replaced by loopback.
fn listen_url(config: &ServerConfig) -> String {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Whether a boxtrace server answers `/healthz` at `base`.
async fn answers(base: &str) -> bool {
    let Ok(http) = reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() else {
        return false;
    };
    matches!(
        http.get(format!("{base}/healthz")).send().await,
        Ok(r) if r.status().is_success()
    )
}

/// The operator API of one server.
struct OperatorApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl OperatorApi {
    fn new(url: &str, config: &ServerConfig) -> anyhow::Result<Self> {
        let base = url::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| {
                format!("--server (BOXTRACE_SERVER_URL) '{url}' is not an http(s) URL such as http://127.0.0.1:8080")
            })?;
        let token = config.operator_token.as_ref().context(
            "the operator API needs the server's operator token: set BOXTRACE_OPERATOR_TOKEN (or operatorToken in --config)",
        )?;
        if sends_in_clear(&base) {
            eprintln!(
                "boxtrace clients: warning: the operator token goes unencrypted to {}: use https:// (a TLS proxy in front of the server) beyond this machine",
                base.host_str().unwrap_or_default()
            );
        }
        Ok(Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
            token: token.expose().to_owned(),
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()?,
        })
    }

    async fn run(&self, command: ClientsCommand) -> anyhow::Result<Value> {
        let clients = format!("{}/admin/clients", self.base);
        let request = match &command {
            ClientsCommand::Create { org, svc } => self
                .http
                .post(&clients)
                .json(&json!({ "orgId": org, "svcId": svc })),
            ClientsCommand::List => self.http.get(&clients),
            ClientsCommand::Revoke { id } => {
                let mut url = url::Url::parse(&clients)?;
                url.path_segments_mut()
                    .map_err(|()| anyhow::anyhow!("{clients} cannot take a path"))?
                    .push(id);
                self.http.delete(url)
            }
        };
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"].as_str().unwrap_or("no detail");
            anyhow::bail!("the server at {} answered {status}: {detail}", self.base);
        }
        Ok(match command {
            ClientsCommand::Revoke { id } => json!({ "revoked": id }),
            _ => body,
        })
    }
}

/// Whether requests to `url` carry the operator token unencrypted beyond this machine
/// (plain http to a host that is not loopback).
fn sends_in_clear(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

/// The command run on the store itself: what the configuration names, and nothing the
/// configuration does not name.
async fn local(args: &ClientsArgs, config: &ServerConfig) -> anyhow::Result<Value> {
    let store = if let Some(pg) = config.postgres()? {
        eprintln!(
            "boxtrace clients: using the PostgreSQL store {}, schema {} (BOXTRACE_DATABASE_URL, BOXTRACE_DATABASE_SCHEMA)",
            without_password(pg.url.as_str()),
            config.database_schema
        );
        if !args.create_store && !schema_exists(&pg).await? {
            anyhow::bail!(
                "there is no boxtrace schema '{}' in that database: set BOXTRACE_DATABASE_SCHEMA (or databaseSchema in --config) to the server's, or pass --create-store to make a new store there",
                pg.schema
            );
        }
        // One attempt, bounded by the connect timeout: the server waits for its database,
        // but a command that retried for ever would hang on a mistyped URL.
        let store = PostgresStore::connect(pg).await.context(
            "the PostgreSQL store cannot be used: check BOXTRACE_DATABASE_URL and that the database is up",
        )?;
        Arc::new(store) as Arc<dyn Store>
    } else {
        let dir = absolute(&config.data_dir);
        if !dir.exists() && !args.create_store {
            anyhow::bail!(
                "there is no sled data directory at {}: set BOXTRACE_DATA_DIR (or dataDir in --config) to the server's, or pass --create-store to make a new store there",
                dir.display()
            );
        }
        eprintln!(
            "boxtrace clients: using the sled store in {} (BOXTRACE_DATA_DIR)",
            dir.display()
        );
        server::open_store(config).await.map_err(|e| {
            // The server holding the directory is the usual reason it cannot be opened:
            // say how to reach its clients then.
            anyhow::anyhow!(
                "{e}\nIf a boxtrace server runs on this directory, manage clients through its operator API: set BOXTRACE_OPERATOR_TOKEN to the server's operator token and pass --server http://HOST:PORT (or let the CLI find the server on BOXTRACE_LISTEN, {})",
                listen_url(config)
            )
        })?
    };
    let clients = Clients::new(store);
    let now = SystemClock.now();
    Ok(match &args.command {
        ClientsCommand::Create { org, svc } => {
            let tenant = client_tenant(org, svc)?;
            serde_json::to_value(clients.create(&tenant, now).await?)?
        }
        ClientsCommand::List => Value::Array(
            clients
                .list()
                .await?
                .into_iter()
                .map(|c| {
                    json!({
                        "client_id": c.client_id, "org_id": c.org_id, "svc_id": c.svc_id,
                        "created_at": c.created_at, "revoked_at": c.revoked_at,
                    })
                })
                .collect(),
        ),
        ClientsCommand::Revoke { id } => {
            anyhow::ensure!(clients.revoke(id, now).await?, "no client '{id}'");
            json!({ "revoked": id })
        }
    })
}

/// Whether the schema `pg` names exists. Opening the store would create it, so a mistyped
/// BOXTRACE_DATABASE_SCHEMA would put the client in a new, empty store no server reads.
async fn schema_exists(pg: &PostgresConfig) -> anyhow::Result<bool> {
    let unusable =
        "the PostgreSQL store cannot be used: check BOXTRACE_DATABASE_URL and that the database is up";
    // The driver's errors name neither the URL nor the password.
    let mut driver: tokio_postgres::Config = pg
        .url
        .parse()
        .context("BOXTRACE_DATABASE_URL is not a PostgreSQL URL or connection string")?;
    driver.connect_timeout(pg.connect_timeout);
    let (client, connection) = driver
        .connect(tokio_postgres::NoTls)
        .await
        .context(unusable)?;
    let connection = tokio::spawn(connection);
    let found = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&pg.schema],
        )
        .await
        .context(unusable)?;
    drop(client);
    connection.abort();
    Ok(found.is_some())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Where a database URL points, fit for the terminal: `user@host:port/db`, never the
/// password or the query (which may hold one).
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}@{}:{}{}",
            parsed.username(),
            parsed.host_str().unwrap_or_default(),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        // A key=value connection string: name nothing of it.
        Err(_) => "(key=value connection string)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_listening_on_every_address_is_asked_on_loopback() {
        let mut config = ServerConfig {
            listen: "0.0.0.0:9090".parse().unwrap(),
            ..ServerConfig::default()
        };
        assert_eq!(listen_url(&config), "http://127.0.0.1:9090");
        config.listen = "[::]:9090".parse().unwrap();
        assert_eq!(listen_url(&config), "http://[::1]:9090");
        config.listen = "10.1.2.3:8080".parse().unwrap();
        assert_eq!(listen_url(&config), "http://10.1.2.3:8080");
    }

    #[test]
    fn plain_http_beyond_loopback_is_flagged() {
        let flagged = |u: &str| sends_in_clear(&url::Url::parse(u).unwrap());
        assert!(flagged("http://10.1.2.3:8080"));
        assert!(flagged("http://boxtrace.internal"));
        assert!(!flagged("https://boxtrace.internal"));
        assert!(!flagged("http://127.0.0.1:8080"));
        assert!(!flagged("http://[::1]:8080"));
        assert!(!flagged("http://localhost:8080"));
    }

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("postgres://app:s3cret@db.internal/boxtrace?password=s3cret"),
            "app@db.internal:5432/boxtrace"
        );
        assert!(!without_password("host=db password=s3cret").contains("s3cret"));
    }
}
