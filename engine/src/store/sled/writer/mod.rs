//! The sled store's single writer: applies operations in batches, one `apply_batch` and at
//! most one flush per batch (group commit).
//!
//! One writer makes every read-modify-write safe without sled transactions, which
//! serialize on a process-wide lock (see DESIGN.md). Operations queue while a batch is
//! being flushed, so the next batch grows with load: durability costs latency, not
//! throughput. `ops.rs` holds the operations, `batch.rs` the pending writes of one batch,
//! `jobs.rs` and `outbox.rs` what each operation does to the tree, `retention.rs` the
//! index of finished jobs and their purge.

mod batch;
mod jobs;
mod ops;
mod outbox;
mod retention;

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use self::batch::Batch;
pub(super) use self::batch::{decode, encode, unavailable};
use self::ops::reject;
pub(super) use self::ops::Op;
pub(super) use self::outbox::held_lease;
pub(super) use self::retention::index_finished_jobs;
use super::health::Health;
use super::ledger::{Acks, Recorder};
use super::{keys, open};
use crate::model::{Job, JobId};
use crate::store::{StoreError, StoreResult};

pub(super) type Reply<T> = oneshot::Sender<StoreResult<T>>;

/// A reply held until its batch is applied (and flushed, if durable).
pub(super) type PendingReply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

pub(super) fn pending<T: Send + 'static>(reply: Reply<T>, result: StoreResult<T>) -> PendingReply {
    Box::new(move |batch_error| {
        let result = match (batch_error, result) {
            (Some(StoreError::Unavailable(cause)), _) => {
                Err(StoreError::Unavailable(cause.clone()))
            }
            (Some(e), _) => Err(StoreError::Unavailable(e.to_string())),
            (None, result) => result,
        };
        // The caller may have gone away (a dropped request); nothing to do then.
        let _ = reply.send(result);
    })
}

