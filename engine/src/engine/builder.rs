//! Building an engine: store, providers, credentials, policy, clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::limits::Provider;
use super::{Engine, Inner};
use crate::clock::{Clock, SystemClock};
use crate::credentials::{Credentials, EnvCredentials};
use crate::error::{Error, Result};
use crate::schedule::Policy;
use crate::store::{JobStore, Outbox, Store};
use crate::tracer::{
    build_provider, HttpSettings, ProviderBuildError, ProviderContext, ProviderLimits, Tracer,
};

/// How the dispatcher works. Deserializes with every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineConfig {
    /// Jobs claimed per store call.
    pub claim_batch: usize,
    /// Traces running at once, over all providers.
    pub max_in_flight: usize,
    /// How long a claimed job stays leased. A job whose tracer dies comes due again after
    /// this. Never less than the longest provider trace timeout plus 5 s: a shorter lease
    /// is raised to that at [`EngineBuilder::build`], with a log line.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// At shutdown, how long running traces may take to finish; the rest are abandoned
    /// and their leases lapse.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Longest the dispatcher sleeps (clock time) without looking at the store: the safety
    /// net for jobs made due by another process whose wake-up was lost
    /// ([`JobStore::wake_ups`](crate::JobStore::wake_ups)).
    #[serde(with = "humantime_serde")]
    pub max_idle: Duration,
    /// Result events buffered per subscriber; a slower subscriber misses events (the
    /// durable outbox does not).
    pub subscriber_buffer: usize,
    /// How long a finished job (completed, cancelled, expired, failed) is kept, with its
    /// history and results-feed entries, counted from when it finished: after that the
    /// engine removes it (a sweep beside the dispatcher, every 5 minutes of clock time),
    /// and reading it finds nothing. Outbox entries waiting for delivery stay. `None`
    /// (`"off"` in a file) keeps every job. Default [`DEFAULT_RETENTION`](super::DEFAULT_RETENTION),
    /// 30 days; zero is refused.
    #[serde(with = "super::retention::serde_retention")]
    pub retention: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            claim_batch: 256,
            max_in_flight: 1024,
            lease: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            max_idle: Duration::from_secs(60),
            subscriber_buffer: 4096,
            retention: Some(super::DEFAULT_RETENTION),
        }
    }
}

impl EngineConfig {
    /// Reads a retention setting as files write it ([`EngineConfig::retention`]): a
    /// duration such as `30days` or `12h`, or `off` (keep every job). The error says what
    /// is accepted; zero is refused.
    pub fn parse_retention(text: &str) -> std::result::Result<Option<Duration>, String> {
        super::retention::serde_retention::parse(text)
    }
}

/// Builds an [`Engine`]. A store and at least one provider are required.
#[derive(Debug, Default)]
pub struct EngineBuilder {
    jobs: Option<Arc<dyn JobStore>>,
    outbox: Option<Arc<dyn Outbox>>,
    tracers: Vec<Arc<dyn Tracer>>,
    registered: Vec<(String, serde_json::Value)>,
    limits: HashMap<String, ProviderLimits>,
    credentials: Option<Arc<dyn Credentials>>,
    policy: Policy,
    clock: Option<Arc<dyn Clock>>,
    config: EngineConfig,
    http: HttpSettings,
    seed: Option<u64>,
}

