//! Per-provider politeness: a concurrency limit and a rate limit around every trace, and
//! the provider's circuit breaker.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::health::ProviderHealth;
use crate::tracer::{ProviderLimits, Tracer, Workflow};

/// A configured provider: the tracer and the limits the engine keeps for it.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) tracer: Arc<dyn Tracer>,
    pub(crate) limits: ProviderLimits,
    pub(crate) real_time: bool,
    pub(crate) slots: Semaphore,
    pub(crate) rate: Option<DefaultDirectRateLimiter>,
    pub(crate) health: ProviderHealth,
}

impl Provider {
    pub(crate) fn new(tracer: Arc<dyn Tracer>, limits: ProviderLimits) -> Self {
        let rate = limits
            .rate_per_second
            .and_then(NonZeroU32::new)
            .map(|per_second| {
                let burst = NonZeroU32::new(limits.burst).unwrap_or(per_second);
                RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
            });
        let health = ProviderHealth::new(&tracer.id().to_ascii_lowercase(), limits.breaker.clone());
        Self {
            health,
            real_time: tracer.workflow() == Workflow::RealTime,
            slots: Semaphore::new(limits.concurrency.max(1)),
            tracer,
            limits,
            rate,
        }
    }
}
