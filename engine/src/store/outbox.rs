//! The transactional outbox: the [`Outbox`] trait, durable queues of result events for
//! deliverers, and the types its methods take and return.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::JobStore;
use super::{StoreError, StoreResult};
use crate::model::{JobId, ResultEvent};

/// A store-assigned outbox sequence number: increases with every appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventSeq(pub u64);

/// The outbox queue the engine appends every result event to. The engine's deliverer
/// ([`crate::Engine::deliver_to`]) claims from it and fans each event out
/// ([`Outbox::fan_out_all`]) to one queue per destination, each with its own retries and
/// dead state; an entry handed back untried ([`Verdict::Release`]: claimed ahead and not
/// started, not attempted by the destination, or too little of its lease left) keeps its
/// attempts.
pub const RESULTS_QUEUE: &str = "results";

/// An outbox entry: a result event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// Outbox order within its queue.
    pub seq: EventSeq,
    /// The queue: [`RESULTS_QUEUE`] or a destination's.
    pub queue: String,
    /// The job the event is about; deliveries of one job stay in order.
    pub job_id: JobId,
    /// The event, with its id.
    pub event: ResultEvent,
    /// Deliveries attempted and given back with [`Outbox::retry_outbox`].
    pub attempts: u32,
    /// Not handed out before this time.
    pub available_at: DateTime<Utc>,
    /// The current claim, if any.
    pub lease: Option<crate::model::Lease>,
    /// Given up on ([`Outbox::bury_outbox`]): kept for a replay, never handed out, and no
    /// longer holding back the job's later entries.
    #[serde(default)]
    pub dead: bool,
    /// Why the last attempt failed, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How many entries a queue holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxStats {
    /// Entries waiting or in flight.
    pub pending: usize,
    /// Entries given up on.
    pub dead: usize,
}

/// One claimed outbox entry to fan out ([`Outbox::fan_out_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutEntry {
    /// The entry's sequence number in its queue.
    pub seq: EventSeq,
    /// The claim's lease token.
    pub token: u64,
    /// The queues that get a copy (none: the entry is simply removed).
    pub to: Vec<String>,
}

/// An outbox entry handed to a deliverer under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxClaim {
    /// The entry.
    pub entry: OutboxEntry,
    /// The lease token to present to ack or retry.
    pub token: u64,
}

/// What became of one claimed outbox entry, for [`Outbox::settle`]: the entry's sequence
/// number, the claim's lease token, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The entry's sequence number in its queue.
    pub seq: EventSeq,
    /// The claim's lease token.
    pub token: u64,
    /// What to do with it.
    pub verdict: Verdict,
}

/// The verdict on one delivery attempt ([`Settlement`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered: removed, as [`Outbox::ack_outbox`].
    Ack,
    /// Failed: tried again from `not_before`, as [`Outbox::retry_outbox`].
    Retry {
        /// Not handed out before this time.
        not_before: DateTime<Utc>,
        /// Why it failed, for operators.
        error: Option<String>,
    },
    /// Given up on: kept dead until a replay, as [`Outbox::bury_outbox`].
    Bury {
        /// Why, for operators.
        error: String,
    },
    /// Not attempted: claimed ahead and then the deliverer stopped, or too little of its
    /// lease was left for a delivery to start, or the destination answered
    /// [`crate::Delivery::NotAttempted`]. Handed back with its attempts unchanged. A store
    /// that overrides [`Outbox::settle`] ends its lease now, so that it can be claimed
    /// again at once and the releasing holder's token no longer acts on it; the default
    /// cannot end a lease early (no other method does that
    /// without counting an attempt) and lets it lapse, so the entry comes back when its
    /// lease ends.
    Release,
}