impl EngineBuilder {
    /// Uses `store`, a full backend, as the job store and its outbox.
    pub fn store(self, store: impl Store) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Uses a shared full backend as the job store and its outbox.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.jobs = Some(store.clone());
        self.outbox = Some(store);
        self
    }

    /// Uses `jobs` as the job store, with no outbox: all the dispatcher needs. Events
    /// still reach [`Engine::subscribe`](super::Engine::subscribe); the engine's outbox
    /// calls answer `StoreError::Unsupported`. Replaces a store set before, outbox included.
    pub fn job_store(self, jobs: impl JobStore) -> Self {
        self.shared_job_store(Arc::new(jobs))
    }

    /// Uses a shared job store, with no outbox ([`EngineBuilder::job_store`]).
    pub fn shared_job_store(mut self, jobs: Arc<dyn JobStore>) -> Self {
        self.jobs = Some(jobs);
        self.outbox = None;
        self
    }

    /// Adds a provider instance.
    pub fn provider(mut self, tracer: impl Tracer) -> Self {
        self.tracers.push(Arc::new(tracer));
        self
    }

    /// Adds a shared provider instance.
    pub fn shared_provider(mut self, tracer: Arc<dyn Tracer>) -> Self {
        self.tracers.push(tracer);
        self
    }

    /// Adds the provider registered as `id` (see [`crate::registered_providers`]), built
    /// at [`EngineBuilder::build`] with `config` as its configuration (`null` for none).
    pub fn registered_provider(mut self, id: &str, config: serde_json::Value) -> Self {
        self.registered.push((id.to_owned(), config));
        self
    }

    /// Overrides a provider's default limits.
    pub fn provider_limits(mut self, id: &str, limits: ProviderLimits) -> Self {
        self.limits.insert(id.to_ascii_lowercase(), limits);
        self
    }

    /// Uses `credentials` (default: [`EnvCredentials::from_env`]).
    pub fn credentials(mut self, credentials: impl Credentials) -> Self {
        self.credentials = Some(Arc::new(credentials));
        self
    }

    /// Uses `policy` (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Uses `clock` (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Uses a shared clock.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses dispatcher settings `config`.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// HTTP settings handed to registered providers.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Seeds the random source of jitter, for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Keeps finished jobs for `retention` after they finished, then removes them with
    /// their history and results-feed entries ([`EngineConfig::retention`]); `None` keeps
    /// every job. Default 30 days ([`DEFAULT_RETENTION`](super::DEFAULT_RETENTION)).
    /// [`EngineBuilder::config`] replaces it with the configuration's, so call this after.
    pub fn retention(mut self, retention: Option<Duration>) -> Self {
        self.config.retention = retention;
        self
    }

    /// Builds the engine. It does not trace until [`Engine::start`] (or
    /// [`Engine::run_due`]) is called.
    pub fn build(self) -> Result<Engine> {
        if self.config.claim_batch == 0 || self.config.max_in_flight == 0 {
            return Err(Error::Config(
                "claimBatch and maxInFlight must be at least 1".into(),
            ));
        }
        if self.config.retention.is_some_and(|r| r.is_zero()) {
            return Err(Error::Config(
                "retention must be longer than zero (zero would remove every job as soon as \
                 it finished); use None (\"off\") to keep every job"
                    .into(),
            ));
        }
        let jobs = self.jobs.ok_or_else(|| {
            Error::Config("no store: call .store(SledStore::open(..)?) or .job_store(..)".into())
        })?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let shutdown = CancellationToken::new();
        let mut tracers = self.tracers;
        for (id, config) in self.registered {
            let cx = ProviderContext::new()
                .with_clock(clock.clone())
                .with_config(config)
                .with_http(self.http.clone())
                .with_shutdown(shutdown.child_token());
            let tracer = build_provider(&id, cx).map_err(|e| match e {
                // Name the provider: several may be configured.
                ProviderBuildError::Config(why) => {
                    ProviderBuildError::Config(format!("provider '{id}': {why}"))
                }
                other => other,
            })?;
            tracers.push(tracer);
        }
        if tracers.is_empty() {
            return Err(Error::Config(
                "no provider: add one with .provider(..) or .registered_provider(..)".into(),
            ));
        }
        let mut providers = HashMap::new();
        for tracer in tracers {
            let id = tracer.id().to_ascii_lowercase();
            let limits = self
                .limits
                .get(&id)
                .cloned()
                .unwrap_or_else(|| tracer.limits());
            if limits.batch_size == 0 {
                return Err(Error::Config(format!(
                    "provider '{id}': batchSize must be at least 1 (1 traces every box alone)"
                )));
            }
            let breaker = &limits.breaker;
            if breaker.cool_off.is_zero() || breaker.max_cool_off < breaker.cool_off {
                return Err(Error::Config(format!(
                    "provider '{id}': breaker coolOff {:?} must be above zero and at most \
                     maxCoolOff {:?}",
                    breaker.cool_off, breaker.max_cool_off
                )));
            }
            if providers
                .insert(id.clone(), Provider::new(tracer, limits))
                .is_some()
            {
                return Err(Error::Config(format!("provider '{id}' is added twice")));
            }
        }
        let mut config = self.config;
        // The lease is never shorter than the longest trace plus the renewal margin (as
        // the README promises): a lease that lapsed mid-trace would let a second process
        // trace the same job. Raised rather than refused, so that a lease set for speedy
        // failover still starts.
        let floor = providers
            .values()
            .map(|p: &Provider| p.limits.trace_timeout)
            .max()
            .unwrap_or_default()
            + super::dispatch::LEASE_MARGIN;
        if config.lease < floor {
            tracing::info!(
                configured = ?config.lease,
                lease = ?floor,
                "the lease is raised to the longest provider trace timeout plus 5 s"
            );
            config.lease = floor;
        }
        let seed = self
            .seed
            .unwrap_or_else(|| StdRng::from_os_rng().next_u64());
        let lookahead = providers
            .values()
            .map(|p: &Provider| p.limits.batch_window)
            .max()
            .unwrap_or_default();
        let (events, _) = broadcast::channel(config.subscriber_buffer.max(1));
        let metrics = super::EngineMetrics::default();
        for id in providers.keys() {
            metrics.circuit_state(id, super::CircuitState::Closed);
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                jobs,
                outbox: self.outbox,
                providers,
                credentials: self
                    .credentials
                    .unwrap_or_else(|| Arc::new(EnvCredentials::from_env())),
                policy: self.policy,
                clock,
                config,
                lookahead,
                seed,
                wake: Notify::new(),
                sleeps_until: std::sync::atomic::AtomicI64::new(i64::MIN),
                events,
                shutdown,
                metrics,
            }),
        })
    }
}
