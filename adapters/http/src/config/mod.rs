//! Server configuration: a TOML file, then environment overrides, then defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boxtrace::{EngineConfig, Policy, PostgresConfig, ProviderLimits, Secret};
use serde::Deserialize;

/// Everything `boxtrace serve` needs. Every field has a default except the token key.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`BOXTRACE_LISTEN`).
    pub listen: SocketAddr,
    /// The sled data directory (`BOXTRACE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// sled's page cache in bytes; resident memory follows it.
    pub cache_capacity: u64,
    /// A PostgreSQL URL (`BOXTRACE_DATABASE_URL`). When set, the server keeps everything
    /// in that database instead of sled, and several servers can share it.
    #[serde(deserialize_with = "secret")]
    pub database_url: Option<Secret>,
    /// The PostgreSQL schema holding boxtrace's tables (`BOXTRACE_DATABASE_SCHEMA`),
    /// created and migrated at start-up. Processes on one schema share one store; separate
    /// schemas are separate stores on one database. Lower-case letters, digits and `_`,
    /// starting with a letter or `_`, at most 48 characters.
    pub database_schema: String,
    /// Connections per process to PostgreSQL (`BOXTRACE_DATABASE_POOL_SIZE`); one more is
    /// kept for wake-ups.
    pub database_pool_size: usize,
    /// Longest one PostgreSQL statement may run (`BOXTRACE_DATABASE_STATEMENT_TIMEOUT`,
    /// e.g. `5s`). A statement past it fails and the request gets 503; a transaction left
    /// idle for twice as long is ended by the server, freeing its locks.
    #[serde(with = "humantime_serde")]
    pub database_statement_timeout: Duration,
    /// Longest one PostgreSQL store operation may take, from waiting for a connection to
    /// the commit (`BOXTRACE_DATABASE_OPERATION_TIMEOUT`, e.g. `10s`): boxtrace's own
    /// deadline, which holds when the server or the network stops answering (the
    /// statement timeout needs a server that answers). Past it the request gets 503.
    #[serde(with = "humantime_serde")]
    pub database_operation_timeout: Duration,
    /// Open the sled store even when the record of acknowledged writes beside it says
    /// acknowledged writes are missing (`BOXTRACE_ACCEPT_DATA_LOSS`): what was lost is
    /// logged, and a new record starts. Off by default: the server refuses to start and
    /// says what it found.
    pub accept_data_loss: bool,
    /// Longest one batch of the sled store's writer may run before the store counts as
    /// stuck and the process ends (`BOXTRACE_STORE_STALL_LIMIT`, e.g. `60s`).
    #[serde(with = "humantime_serde")]
    pub store_stall_limit: Duration,
    /// Key that signs access tokens, at least 32 bytes (`BOXTRACE_TOKEN_KEY`).
    #[serde(deserialize_with = "secret")]
    pub token_key: Option<Secret>,
    /// Lifetime of an access token.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// How long the token check trusts a client's status without reading the store
    /// (`BOXTRACE_CLIENT_CACHE_TTL`, e.g. `5s`; `0s` reads it on every request). A
    /// revocation through this server's operator API takes effect at once; one written
    /// by another process (a second server or the CLI on PostgreSQL) within this time.
    #[serde(with = "humantime_serde")]
    pub client_cache_ttl: Duration,
    /// The operator's token, at least 32 bytes (`BOXTRACE_OPERATOR_TOKEN`): it opens the
    /// operator API (`/admin`) and the console. Unset, both are off.
    #[serde(deserialize_with = "secret")]
    pub operator_token: Option<Secret>,
    /// Allow web-hooks to loopback, private, link-local and unique-local addresses
    /// (`BOXTRACE_ALLOW_PRIVATE_WEBHOOKS`). Off by default: on, a client can make the
    /// server call into its own network.
    pub allow_private_webhooks: bool,
    /// Allow `http` web-hook URLs (`BOXTRACE_ALLOW_INSECURE_WEBHOOKS`). Off by default:
    /// results and their signatures would cross the network in clear. Separate from
    /// `allowPrivateWebhooks`: a private target may still be reached over https.
    pub allow_insecure_webhooks: bool,
    /// Provider ids to enable (`BOXTRACE_PROVIDERS`, comma-separated).
    pub providers: Vec<String>,
    /// Per-provider settings, by provider id.
    pub provider: BTreeMap<String, ProviderSection>,
    /// The re-trace policy.
    pub policy: Policy,
    /// Dispatcher settings.
    pub engine: EngineConfig,
    /// HTTP server limits.
    pub http: HttpLimits,
    /// Web-hook delivery.
    pub delivery: DeliveryConfig,
    /// Log filter, `RUST_LOG` syntax (`RUST_LOG` overrides it).
    pub log: String,
    /// The file this configuration was read from (set by [`ServerConfig::from_file`]), so
    /// that errors found later, such as a provider refusing its `config`, can name it.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

