//! [`SimTracer`]: the simulated terminal as a [`Tracer`], plus the pure views of its
//! lifecycles (timeline, result at an instant) that tests and benchmarks compare against.

use std::sync::Arc;

use async_trait::async_trait;
use boxtrace::{
    Clock, DataError, ProviderCredentials, ProviderLimits, Status, TraceError, TraceKind,
    TraceRequest, TraceResult, Tracer, Workflow,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::config::SimConfig;
use crate::faults::{self, Fault};
use crate::lifecycle::Plan;
use crate::scenario::Scenario;

/// The provider id.
const ID: &str = "sim";

/// A simulated container terminal. Every box it is asked about has a seeded lifecycle
/// anchored at the epoch; a trace answers with that lifecycle's state at the clock's
/// time, after the configured latency and unless a seeded fault strikes.
///
/// It needs no credentials and does no I/O.
#[derive(Debug, Clone)]
pub struct SimTracer {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    epoch: DateTime<Utc>,
}

impl SimTracer {
    /// A simulated terminal with `config`, reading time from `clock`. Without a
    /// configured epoch, lifecycles start at `clock`'s time now.
    ///
    /// Fault rates are used as given; the registry's factory refuses rates that are not
    /// probabilities, and here a rate above 1 acts as 1.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let epoch = config.epoch.unwrap_or_else(|| clock.now());
        Self {
            config,
            clock,
            epoch,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The anchor of all lifecycles.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    /// Every change of the normalized status of `container`'s `kind` trace, in order,
    /// with its time. The first entry is the status at the epoch (`BookingNotFound` for
    /// an export, `NotFound` for an empty); the list is empty for the `rejected`
    /// scenario and for invalid data, where no trace ever succeeds.
    ///
    /// A `NotFound` entry stands for the `NotFound` error that [`SimTracer::result_at`]
    /// returns in that period.
    pub fn timeline(
        &self,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
    ) -> Vec<(DateTime<Utc>, Status)> {
        Plan::new(self.config.seed, self.epoch, kind, container, data)
            .map(|plan| plan.timeline())
            .unwrap_or_default()
    }

    /// What a trace of `container`'s `kind` at `at` answers, without latency or faults:
    /// the result, `TraceError::NotFound` while the terminal does not know the box, or a
    /// permanent `request_rejected` error (the `rejected` scenario, invalid data).
    /// Its status is always the [`SimTracer::timeline`]'s status at `at`.
    pub fn result_at(
        &self,
        kind: TraceKind,
        container: &str,
        data: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<TraceResult, TraceError> {
        Plan::new(self.config.seed, self.epoch, kind, container, data)?.result_at(at)
    }
}

#[async_trait]
impl Tracer for SimTracer {
    fn id(&self) -> &str {
        ID
    }

    fn workflow(&self) -> Workflow {
        self.config.workflow
    }

    fn limits(&self) -> ProviderLimits {
        self.config.effective_limits()
    }

    /// Accepts any `data` whose optional `scenario` is one of `standard`, `hold`,
    /// `no-hold`, `not-found`, `rejected`; other keys are not looked at.
    fn validate(&self, _kind: TraceKind, data: &Map<String, Value>) -> Result<(), DataError> {
        Scenario::from_data(data).map(|_| ())
    }

    async fn trace(
        &self,
        request: &TraceRequest,
        _credentials: &ProviderCredentials,
    ) -> Result<TraceResult, TraceError> {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        // One reading of the clock decides both the fault and the answer.
        let now = self.clock.now();
        let kind = request.key.kind;
        let container = request.container.as_str();
        let fault = faults::draw(&self.config.faults, self.config.seed, kind, container, now);
        if let Some(fault) = fault {
            tracing::debug!(container, kind = %kind, ?fault, "simulating a fault");
        }
        match fault {
            Some(Fault::Transient) => Err(TraceError::transient("simulated transient fault")),
            Some(Fault::RateLimited) => Err(TraceError::RateLimited {
                retry_after: Some(self.config.faults.retry_after),
            }),
            // Never answers: the engine's trace timeout drops this future.
            Some(Fault::Timeout) => std::future::pending().await,
            None => self.result_at(kind, container, &request.data, now),
        }
    }
}
