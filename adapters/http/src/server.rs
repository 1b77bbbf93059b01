//! Building and running the server: the engine from configuration, the router, the
//! deliverer, and graceful shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    Clock, Credentials, CredentialsError, Engine, EngineHandle, EnvCredentials, PostgresConfig,
    PostgresStore, ProviderCredentials, SledConfig, SledStore, Store, Tenant,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Clients, Tokens};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::webhooks::{ssrf::Guard, Deliverer, Webhooks};

/// How long connections may take to finish once a shutdown starts.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] boxtrace::Error),
    /// The store could not be opened.
    #[error("{0}")]
    Store(#[from] boxtrace::StoreError),
    /// Listening or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client for deliveries could not be built.
    #[error("web-hook client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Provider credentials from the configuration file, overridden by
/// `BOXTRACE_<PROVIDER>_<NAME>` environment variables.
#[derive(Debug)]
pub struct ConfiguredCredentials {
    file: BTreeMap<String, ProviderCredentials>,
    env: EnvCredentials,
}

impl ConfiguredCredentials {
    /// From the configuration's provider sections and the process environment.
    pub fn new(config: &ServerConfig) -> Self {
        let file = config
            .provider
            .iter()
            .map(|(id, section)| {
                let mut credentials = ProviderCredentials::new();
                for (name, value) in &section.credentials {
                    credentials.insert(name, value.clone());
                }
                (id.to_ascii_lowercase(), credentials)
            })
            .collect();
        Self {
            file,
            env: EnvCredentials::from_env(),
        }
    }
}

#[async_trait]
impl Credentials for ConfiguredCredentials {
    async fn credentials(
        &self,
        provider_id: &str,
        tenant: &Tenant,
    ) -> Result<ProviderCredentials, CredentialsError> {
        let mut merged = self.file.get(provider_id).cloned().unwrap_or_default();
        let from_env = self.env.credentials(provider_id, tenant).await?;
        merged.extend(from_env);
        Ok(merged)
    }
}

/// Opens the store the configuration names: PostgreSQL when a database URL is set
/// (retrying, with a log line an operator can act on, while the database is unreachable),
/// sled otherwise.
pub async fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, ServerError> {
    if let Some(url) = &config.database_url {
        let pg = PostgresConfig::new(url.expose()).with_pool_size(config.database_pool_size.max(1));
        let mut wait = std::time::Duration::from_millis(250);
        loop {
            match PostgresStore::connect(pg.clone()).await {
                Ok(store) => {
                    tracing::info!("using the PostgreSQL store");
                    return Ok(Arc::new(store));
                }
                Err(e) if e.is_retryable() => {
                    // The error never holds the password (PostgresError's contract).
                    tracing::warn!(error = %e, retry_in = ?wait, "PostgreSQL is unreachable; check BOXTRACE_DATABASE_URL and that the server is up; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(boxtrace::StoreError::from(e).into()),
            }
        }
    }
    open_sled(config)
}

fn open_sled(config: &ServerConfig) -> Result<Arc<dyn Store>, ServerError> {
    let sled = SledConfig {
        path: config.data_dir.clone(),
        cache_capacity: config.cache_capacity,
        ..SledConfig::default()
    };
    let store = SledStore::open(&sled).map_err(|e| {
        boxtrace::StoreError::Unavailable(format!(
            "{e} (sled allows one process per data directory: stop the running server, or use another BOXTRACE_DATA_DIR)"
        ))
    })?;
    Ok(Arc::new(store))
}

/// A built server, not yet serving.
#[derive(Debug)]
pub struct App {
    state: AppState,
    config: ServerConfig,
}

impl App {
    /// Builds the engine (providers from the registry by configuration), the store, the
    /// auth parts and the deliverer. `clock` is the engine's time (the system clock,
    /// or an accelerated one for the demo).
    pub async fn build(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Self, ServerError> {
        let key = config.checked_token_key()?.clone();
        let store = open_store(&config).await?;
        let mut builder = Engine::builder()
            .shared_store(store.clone())
            .credentials(ConfiguredCredentials::new(&config))
            .policy(config.policy.clone())
            .config(config.engine.clone());
        builder = builder.shared_clock(clock);
        for id in &config.providers {
            let section = config.provider.get(id).cloned().unwrap_or_default();
            builder =
                builder.registered_provider(id, section.config.unwrap_or(serde_json::Value::Null));
            if let Some(limits) = section.limits {
                builder = builder.provider_limits(id, limits);
            }
        }
        let engine = builder.build()?;
        let guard = Guard::new(config.allow_private_webhooks);
        let webhooks = Webhooks::new(store.clone());
        let metrics = Arc::new(Metrics::default());
        let deliverer = Deliverer::new(
            engine.clone(),
            webhooks.clone(),
            guard,
            config.delivery.clone(),
            metrics.clone(),
        )?;
        let state = AppState {
            clients: Clients::new(store),
            tokens: Tokens::new(&key, config.token_ttl),
            engine,
            webhooks,
            deliverer,
            guard,
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self { state, config })
    }

    /// The shared state (for the demo and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, ServerError> {
        TcpListener::bind(self.config.listen).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {}: {e}", self.config.listen),
            )
            .into()
        })
    }

    /// Serves on `listener` until `shutdown` is cancelled; then stops accepting, lets
    /// requests, traces and deliveries in flight finish, and flushes the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        let local = listener.local_addr()?;
        let running = self.start_background(shutdown.clone());
        let router = crate::routes::router(self.state.clone(), &self.config.http);
        self.state.ready.store(true, Ordering::Relaxed);
        tracing::info!(listen = %local, providers = ?self.state.engine.providers(), "boxtrace is serving");
        let stop = shutdown.clone();
        let ready = self.state.ready.clone();
        let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
            stop.cancelled().await;
            // Not ready from the first moment of the shutdown, so load balancers stop
            // sending while requests in flight finish.
            ready.store(false, Ordering::Relaxed);
        });
        // A connection that never finishes its request must not hold the shutdown (and
        // the final flush) forever.
        let drain_limit = async {
            shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        };
        let served = tokio::select! {
            served = serving => served,
            () = drain_limit => {
                tracing::warn!(limit = ?DRAIN_LIMIT, "connections still open after the drain limit are dropped");
                Ok(())
            }
        };
        self.state.ready.store(false, Ordering::Relaxed);
        tracing::info!("stopped accepting; finishing traces and deliveries");
        running.stop().await;
        tracing::info!("boxtrace stopped");
        served.map_err(ServerError::from)
    }

    fn start_background(&self, shutdown: CancellationToken) -> Background {
        let engine = self.state.engine.start();
        let deliverer = tokio::spawn(self.state.deliverer.clone().run(shutdown.clone()));
        Background {
            engine,
            deliverer,
            shutdown,
        }
    }
}

struct Background {
    engine: EngineHandle,
    deliverer: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Background {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.deliverer.await;
        self.engine.shutdown().await;
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        _ = term => tracing::info!("SIGTERM received; shutting down"),
    }
}