/// One provider's section: its own configuration, credentials and limits. Its `Debug`
/// shows credential names, never values.
#[derive(Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSection {
    /// Handed to the provider's factory.
    pub config: Option<serde_json::Value>,
    /// Named secrets, e.g. `subscriptionKey`. Environment variables
    /// `BOXTRACE_<PROVIDER>_<NAME>` override them.
    pub credentials: BTreeMap<String, String>,
    /// Overrides the provider's default limits.
    pub limits: Option<ProviderLimits>,
}

impl std::fmt::Debug for ProviderSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSection")
            .field("config", &self.config)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .finish()
    }
}

/// Limits on every request.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpLimits {
    /// Largest request body, in bytes; larger ones get 413.
    pub body_limit: usize,
    /// A request that takes longer gets 503 with `Retry-After` (the server, not the
    /// client, was slow).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How web-hooks are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Time a receiver has to answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries in flight per endpoint.
    pub concurrency_per_endpoint: usize,
    /// Delay before each retry; after the last, the event is dead (replayable). The
    /// default spans about a day, as the Standard Webhooks guidance suggests.
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// Fraction of each retry delay drawn at random.
    pub jitter: f64,
    /// How often the deliverer looks for retries that came due.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl DeliveryConfig {
    /// The engine's delivery configuration from this one.
    pub fn engine(&self) -> boxtrace::DeliveryConfig {
        boxtrace::DeliveryConfig {
            timeout: self.timeout,
            concurrency: self.concurrency_per_endpoint.max(1),
            claim_ahead: None,
            retry_schedule: self.retry_schedule.clone(),
            jitter: self.jitter,
            seed: None,
            poll_interval: self.poll_interval,
        }
    }
}

impl Default for DeliveryConfig {
    /// The engine's defaults, named as the configuration file names them.
    fn default() -> Self {
        let engine = boxtrace::DeliveryConfig::default();
        Self {
            timeout: engine.timeout,
            concurrency_per_endpoint: engine.concurrency,
            retry_schedule: engine.retry_schedule,
            jitter: engine.jitter,
            poll_interval: engine.poll_interval,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("boxtrace-data"),
            cache_capacity: 64 * 1024 * 1024,
            database_url: None,
            database_schema: PostgresConfig::default().schema,
            database_pool_size: PostgresConfig::default().pool_size,
            database_statement_timeout: PostgresConfig::default().statement_timeout,
            database_operation_timeout: PostgresConfig::default().operation_timeout,
            accept_data_loss: false,
            store_stall_limit: boxtrace::SledConfig::default().stall_limit,
            token_key: None,
            token_ttl: Duration::from_secs(15 * 60),
            client_cache_ttl: crate::auth::DEFAULT_CLIENT_CACHE_TTL,
            operator_token: None,
            allow_private_webhooks: false,
            allow_insecure_webhooks: false,
            providers: vec!["sim".to_owned()],
            provider: BTreeMap::new(),
            policy: Policy::default(),
            engine: EngineConfig::default(),
            http: HttpLimits::default(),
            delivery: DeliveryConfig::default(),
            log: "info".to_owned(),
            config_file: None,
        }
    }
}

fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Ok(Vec::<humantime_serde::Serde<Duration>>::deserialize(d)?
        .into_iter()
        .map(humantime_serde::Serde::into_inner)
        .collect())
}

/// A boolean environment variable.
fn flag(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ConfigError::Env {
            name,
            message: format!("'{value}' is not true or false"),
        }),
    }
}

