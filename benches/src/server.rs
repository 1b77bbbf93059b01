//! The real `boxtrace serve` as a child process: configured through environment and a
//! TOML file, an API client made with `boxtrace clients create`, a token, its resident
//! memory, and a clean stop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;
use tokio::process::{Child, Command};

use crate::proc_status_kib;

/// The tenant the harness's events name (`export_event`).
pub const ORG: &str = "3b42ff39-d731-43f6-a8a2-1b257f87469e";
/// The service the harness's events name.
pub const SVC: &str = "7cd437c3-f25a-4e22-b221-47b6485f140d";
/// Signs the server's access tokens in benchmarks only.
const TOKEN_KEY: &str = "boxtrace-bench-token-key-0123456789abcdef0123456789abcdef";

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `boxtrace` binary.
    pub bin: PathBuf,
    /// Its data directory (sled), also where the configuration file and log are written.
    pub data_dir: PathBuf,
    /// Extra environment, e.g. `BOXTRACE_DATABASE_URL`.
    pub env: Vec<(String, String)>,
    /// A TOML configuration file's content.
    pub config: String,
}

impl Launch {
    /// The sim provider at zero latency on sled in `data_dir`; web-hooks to loopback allowed.
    pub fn new(bin: PathBuf, data_dir: &Path) -> Self {
        Self {
            bin,
            data_dir: data_dir.to_owned(),
            env: Vec::new(),
            config: String::new(),
        }
    }

    /// With one more environment variable.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// With this TOML configuration.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = toml.into();
        self
    }

    fn command(&self) -> anyhow::Result<Command> {
        std::fs::create_dir_all(&self.data_dir)?;
        let config = self.data_dir.join("bench.toml");
        std::fs::write(&config, &self.config)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("server.log"))?;
        let mut command = Command::new(&self.bin);
        command
            .env("BOXTRACE_CONFIG", &config)
            .env("BOXTRACE_DATA_DIR", self.data_dir.join("db"))
            .env("BOXTRACE_TOKEN_KEY", TOKEN_KEY)
            .env("BOXTRACE_ALLOW_PRIVATE_WEBHOOKS", "true")
            .env("BOXTRACE_ALLOW_INSECURE_WEBHOOKS", "true")
            .env("BOXTRACE_PROVIDERS", "sim")
            .env("BOXTRACE_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        Ok(command)
    }

    /// `boxtrace clients create` for the harness's tenant (before `serve` on sled, in a
    /// new store: `--create-store`).
    pub async fn create_client(&self) -> anyhow::Result<ApiClient> {
        let output = self
            .command()?
            .args([
                "clients",
                "create",
                "--create-store",
                "--org",
                ORG,
                "--svc",
                SVC,
            ])
            .stdout(Stdio::piped())
            .output()
            .await
            .context("running boxtrace clients create")?;
        anyhow::ensure!(
            output.status.success(),
            "boxtrace clients create failed ({}); see {}",
            output.status,
            self.data_dir.join("server.log").display()
        );
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// Starts `boxtrace serve` on a free port and waits until `/readyz` answers 200.
    /// Returns the server and the time from spawn to ready.
    pub async fn serve(&self) -> anyhow::Result<(Server, Duration)> {
        let port = free_port()?;
        let started = Instant::now();
        let child = self
            .command()?
            .env("BOXTRACE_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let server = Server {
            pid: child.id().unwrap_or_default(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        loop {
            if let Ok(r) = server.http.get(server.url("/readyz")).send().await {
                if r.status().is_success() {
                    return Ok((server, started.elapsed()));
                }
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "the server was not ready after 120 s; see {}",
                self.data_dir.join("server.log").display()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An API client's credentials.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiClient {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

/// A running `boxtrace serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pid: u32,
    base: String,
    http: reqwest::Client,
}

impl Server {
    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An access token for `client`.
    pub async fn token(&self, client: &ApiClient) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let token: Token = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(token.access_token)
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        proc_status_kib(self.pid, "VmRSS:").map(|k| k as f64 / 1024.0)
    }

    /// Peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        proc_status_kib(self.pid, "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// A counter from `/metrics`, summed over its label sets.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// SIGTERM, then waits up to 30 s for a clean exit (SIGKILL after that).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("the server did not stop within 30 s of SIGTERM");
            }
        }
        Ok(())
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
