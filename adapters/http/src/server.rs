//! Building and running the server: the engine from configuration, the router, the
//! deliverer, start-up while the store is not open yet, and graceful shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::Router;
use boxtrace::{
    Clock, Credentials, CredentialsError, Engine, EngineHandle, EnvCredentials, PostgresStore,
    ProviderCredentials, SledConfig, SledStore, Store, Tenant,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::auth::{Clients, OperatorToken, Tokens};
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
    /// The store cannot write again in this process (a full disk, a stuck writer): the
    /// server stopped; a supervisor should restart it.
    #[error("stopped because {0}; restart boxtrace (a supervisor does it by itself)")]
    StoreFailed(boxtrace::StoreError),
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
    if let Some(pg) = config.postgres()? {
        let mut wait = std::time::Duration::from_millis(250);
        loop {
            match PostgresStore::connect(pg.clone()).await {
                Ok(store) => {
                    tracing::info!(schema = store.schema(), "using the PostgreSQL store");
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
        stall_limit: config.store_stall_limit,
        accept_data_loss: config.accept_data_loss,
        ..SledConfig::default()
    };
    // The store's errors say what is wrong and what to do (the directory in use by
    // another process, damaged, unreadable); the variable to change is ours to name.
    let store = SledStore::open(&sled).inspect_err(|_| {
        tracing::error!(data_dir = %config.data_dir.display(), "the sled store cannot be opened (BOXTRACE_DATA_DIR)");
    })?;
    tracing::info!(data_dir = %std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone()).display(), "using the sled store");
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
        config.checked_token_key()?;
        config.checked_operator_token()?;
        let store = open_store(&config).await?;
        Self::with_store(config, clock, store)
    }

    /// [`App::build`] on a store of the caller's (tests put faults in front of one).
    pub fn with_store(
        config: ServerConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
    ) -> Result<Self, ServerError> {
        let key = config.checked_token_key()?.clone();
        let operator = config.checked_operator_token()?.map(OperatorToken::new);
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
        let engine = builder
            .build()
            .map_err(|e| match config.provider_config_error(&e) {
                Some(located) => ServerError::Config(located),
                None => ServerError::Engine(e),
            })?;
        let guard =
            Guard::new(config.allow_private_webhooks).with_insecure(config.allow_insecure_webhooks);
        let webhooks = Webhooks::new(store.clone());
        let metrics = Arc::new(Metrics::default());
        let deliverer = Deliverer::new(
            webhooks.clone(),
            guard,
            &config.delivery,
            metrics.clone(),
            engine.clock().clone(),
        )?;
        let deliveries = engine
            .deliver_to(deliverer.clone(), config.delivery.engine())
            .map_err(ServerError::Engine)?;
        let state = AppState {
            clients: Clients::with_status_ttl(store.clone(), config.client_cache_ttl),
            store,
            tokens: Tokens::new(&key, config.token_ttl),
            operator,
            engine,
            webhooks,
            deliverer,
            deliveries,
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
        bind(self.config.listen).await
    }

    /// Serves on `listener` until `shutdown` is cancelled; then stops accepting, lets
    /// requests, traces and deliveries in flight finish, and flushes the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServerError> {
        serve_once_built(listener, shutdown, std::future::ready(Ok(self))).await
    }

    fn start_background(&self, shutdown: CancellationToken) -> Background {
        let engine = self.state.engine.start();
        let deliverer = tokio::spawn(self.state.deliveries.clone().run(shutdown.clone()));
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

/// Binds `listen`, with a message that names the address.
pub async fn bind(listen: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(listen).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")).into()
    })
}

/// `boxtrace serve`: serves `listener` at once and builds the app meanwhile, so that
/// while the store cannot be opened (PostgreSQL unreachable, retried with backoff)
/// `/healthz` answers 200 and everything else, `/readyz` included, 503 with
/// `Retry-After`, rather than connections being refused. Then serves the app as
/// [`App::serve`] does, on the same listener. A `shutdown` while the store is being
/// opened stops at once, with `Ok`.
///
/// A configuration the app cannot use is an error before anything is served.
pub async fn run(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    config.checked_token_key()?;
    config.postgres()?;
    tracing::info!(listen = %listener.local_addr()?, "listening; opening the store");
    let build = async move {
        let store = open_store(&config).await?;
        App::with_store(config, clock, store)
    };
    serve_once_built(listener, shutdown, build).await
}

/// Serves the starting routes on `listener` until `build` finishes, then the app's; on
/// `shutdown`, drains and stops.
async fn serve_once_built(
    listener: TcpListener,
    shutdown: CancellationToken,
    build: impl Future<Output = Result<App, ServerError>>,
) -> Result<(), ServerError> {
    let local = listener.local_addr()?;
    let switch = Switch::default();
    let stop = shutdown.clone();
    let on_stop = switch.clone();
    // One server from the first moment to the last: connections opened while starting
    // carry on once the app is live, and the port is never closed in between.
    // A stop serves what was accepted (and what waits in the backlog) rather than reset
    // it (`listen.rs`).
    let serving = crate::listen::serve(
        listener,
        switch.router(),
        async move { stop.cancelled().await },
        // Not ready from the first moment of the shutdown, so load balancers stop
        // sending while requests in flight finish.
        move || on_stop.not_ready(),
    );
    tokio::pin!(serving);
    // A connection that never finishes its request must not hold the shutdown (and
    // the final flush) forever.
    let drain_limit = async {
        shutdown.cancelled().await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    tokio::pin!(drain_limit);

    let app = tokio::select! {
        built = build => built?,
        served = &mut serving => {
            tracing::info!("boxtrace stopped before its store was open");
            return served.map_err(ServerError::from);
        }
        () = &mut drain_limit => {
            tracing::warn!(limit = ?DRAIN_LIMIT, "connections still open after the drain limit are dropped");
            return Ok(());
        }
    };
    let running = app.start_background(shutdown.clone());
    switch.go_live(
        crate::routes::router(app.state.clone(), &app.config.http),
        app.state.ready.clone(),
    );
    app.state.ready.store(true, Ordering::Relaxed);
    // A shutdown that began before the app went live found no flag to clear.
    if shutdown.is_cancelled() {
        app.state.ready.store(false, Ordering::Relaxed);
    }
    tracing::info!(listen = %local, providers = ?app.state.engine.providers(), "boxtrace is serving");
    let store = app.state.engine.jobs().clone();
    let failed = store.failed();
    tokio::pin!(failed);
    let mut store_failed = None;
    let served = loop {
        tokio::select! {
            served = &mut serving => break served,
            () = &mut drain_limit => {
                tracing::warn!(limit = ?DRAIN_LIMIT, "connections still open after the drain limit are dropped");
                break Ok(());
            }
            e = &mut failed, if store_failed.is_none() => {
                // Nothing this process does can make the store write again: stop, so that
                // a supervisor starts a fresh process (the store is crash-safe).
                tracing::error!(error = %e, "the store cannot write any more; stopping so that a supervisor restarts boxtrace");
                app.state.ready.store(false, Ordering::Relaxed);
                store_failed = Some(e);
                shutdown.cancel();
            }
        }
    };
    app.state.ready.store(false, Ordering::Relaxed);
    tracing::info!("stopped accepting; finishing traces and deliveries");
    if store_failed.is_some() {
        // Traces and deliveries cannot commit any more: do not wait the whole grace.
        if tokio::time::timeout(DRAIN_LIMIT, running.stop())
            .await
            .is_err()
        {
            tracing::warn!("traces still running at the stop are abandoned; their leases lapse");
        }
    } else {
        running.stop().await;
    }
    tracing::info!("boxtrace stopped");
    if let Some(e) = store_failed {
        return Err(ServerError::StoreFailed(e));
    }
    served.map_err(ServerError::from)
}

/// Routes each request to the starting routes or, once it is set, to the app's router.
#[derive(Clone, Default)]
struct Switch {
    live: Arc<OnceLock<(Router, Arc<AtomicBool>)>>,
}

impl Switch {
    fn router(&self) -> Router {
        let starting = crate::routes::starting();
        let live = self.live.clone();
        Router::new().fallback_service(tower::service_fn(move |request: axum::extract::Request| {
            let router = match live.get() {
                Some((router, _)) => router.clone(),
                None => starting.clone(),
            };
            router.oneshot(request)
        }))
    }

    fn go_live(&self, router: Router, ready: Arc<AtomicBool>) {
        // Set once: `serve_once_built` is the only caller, after its one build.
        let _ = self.live.set((router, ready));
    }

    fn not_ready(&self) {
        if let Some((_, ready)) = self.live.get() {
            ready.store(false, Ordering::Relaxed);
        }
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
