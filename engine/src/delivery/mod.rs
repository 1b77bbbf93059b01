//! Delivery of result events to destinations (an adapter's web-hook endpoints, say):
//! fan-out from the results queue to one outbox queue per destination, then at least
//! once, in order per container, with retries on a schedule, a dead state and replay.
//!
//! The adapter implements [`Destinations`]: which destinations get an event, which are
//! active, and one delivery (signing, the address guard, the POST). The engine owns the
//! rest, on its outbox: [`Engine::deliver_to`] returns a [`DeliveryHandle`] to run until
//! cancelled and to administer the queues with (stats, entries, replay, purge).
//!
//! Each destination's worker claims ahead (a small buffer of leased entries beyond its
//! free slots) and settles in batches (one [`Outbox::settle`] call for the verdicts that
//! arrived while the previous call ran).

mod config;
mod fan_out;
mod queue;
mod retry;
mod run;

use std::fmt::Debug;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::Result;
use crate::model::ResultEvent;
use crate::store::{Outbox, OutboxEntry, OutboxStats, RESULTS_QUEUE};

pub use self::config::DeliveryConfig;

/// The outbox delivery runs on.
type OutboxRef = Arc<dyn Outbox>;

/// A destination, named by its outbox queue: the engine keeps its deliveries under this
/// name, so it must be stable for the destination's life and distinct from every other
/// queue ([`RESULTS_QUEUE`] is refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId(String);

impl DestinationId {
    /// The destination whose queue is `queue`.
    pub fn new(queue: impl Into<String>) -> Self {
        Self(queue.into())
    }

    /// Its queue's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DestinationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A destination to deliver to now ([`Destinations::active`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDestination {
    /// Which.
    pub id: DestinationId,
    /// Deliveries in flight at most; `None`: [`DeliveryConfig::concurrency`].
    pub concurrency: Option<usize>,
}

/// What one delivery achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered: the entry is removed.
    Delivered,
    /// The destination is gone for good (HTTP 410): the entry is buried with `reason`
    /// and the destination's worker stops. The destination should leave itself out of
    /// [`Destinations::active`] from now on (disable it); its later entries wait. To
    /// resume, replay ([`DeliveryHandle::replay`]) *before* making the destination active
    /// again: a dead entry no longer holds its job's later entries back, so a destination
    /// active before the replay could deliver a job's next event ahead of the buried one.
    Gone {
        /// Why, for operators.
        reason: String,
    },
    /// Not delivered: retried on the schedule, never sooner than `retry_after` (up to the
    /// schedule's longest step), and buried once the schedule is spent.
    Failed {
        /// Why, for operators.
        reason: String,
        /// The wait the destination asked for, if it did (HTTP `Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Not attempted (the destination was removed or disabled since its worker started):
    /// the entry is handed back untried, its attempts unchanged, so that a replay or a
    /// re-enabled destination finds it as it was.
    NotAttempted,
}

/// A failure to read the destinations (their registrations are kept by the adapter):
/// the engine logs it and tries again at its next poll.
#[derive(Debug, thiserror::Error)]
#[error("the destinations could not be read: {0}")]
pub struct DestinationsError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl DestinationsError {
    /// Wraps the adapter's error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// The destinations of result events, as the adapter keeps them.
#[async_trait]
pub trait Destinations: Send + Sync + Debug + 'static {
    /// For each of `events`, the destinations that get it (the adapter's registrations
    /// for the event's tenant and action), disabled ones included: their copies wait for
    /// a replay. Called at fan-out, for a batch of events at a time.
    async fn route(
        &self,
        events: &[&ResultEvent],
    ) -> Result<Vec<Vec<DestinationId>>, DestinationsError>;

    /// The destinations to deliver to now, disabled ones left out.
    async fn active(&self) -> Result<Vec<ActiveDestination>, DestinationsError>;

    /// Delivers one entry (its event, the job it is about and the attempts so far) to
    /// `to`; the outcome and any retry hint. Must answer within
    /// [`DeliveryConfig::timeout`].
    async fn deliver(&self, to: &DestinationId, entry: &OutboxEntry) -> Delivery;
}

/// The deliverer of one engine: [`DeliveryHandle::run`] delivers until cancelled; the
/// other methods administer the destinations' queues. Cloning is cheap and shares it.
#[derive(Debug, Clone)]
pub struct DeliveryHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    engine: Engine,
    outbox: OutboxRef,
    destinations: Arc<dyn Destinations>,
    config: DeliveryConfig,
    retries: retry::Retries,
    /// Look at the destinations and their queues at once (a registration, a replay).
    wake: Notify,
    /// Bumped when entries were added to destinations' queues (a fan-out, a replay).
    queued: watch::Sender<u64>,
    running: AtomicBool,
}

impl Shared {
    fn queued(&self) {
        self.queued.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Engine {
    /// The deliverer of this engine's result events to `destinations`. It needs an
    /// outbox: an engine built with a job store alone answers
    /// [`crate::StoreError::Unsupported`], saying so. A `config` that cannot run (a zero
    /// poll interval or timeout) is refused with [`crate::Error::Config`].
    pub fn deliver_to(
        &self,
        destinations: Arc<dyn Destinations>,
        config: DeliveryConfig,
    ) -> Result<DeliveryHandle> {
        config.check().map_err(crate::Error::Config)?;
        let outbox = self.outbox_or_err()?.clone();
        Ok(DeliveryHandle {
            shared: Arc::new(Shared {
                engine: self.clone(),
                outbox,
                destinations,
                retries: retry::Retries::new(&config),
                config,
                wake: Notify::new(),
                queued: watch::channel(0).0,
                running: AtomicBool::new(false),
            }),
        })
    }
}

impl DeliveryHandle {
    /// Delivers until `shutdown` is cancelled, then lets deliveries in flight finish (up
    /// to the engine's bound on one, [`DeliveryConfig::timeout`] + 1 s) and settles them
    /// (2 s more at most); entries claimed ahead and not started are handed back. What is
    /// still unsettled then is retried when its lease lapses. A second call while one
    /// runs returns at once.
    pub async fn run(self, shutdown: CancellationToken) {
        run::run(self.shared, shutdown).await
    }

    /// Looks at the destinations and their queues at once (after a registration or a
    /// replay) instead of at the next poll.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
        self.shared.queued();
    }

    /// How many entries `to`'s queue holds, waiting or dead.
    pub async fn stats(&self, to: &DestinationId) -> Result<OutboxStats> {
        Ok(self.shared.outbox.outbox_stats(to.as_str()).await?)
    }

    /// How many result events wait to be fanned out.
    pub async fn results_stats(&self) -> Result<OutboxStats> {
        Ok(self.shared.outbox.outbox_stats(RESULTS_QUEUE).await?)
    }

    /// The first `limit` entries of `to`'s queue, oldest first, dead ones included.
    pub async fn entries(&self, to: &DestinationId, limit: usize) -> Result<Vec<OutboxEntry>> {
        Ok(self
            .shared
            .outbox
            .outbox_entries(to.as_str(), limit)
            .await?)
    }

    /// Makes every dead entry of `to` deliverable again, now; returns how many.
    pub async fn replay(&self, to: &DestinationId) -> Result<usize> {
        let now = self.shared.engine.clock().now();
        let revived = self.shared.outbox.replay_outbox(to.as_str(), now).await?;
        self.wake();
        Ok(revived)
    }

    /// Removes every entry of `to` (the destination is gone); returns how many.
    pub async fn purge(&self, to: &DestinationId) -> Result<usize> {
        Ok(self.shared.outbox.purge_outbox(to.as_str()).await?)
    }
}