pub(super) struct Writer {
    pub(super) db: sled::Db,
    pub(super) tree: sled::Tree,
    pub(super) instance: String,
    pub(super) max_batch: usize,
    /// Flush unchanged traces' commits too (`SledConfig::durable_reschedules`).
    pub(super) durable_reschedules: bool,
    /// Writes were applied but their flush failed: the tree shows data that is not on
    /// disk. Stays set until a flush succeeds; no outbox claim is served meanwhile.
    pub(super) unflushed: bool,
    /// Leased jobs as stored, decoded at their claim, so that the commit of a trace need
    /// not read and decode the job again. Written through by every write of a job it
    /// holds; emptied when a batch fails (its writes never reached the tree).
    pub(super) leased: HashMap<JobId, Job>,
    /// Whether the store can still write; the watchdog reads the batch clock in it.
    pub(super) health: std::sync::Arc<Health>,
    /// The record of acknowledged writes beside the database (`ledger.rs`).
    pub(super) ledger: Recorder,
    /// The acknowledged-writes counters as the tree holds them durably.
    pub(super) acks: Acks,
    /// Jobs created by the batch being run.
    pub(super) created: u64,
    /// The highest sequence number this writer drew, and the highest known on disk (a
    /// flush succeeded after it was written): results-feed reads up to it need no flush.
    pub(super) last_seq: u64,
    pub(super) flushed_seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Most jobs [`Writer::leased`] holds: claims whose commit never comes (a holder that
/// died) would otherwise pile up. Past it the map starts again empty; a job missing from
/// it is read from the tree.
pub(super) const MAX_LEASED: usize = 1 << 16;

impl Writer {
    /// Runs until every sender is gone, then flushes once more, unless the store has
    /// failed (sled's flush would then never return).
    pub(super) fn run(mut self, mut ops: mpsc::Receiver<Op>) {
        while let Some(first) = ops.blocking_recv() {
            let mut queued = vec![first];
            while queued.len() < self.max_batch {
                match ops.try_recv() {
                    Ok(op) => queued.push(op),
                    Err(_) => break,
                }
            }
            self.health.batch_started();
            self.run_batch(queued);
            self.health.batch_finished();
        }
        if self.health.check().is_err() {
            // sled's flush never returns once its log has failed (it waits for a write
            // that cannot happen); what was acknowledged is on disk already.
            return;
        }
        match self.db.flush() {
            Ok(_) => {
                self.flushed();
                self.ledger.finish(Some(self.acks));
            }
            Err(e) => {
                tracing::error!(error = %e, "final flush of the sled store failed");
                self.ledger.finish(None);
            }
        }
    }

    fn run_batch(&mut self, ops: Vec<Op>) {
        let tree = self.tree.clone();
        let mut batch = Batch::new(&tree);
        let mut replies: Vec<PendingReply> = Vec::with_capacity(ops.len());
        let mut early_replies: Vec<PendingReply> = Vec::new();
        let mut durable = self.unflushed;
        // Whether the batch acknowledges anything durably: then it counts in `acks`.
        let mut acknowledges = false;
        let mut failure: Option<StoreError> = None;
        self.created = 0;
        for op in ops {
            if failure.is_some() {
                replies.push(reject(op));
                continue;
            }
            let mut early = false;
            match self.execute(op, &mut batch, &mut durable, &mut early) {
                Ok(reply) if early => early_replies.push(reply),
                Ok(reply) => replies.push(reply),
                Err((reply, e)) => {
                    replies.push(reply);
                    failure = Some(e);
                }
            }
            acknowledges |= durable;
        }
        let acks = Acks {
            batches: self.acks.batches + 1,
            jobs: self.acks.jobs + self.created,
        };
        if failure.is_none() && acknowledges {
            // In the same atomic batch as the writes it counts.
            batch.insert(&keys::meta(open::ACKS), acks.encode().to_vec());
            durable = true;
        }
        if failure.is_none() && self.health.take_injected_failure() {
            failure = Some(StoreError::Unavailable(
                "injected I/O error (test hook)".into(),
            ));
        }
        if failure.is_none() {
            failure = batch.apply().err();
        }
        if failure.is_none() {
            // A claim or an unchanged reschedule needs no flush: answer it before the
            // batch's fsync, so that a dispatcher is not held behind other callers'
            // durability (that wait was most of the lateness at half capacity).
            for reply in early_replies.drain(..) {
                reply(None);
            }
        }
        replies.append(&mut early_replies);
        if failure.is_none() && durable {
            failure = self.db.flush().map(drop).map_err(unavailable).err();
            self.unflushed = failure.is_some();
            if failure.is_none() {
                self.flushed();
            }
        }
        if failure.is_none() && acknowledges {
            self.acks = acks;
            self.ledger.record(acks);
        }
        if let Some(e) = &failure {
            // Some of the batch's writes may not be in the tree: forget what was cached.
            self.leased.clear();
            tracing::error!(error = %e, ops = replies.len(), "sled store batch failed; callers are told to retry");
            // Every failure here is sled's own (applying, flushing; an id allocation that
            // fails fails only its own operation), and sled 0.34 keeps its first I/O error
            // for good: no later write can succeed until the database is opened again, so
            // the store has failed.
            let cause = match e {
                StoreError::Unavailable(cause) => cause.as_str(),
                _ => "",
            };
            self.health.fail(format!(
                "a write failed ({cause}); sled accepts no more writes after an I/O error \
                 such as a full disk until it is opened again: free space, then restart \
                 the process"
            ));
        }
        for reply in replies {
            reply(failure.as_ref());
        }
    }

    /// Draws the next id: a new job's, an event's sequence number, an outbox copy's. sled
    /// persists its id counter every million ids with a blocking flush: here, under the
    /// watchdog, and never beside another thread's flush.
    pub(super) fn next_id(&mut self) -> StoreResult<u64> {
        if self.health.take_injected_id_failure() {
            return Err(StoreError::Unavailable(
                "injected id allocation failure (test hook)".into(),
            ));
        }
        let id = self.db.generate_id().map_err(unavailable)?;
        self.last_seq = self.last_seq.max(id);
        Ok(id)
    }

    /// Called after a flush succeeded: every sequence drawn so far is on disk, or was
    /// never written (its batch failed before applying it).
    pub(super) fn flushed(&self) {
        self.flushed_seq
            .fetch_max(self.last_seq, std::sync::atomic::Ordering::Release);
    }
}