/// Durable queues of result events for deliverers (web-hooks and the like): claim, ack,
/// retry, fan out to per-destination queues, bury, replay and purge. Only an embedder that
/// delivers events out of process needs it; the engine runs without one (its live
/// [`crate::Subscription`] still carries every event).
///
/// A job store that also implements `Outbox` appends every result event of
/// [`JobStore::complete`] and [`JobStore::cancel`] to [`RESULTS_QUEUE`] in the same atomic
/// step that stores the job, so that no event is acknowledged without being queued.
/// Claims are leases: an entry claimed and never acknowledged comes back by itself when
/// its lease lapses. `boxtrace::testing::store_conformance::run_outbox` checks this, for
/// an outbox that keeps the defaults too.
#[async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug + 'static {
    /// Leases up to `limit` entries of `queue` available at `now`, oldest first, never two
    /// of one job at once and never one while an older live entry of its job waits.
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>>;

    /// Removes a delivered entry. Refused ([`StoreError::Fenced`]) if the lease was lost.
    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()>;

    /// Gives an entry back to be retried from `not_before`, counting the attempt and
    /// noting why it failed.
    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()>;

    /// Replaces a claimed entry, atomically and durably, by a copy of its event in each
    /// queue of `to` (none: the entry is simply removed). The copies keep the event id.
    async fn fan_out(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// [`Outbox::fan_out`] for several claimed entries of `queue`, applied in the order
    /// given, one result each. A store that group-commits should make them share one
    /// durable write: a deliverer fans out whole claimed batches, and one flush per event
    /// would cap delivery at the disk's flush rate. The default fans out one by one.
    async fn fan_out_all(
        &self,
        queue: &str,
        entries: &[FanOutEntry],
        now: DateTime<Utc>,
    ) -> Vec<StoreResult<()>> {
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            results.push(
                self.fan_out(queue, entry.seq, entry.token, &entry.to, now)
                    .await,
            );
        }
        results
    }

    /// Gives up on a claimed entry: it stays, dead, until [`Outbox::replay_outbox`].
    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()>;

    /// Applies the verdicts on several claimed entries of `queue`, in the order given, one
    /// result each (refused with [`StoreError::Fenced`] where the lease was lost): a
    /// deliverer acknowledges in batches, and one store call per delivery would cap it at
    /// the store's round trips. An ack or a retry need not be durable when this returns
    /// (losing one in a crash redelivers the event, which at-least-once allows); a burial
    /// is, as with [`Outbox::bury_outbox`]. The default applies them one by one, and a
    /// release lets the lease lapse by itself ([`Verdict::Release`]); a store that
    /// overrides it ends a released lease at once and passes
    /// `store_conformance::run_settle`.
    async fn settle(&self, queue: &str, settlements: &[Settlement]) -> Vec<StoreResult<()>> {
        settle_each(self, queue, settlements, |_, _| std::future::ready(Ok(()))).await
    }

    /// Makes every dead entry of `queue` available again at `now`; returns how many.
    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize>;

    /// Removes every entry of `queue` (its destination is gone); returns how many.
    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize>;

    /// How many entries `queue` holds.
    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats>;

    /// The first `limit` entries of `queue`, oldest first, dead ones included: what an
    /// operator looks at before replaying or purging a queue.
    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
}

/// [`Outbox::settle`] one call per verdict, in the order given, each with its own result:
/// one that fails leaves the others' results (applied or not) as they are. `release`
/// ends a lease (a store without a way to do so lets it lapse).
pub(crate) async fn settle_each<O, R, F>(
    outbox: &O,
    queue: &str,
    settlements: &[Settlement],
    mut release: R,
) -> Vec<StoreResult<()>>
where
    O: Outbox + ?Sized,
    R: FnMut(EventSeq, u64) -> F,
    F: std::future::Future<Output = StoreResult<()>>,
{
    let mut results = Vec::with_capacity(settlements.len());
    for s in settlements {
        results.push(match &s.verdict {
            Verdict::Ack => outbox.ack_outbox(queue, s.seq, s.token).await,
            Verdict::Retry { not_before, error } => {
                outbox
                    .retry_outbox(queue, s.seq, s.token, *not_before, error.clone())
                    .await
            }
            Verdict::Bury { error } => {
                outbox
                    .bury_outbox(queue, s.seq, s.token, error.clone())
                    .await
            }
            Verdict::Release => release(s.seq, s.token).await,
        });
    }
    results
}

/// The results of a settle call that failed as a whole: each settlement gets the failure
/// as [`StoreError::Unavailable`] (what became of it is unknown).
#[cfg_attr(not(any(feature = "sled", feature = "postgres")), allow(dead_code))]
pub(crate) fn unsettled(settlements: &[Settlement], e: &StoreError) -> Vec<StoreResult<()>> {
    let cause = e.to_string();
    settlements
        .iter()
        .map(|_| Err(StoreError::Unavailable(cause.clone())))
        .collect()
}