/// A duration environment variable (`5s`, `1500ms`), longer than zero.
fn duration(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime_serde::re::humantime::parse_duration(value.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::Env {
            name,
            message: format!("'{value}' is not a duration longer than 0, such as 5s or 1500ms"),
        })
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration in {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// An environment variable has a value that does not fit.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// A required setting is missing or too weak.
    #[error("{0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Reads `path` (if given), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.postgres()?;
        Ok(config)
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| {
            // Only the message and the line: the error's own rendering quotes the
            // offending line, which may hold a secret.
            let line = e.span().map(|span| error_line(&text, span));
            ConfigError::Parse {
                path: path.to_owned(),
                message: match line {
                    Some(line) => format!("line {line}: {}", e.message()),
                    None => e.message().to_owned(),
                },
            }
        })?;
        config.config_file = Some(path.to_owned());
        Ok(config)
    }

    /// Applies `BOXTRACE_*` overrides read through `var`.
    pub fn apply_env(
        &mut self,
        var: impl Fn(&'static str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(listen) = var("BOXTRACE_LISTEN") {
            self.listen = listen.parse().map_err(|_| ConfigError::Env {
                name: "BOXTRACE_LISTEN",
                message: format!("'{listen}' is not an address:port such as 127.0.0.1:8080"),
            })?;
        }
        if let Some(url) = var("BOXTRACE_DATABASE_URL").filter(|u| !u.trim().is_empty()) {
            self.database_url = Some(Secret::new(url));
        }
        if let Some(schema) = var("BOXTRACE_DATABASE_SCHEMA") {
            // Checked with the other PostgreSQL settings, by the store's rules, in
            // `postgres`.
            self.database_schema = schema.trim().to_owned();
        }
        if let Some(size) = var("BOXTRACE_DATABASE_POOL_SIZE") {
            self.database_pool_size = size
                .trim()
                .parse()
                .ok()
                .filter(|&n: &usize| n > 0)
                .ok_or_else(|| ConfigError::Env {
                    name: "BOXTRACE_DATABASE_POOL_SIZE",
                    message: format!("'{size}' is not a whole number of connections, at least 1"),
                })?;
        }
        if let Some(timeout) = var("BOXTRACE_DATABASE_STATEMENT_TIMEOUT") {
            self.database_statement_timeout =
                humantime_serde::re::humantime::parse_duration(timeout.trim()).map_err(|e| {
                    ConfigError::Env {
                        name: "BOXTRACE_DATABASE_STATEMENT_TIMEOUT",
                        message: format!("'{timeout}' is not a duration such as 5s or 1500ms: {e}"),
                    }
                })?;
        }
        if let Some(timeout) = var("BOXTRACE_DATABASE_OPERATION_TIMEOUT") {
            self.database_operation_timeout =
                duration("BOXTRACE_DATABASE_OPERATION_TIMEOUT", &timeout)?;
        }
        if let Some(ttl) = var("BOXTRACE_CLIENT_CACHE_TTL") {
            self.client_cache_ttl = humantime_serde::re::humantime::parse_duration(ttl.trim())
                .map_err(|e| ConfigError::Env {
                    name: "BOXTRACE_CLIENT_CACHE_TTL",
                    message: format!("'{ttl}' is not a duration such as 5s or 0s: {e}"),
                })?;
        }
        if let Some(limit) = var("BOXTRACE_STORE_STALL_LIMIT") {
            self.store_stall_limit = duration("BOXTRACE_STORE_STALL_LIMIT", &limit)?;
        }
        if let Some(accept) = var("BOXTRACE_ACCEPT_DATA_LOSS") {
            self.accept_data_loss = flag("BOXTRACE_ACCEPT_DATA_LOSS", &accept)?;
        }
        if let Some(dir) = var("BOXTRACE_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(flag) = var("BOXTRACE_ALLOW_PRIVATE_WEBHOOKS") {
            self.allow_private_webhooks = self::flag("BOXTRACE_ALLOW_PRIVATE_WEBHOOKS", &flag)?;
        }
        if let Some(flag) = var("BOXTRACE_ALLOW_INSECURE_WEBHOOKS") {
            self.allow_insecure_webhooks = self::flag("BOXTRACE_ALLOW_INSECURE_WEBHOOKS", &flag)?;
        }
        if let Some(key) = var("BOXTRACE_TOKEN_KEY") {
            self.token_key = Some(Secret::new(key));
        }
        if let Some(token) = var("BOXTRACE_OPERATOR_TOKEN").filter(|t| !t.trim().is_empty()) {
            self.operator_token = Some(Secret::new(token.trim()));
        }
        if let Some(providers) = var("BOXTRACE_PROVIDERS") {
            self.providers = providers
                .split(',')
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect();
        }
        if let Some(secs) = var("BOXTRACE_LEASE_SECS") {
            let secs: u64 = secs.trim().parse().map_err(|_| ConfigError::Env {
                name: "BOXTRACE_LEASE_SECS",
                message: format!("'{secs}' is not a whole number of seconds"),
            })?;
            self.engine.lease = Duration::from_secs(secs);
        }
        if let Some(retention) = var("BOXTRACE_RETENTION") {
            self.engine.retention =
                EngineConfig::parse_retention(&retention).map_err(|message| ConfigError::Env {
                    name: "BOXTRACE_RETENTION",
                    message,
                })?;
        }
        if let Some(log) = var("BOXTRACE_LOG") {
            self.log = log;
        }
        Ok(())
    }

    /// The PostgreSQL store's configuration when a database URL is set (`None`: sled),
    /// checked as the store checks it when it connects, so that a bad setting stops the
    /// server at once rather than after it started listening. The error never holds the
    /// password.
    pub fn postgres(&self) -> Result<Option<PostgresConfig>, ConfigError> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        if self.database_statement_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "databaseStatementTimeout (BOXTRACE_DATABASE_STATEMENT_TIMEOUT) must be longer than 0, e.g. 5s".into(),
            ));
        }
        let mut pg = PostgresConfig::new(url.expose())
            .with_schema(self.database_schema.clone())
            .with_pool_size(self.database_pool_size);
        pg.statement_timeout = self.database_statement_timeout;
        pg.operation_timeout = self.database_operation_timeout;
        // The store's messages name its own keys (schema, poolSize, url): say where ours are.
        pg.validate().map_err(|e| {
            ConfigError::Invalid(format!(
                "{e} (from databaseUrl, databaseSchema and databasePoolSize in the file, or BOXTRACE_DATABASE_URL, BOXTRACE_DATABASE_SCHEMA and BOXTRACE_DATABASE_POOL_SIZE)"
            ))
        })?;
        Ok(Some(pg))
    }

    /// The operator token, checked: `None` when unset, an error when shorter than 32 bytes.
    pub fn checked_operator_token(&self) -> Result<Option<&Secret>, ConfigError> {
        match &self.operator_token {
            Some(token) if token.expose().len() < crate::auth::MIN_OPERATOR_TOKEN_LEN => {
                Err(ConfigError::Invalid(
                    "the operator token (BOXTRACE_OPERATOR_TOKEN or operatorToken) is shorter than 32 bytes; use at least 32 random bytes, e.g. `openssl rand -base64 32`".into(),
                ))
            }
            token => Ok(token.as_ref()),
        }
    }

    /// The token key, checked: present and at least 32 bytes.
    pub fn checked_token_key(&self) -> Result<&Secret, ConfigError> {
        let key = self.token_key.as_ref().ok_or_else(|| {
            ConfigError::Invalid(
                "no token key: set BOXTRACE_TOKEN_KEY (or tokenKey in the file) to at least 32 random bytes, e.g. `openssl rand -base64 48`".into(),
            )
        })?;
        if key.expose().len() < 32 {
            return Err(ConfigError::Invalid(
                "the token key is shorter than 32 bytes; use at least 32 random bytes".into(),
            ));
        }
        Ok(key)
    }
}

mod lines;
#[cfg(test)]
mod tests;

/// The line (from 1) where a TOML error's span starts (for an unknown key, the key).
fn error_line(text: &str, span: std::ops::Range<usize>) -> usize {
    let start = span.start.min(text.len());
    text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
