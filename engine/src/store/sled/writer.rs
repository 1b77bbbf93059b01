//! The sled store's single writer: applies operations in batches, one `apply_batch` and at
//! most one flush per batch (group commit).
//!
//! One writer makes every read-modify-write safe without sled transactions, which
//! serialize on a process-wide lock (see DESIGN.md). Operations queue while a batch is
//! being flushed, so the next batch grows with load: durability costs latency, not
//! throughput.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::health::Health;
use super::ledger::{Acks, Ledger};
use super::{keys, open, record};
use crate::model::{
    EmitReason, Fenced, Job, JobId, JobKey, Lease, PublishOutcome, ResultEvent, TraceRequest,
};
use crate::store::{
    Claimed, Committed, DueClaim, EventSeq, OutboxClaim, OutboxEntry, StoreError, StoreResult,
    TraceCommit, RESULTS_QUEUE,
};

pub(super) type Reply<T> = oneshot::Sender<StoreResult<T>>;

/// A write operation, with the channel its result goes back on.
pub(super) enum Op {
    Publish {
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
        reply: Reply<(Job, PublishOutcome)>,
    },
    Cancel {
        key: JobKey,
        now: DateTime<Utc>,
        reply: Reply<Option<ResultEvent>>,
    },
    ClaimDue {
        claim: DueClaim,
        reply: Reply<Vec<Claimed>>,
    },
    /// A renewal, or with `hand_back` a release ([`Job::release`]).
    Renew {
        job: JobId,
        token: u64,
        until: DateTime<Utc>,
        hand_back: bool,
        reply: Reply<()>,
    },
    Complete {
        commit: Box<TraceCommit>,
        reply: Reply<Committed>,
    },
    ClaimOutbox {
        queue: String,
        now: DateTime<Utc>,
        limit: usize,
        until: DateTime<Utc>,
        reply: Reply<Vec<OutboxClaim>>,
    },
    AckOutbox {
        queue: String,
        seq: EventSeq,
        token: u64,
        reply: Reply<()>,
    },
    RetryOutbox {
        queue: String,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
        reply: Reply<()>,
    },
    FanOut {
        queue: String,
        seq: EventSeq,
        token: u64,
        to: Vec<String>,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    Bury {
        queue: String,
        seq: EventSeq,
        token: u64,
        error: String,
        reply: Reply<()>,
    },
    Replay {
        queue: String,
        now: DateTime<Utc>,
        reply: Reply<usize>,
    },
    Purge {
        queue: String,
        reply: Reply<usize>,
    },
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: Reply<()>,
    },
    DeleteRecord {
        key: Vec<u8>,
        reply: Reply<bool>,
    },
    ExpediteCohort {
        provider: String,
        cohort: String,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
        reply: Reply<usize>,
    },
    Flush {
        reply: Reply<()>,
    },
}

/// A reply held until its batch is applied (and flushed, if durable).
type PendingReply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

fn pending<T: Send + 'static>(reply: Reply<T>, result: StoreResult<T>) -> PendingReply {
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
    pub(super) ledger: Ledger,
    /// The acknowledged-writes counters as the tree holds them durably.
    pub(super) acks: Acks,
    /// Jobs created by the batch being run.
    pub(super) created: u64,
}

/// Most jobs [`Writer::leased`] holds: claims whose commit never comes (a holder that
/// died) would otherwise pile up. Past it the map starts again empty; a job missing from
/// it is read from the tree.
const MAX_LEASED: usize = 1 << 16;

/// Pending writes of one batch, readable before they are applied. Values are `IVec`s,
/// shared between the sled batch and the overlay rather than copied into each.
struct Batch<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    overlay: HashMap<Vec<u8>, Option<sled::IVec>>,
}

impl<'a> Batch<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            batch: sled::Batch::default(),
            overlay: HashMap::new(),
        }
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<sled::IVec>> {
        if let Some(value) = self.overlay.get(key) {
            return Ok(value.clone());
        }
        self.tree.get(key).map_err(unavailable)
    }

    fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        self.get(key)?.map(|bytes| decode(&bytes)).transpose()
    }

    fn insert(&mut self, key: &[u8], value: impl Into<sled::IVec>) {
        let value = value.into();
        self.batch.insert(key, value.clone());
        self.overlay.insert(key.to_vec(), Some(value));
    }

    fn put_json<T: Serialize>(&mut self, key: &[u8], value: &T) -> StoreResult<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.insert(key, bytes);
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) {
        self.batch.remove(key);
        self.overlay.insert(key.to_vec(), None);
    }

    fn is_empty(&self) -> bool {
        self.overlay.is_empty()
    }

    fn apply(&mut self) -> StoreResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.overlay.clear();
        self.tree.apply_batch(batch).map_err(unavailable)
    }
}

pub(super) fn unavailable(e: sled::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads job `id` as the batch sees it: its body, and its schedule record if it has one (a
/// job written before the split layout has none).
fn read_job(batch: &Batch<'_>, id: JobId) -> StoreResult<Option<Job>> {
    let Some(body) = batch.get(&keys::job(id))? else {
        return Ok(None);
    };
    let schedule = batch.get(&keys::schedule(id))?;
    record::decode(schedule.as_deref(), &body).map(Some)
}

impl Writer {
    /// Runs until every sender is gone, then flushes once more.
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
            Ok(_) => self.ledger.record(self.acks, true),
            Err(e) => tracing::error!(error = %e, "final flush of the sled store failed"),
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
        }
        if failure.is_none() && acknowledges {
            self.acks = acks;
            self.ledger.record(acks, false);
        }
        if let Some(e) = &failure {
            // Some of the batch's writes may not be in the tree: forget what was cached.
            self.leased.clear();
            tracing::error!(error = %e, ops = replies.len(), "sled store batch failed; callers are told to retry");
            // Every failure here is sled's own (applying, flushing, allocating an id), and
            // sled 0.34 keeps its first I/O error for good: no later write can succeed
            // until the database is opened again, so the store has failed.
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

    /// Runs one operation into `batch`. An error that spoils the whole batch (I/O while
    /// applying earlier writes) comes back with the operation's reply. `early` is set when
    /// the reply need not wait for the batch's flush (it may go once the batch is applied).
    #[allow(clippy::type_complexity)]
    fn execute(
        &mut self,
        op: Op,
        batch: &mut Batch<'_>,
        durable: &mut bool,
        early: &mut bool,
    ) -> Result<PendingReply, (PendingReply, StoreError)> {
        match op {
            Op::Publish {
                request,
                real_time,
                now,
                reply,
            } => {
                *durable = true;
                Ok(pending(reply, self.publish(batch, request, real_time, now)))
            }
            Op::Cancel { key, now, reply } => {
                *durable = true;
                Ok(pending(reply, self.cancel(batch, &key, now)))
            }
            Op::Complete { commit, reply } => {
                let result = self.complete(batch, *commit);
                if self.durable_reschedules || matches!(&result, Ok(c) if c.event.is_some()) {
                    *durable = true;
                } else {
                    *early = result.is_ok();
                }
                Ok(pending(reply, result))
            }
            Op::Renew {
                job,
                token,
                until,
                hand_back,
                reply,
            } => Ok(pending(
                reply,
                self.renew(batch, job, token, until, hand_back),
            )),
            Op::ClaimDue { claim, reply } => {
                // The scan reads the tree, so earlier writes of this batch go first.
                if let Err(e) = batch.apply() {
                    return Err((pending(reply, Ok(Vec::new())), e));
                }
                *early = true;
                Ok(pending(reply, self.claim_due(batch, claim)))
            }
            Op::ExpediteCohort {
                provider,
                cohort,
                at,
                seen,
                reply,
            } => {
                // The scan reads the tree, so earlier writes of this batch go first.
                if let Err(e) = batch.apply() {
                    return Err((pending(reply, Ok(0)), e));
                }
                // Losing it in a crash only leaves the boxes on their own schedule.
                *early = true;
                let result = self.expedite_cohort(batch, &provider, &cohort, at, seen);
                Ok(pending(reply, result))
            }
            Op::ClaimOutbox {
                queue,
                now,
                limit,
                until,
                reply,
            } => {
                // A deliverer must only see events that are on disk: an event delivered
                // and then lost in a crash would be notified twice.
                let ready = batch.apply().and_then(|()| {
                    if *durable {
                        self.db.flush().map_err(unavailable)?;
                        *durable = false;
                    }
                    Ok(())
                });
                if ready.is_err() {
                    self.unflushed = true;
                }
                if let Err(e) = ready {
                    return Err((pending(reply, Ok(Vec::new())), e));
                }
                Ok(pending(
                    reply,
                    self.claim_outbox(batch, &queue, now, limit, until),
                ))
            }
            Op::AckOutbox {
                queue,
                seq,
                token,
                reply,
            } => Ok(pending(reply, self.ack_outbox(batch, &queue, seq, token))),
            Op::RetryOutbox {
                queue,
                seq,
                token,
                not_before,
                error,
                reply,
            } => Ok(pending(
                reply,
                self.retry_outbox(batch, &queue, seq, token, not_before, error),
            )),
            Op::FanOut {
                queue,
                seq,
                token,
                to,
                now,
                reply,
            } => {
                *durable = true;
                Ok(pending(
                    reply,
                    self.fan_out(batch, &queue, seq, token, &to, now),
                ))
            }
            Op::Bury {
                queue,
                seq,
                token,
                error,
                reply,
            } => {
                *durable = true;
                Ok(pending(reply, self.bury(batch, &queue, seq, token, error)))
            }
            Op::Replay { queue, now, reply } => {
                *durable = true;
                if let Err(e) = batch.apply() {
                    return Err((pending(reply, Ok(0)), e));
                }
                Ok(pending(reply, self.replay(batch, &queue, now)))
            }
            Op::Purge { queue, reply } => {
                *durable = true;
                if let Err(e) = batch.apply() {
                    return Err((pending(reply, Ok(0)), e));
                }
                Ok(pending(reply, self.purge(batch, &queue)))
            }
            Op::PutRecord { key, value, reply } => {
                *durable = true;
                batch.insert(&key, value);
                Ok(pending(reply, Ok(())))
            }
            Op::DeleteRecord { key, reply } => {
                *durable = true;
                let existed = batch.get(&key).map(|v| v.is_some());
                batch.remove(&key);
                Ok(pending(reply, existed))
            }
            Op::Flush { reply } => {
                *durable = true;
                Ok(pending(reply, Ok(())))
            }
        }
    }

    fn next_id(&self) -> StoreResult<u64> {
        self.db.generate_id().map_err(unavailable)
    }

    /// The job as stored: from the leased jobs when it is one, else read and decoded.
    fn load_job(&self, batch: &Batch<'_>, id: JobId) -> StoreResult<Option<Job>> {
        if let Some(job) = self.leased.get(&id) {
            return Ok(Some(job.clone()));
        }
        read_job(batch, id)
    }

    /// Writes `job`: its schedule record always, its body unless `body_unchanged`, and
    /// its due key moved from `old_due` to its due time.
    fn store_job(
        &mut self,
        batch: &mut Batch<'_>,
        job: &Job,
        old_due: Option<DateTime<Utc>>,
        body_unchanged: bool,
    ) -> StoreResult<()> {
        if !body_unchanged {
            batch.insert(&keys::job(job.id), record::encode_body(job)?);
        }
        batch.insert(&keys::schedule(job.id), record::encode_schedule(job));
        if old_due != job.due_at {
            if let Some(old) = old_due {
                batch.remove(&keys::due(old, job.id));
            }
            if let Some(new) = job.due_at {
                batch.insert(&keys::due(new, job.id), Vec::new());
            }
        }
        if let Some(cached) = self.leased.get_mut(&job.id) {
            cached.clone_from(job);
        }
        Ok(())
    }

    /// Moves the job's entry in the cohort index from `old` (where the job was indexed)
    /// to where `job` belongs now.
    fn index_cohort(&self, batch: &mut Batch<'_>, old: Option<String>, job: &Job) {
        let new = job.indexed_cohort();
        if old == new {
            return;
        }
        let provider = &job.request.key.provider_id;
        if let Some(old) = old {
            batch.remove(&keys::cohort(provider, &old, job.id));
        }
        if let Some(new) = new {
            batch.insert(&keys::cohort(provider, &new, job.id), Vec::new());
        }
    }

    /// Brings the cohort's jobs forward ([`Job::expedites`]); heals index entries of jobs
    /// that left the cohort.
    fn expedite_cohort(
        &mut self,
        batch: &mut Batch<'_>,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let prefix = keys::cohort_prefix(provider, cohort);
        let mut moved = 0;
        let mut stale = Vec::new();
        let tree = self.tree.clone();
        for entry in tree.scan_prefix(&prefix) {
            let (key, _) = entry.map_err(unavailable)?;
            let Some(id) = keys::cohort_job(&key) else {
                stale.push(key.to_vec());
                continue;
            };
            let mut job = match self.load_job(batch, id) {
                Ok(Some(job)) => job,
                Ok(None) => {
                    stale.push(key.to_vec());
                    continue;
                }
                Err(StoreError::Corrupt(e)) => {
                    tracing::error!(job = id.0, error = %e, "skipping a job record that cannot be decoded");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if job.indexed_cohort().as_deref() != Some(cohort)
                || job.request.key.provider_id != provider
            {
                stale.push(key.to_vec());
                continue;
            }
            if !job.expedites(at, seen) {
                continue;
            }
            let old_due = job.due_at;
            job.due_at = Some(at);
            self.store_job(batch, &job, old_due, true)?;
            moved += 1;
        }
        for key in stale {
            batch.remove(&key);
        }
        Ok(moved)
    }

    /// Appends the event for `job` under `seq`, which the caller allocated before writing
    /// anything, so that a failed allocation cannot leave half an operation in the batch.
    fn append_event(
        &self,
        batch: &mut Batch<'_>,
        seq: u64,
        job: &Job,
        reason: EmitReason,
        now: DateTime<Utc>,
    ) -> StoreResult<ResultEvent> {
        let mut event = ResultEvent::for_job(job, reason, now);
        event.id = format!("evt_{}_{seq:016x}", self.instance);
        batch.put_json(&keys::history(job.id, seq), &event)?;
        batch.insert(
            &keys::feed(&job.request.key.tenant, seq),
            job.id.0.to_be_bytes().to_vec(),
        );
        let entry = OutboxEntry {
            seq: EventSeq(seq),
            queue: RESULTS_QUEUE.to_owned(),
            job_id: job.id,
            event: event.clone(),
            attempts: 0,
            available_at: now,
            lease: None,
            dead: false,
            last_error: None,
        };
        batch.put_json(&keys::outbox(RESULTS_QUEUE, seq), &entry)?;
        Ok(event)
    }

    fn publish(
        &mut self,
        batch: &mut Batch<'_>,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        let index_key = keys::job_key(&request.key);
        let current = match batch.get(&index_key)? {
            Some(id) => {
                let id = keys::id_from_value(&id)
                    .ok_or_else(|| StoreError::Corrupt("job index entry is not an id".into()))?;
                self.load_job(batch, id)?
            }
            None => None,
        };
        let old_due = current.as_ref().and_then(|j| j.due_at);
        let old_cohort = current.as_ref().and_then(Job::indexed_cohort);
        let mut new_id = None;
        if current.is_none() {
            new_id = Some(JobId(self.next_id()?));
        }
        let (job, outcome) = Job::plan_publish(current, request, real_time, now, || {
            new_id.unwrap_or(JobId(0))
        });
        match outcome {
            // Nothing changed.
            PublishOutcome::AlreadyTracked => return Ok((job, outcome)),
            PublishOutcome::Created => {
                batch.insert(&index_key, job.id.0.to_be_bytes().to_vec());
                self.created += 1;
            }
            PublishOutcome::Restarted | PublishOutcome::Forced => {}
        }
        self.store_job(batch, &job, old_due, false)?;
        self.index_cohort(batch, old_cohort, &job);
        Ok((job, outcome))
    }

    fn cancel(
        &mut self,
        batch: &mut Batch<'_>,
        key: &JobKey,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ResultEvent>> {
        let Some(id) = batch.get(&keys::job_key(key))? else {
            return Ok(None);
        };
        let id = keys::id_from_value(&id)
            .ok_or_else(|| StoreError::Corrupt("job index entry is not an id".into()))?;
        let current = self.load_job(batch, id)?;
        let old_due = current.as_ref().and_then(|j| j.due_at);
        let old_cohort = current.as_ref().and_then(Job::indexed_cohort);
        let Some(job) = Job::plan_cancel(current, now) else {
            return Ok(None);
        };
        self.index_cohort(batch, old_cohort, &job);
        let seq = self.next_id()?;
        // A cancel changes state, due time and lease only.
        self.store_job(batch, &job, old_due, true)?;
        // No commit will come for a lease it ended.
        self.leased.remove(&job.id);
        self.append_event(batch, seq, &job, EmitReason::TrackingStopped, now)
            .map(Some)
    }

    fn claim_due(&mut self, batch: &mut Batch<'_>, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        let DueClaim { due_by, limit, .. } = claim;
        let end = keys::due_at_millis(keys::due_millis(due_by), u64::MAX);
        let mut claimed = Vec::new();
        let mut stale = Vec::new();
        let tree = self.tree.clone();
        for entry in tree.range(&[keys::DUE][..]..=&end[..]) {
            if claimed.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(unavailable)?;
            let Some((_, id)) = keys::parse_due(&key) else {
                stale.push(key.to_vec());
                continue;
            };
            let mut job = match self.load_job(batch, id) {
                Ok(Some(job)) => job,
                Ok(None) => {
                    stale.push(key.to_vec());
                    continue;
                }
                Err(StoreError::Corrupt(e)) => {
                    // One bad record must not stop every other job; it stays for an
                    // operator to inspect.
                    tracing::error!(job = id.0, error = %e, "skipping a job record that cannot be decoded");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if job
                .due_at
                .map(|d| keys::due(d, id))
                .as_ref()
                .map(|k| &k[..])
                != Some(&key[..])
            {
                // Left behind by a write that moved the due time: heal it.
                stale.push(key.to_vec());
                continue;
            }
            if !job.is_claimable_by(due_by, claim.now) {
                continue;
            }
            let old_due = job.due_at;
            let token = job.claim(claim.lease_until(old_due));
            self.store_job(batch, &job, old_due, true)?;
            if self.leased.len() >= MAX_LEASED {
                tracing::debug!(
                    held = self.leased.len(),
                    "forgetting cached leased jobs (commits that never came)"
                );
                self.leased.clear();
            }
            self.leased.insert(id, job.clone());
            claimed.push(Claimed { job, token });
        }
        for key in stale {
            batch.remove(&key);
        }
        Ok(claimed)
    }

    fn renew(
        &mut self,
        batch: &mut Batch<'_>,
        id: JobId,
        token: u64,
        until: DateTime<Utc>,
        hand_back: bool,
    ) -> StoreResult<()> {
        let mut job = self.load_job(batch, id)?.ok_or(Fenced::Missing)?;
        let old_due = job.due_at;
        if hand_back {
            job.release(token, until)?;
        } else {
            job.renew(token, until)?;
        }
        self.store_job(batch, &job, old_due, true)
    }

    fn complete(&mut self, batch: &mut Batch<'_>, commit: TraceCommit) -> StoreResult<Committed> {
        let id = commit.job.id;
        let current = match self.leased.remove(&id) {
            Some(job) => job,
            None => read_job(batch, id)?.ok_or(Fenced::Missing)?,
        };
        let job = Job::merge_completion(&current, commit.job, commit.token, commit.now)?;
        let seq = commit.emit.map(|_| self.next_id()).transpose()?;
        // Most traces find nothing new: then only the schedule record is written.
        let body_unchanged = record::same_body(&current, &job);
        self.store_job(batch, &job, current.due_at, body_unchanged)?;
        self.index_cohort(batch, current.indexed_cohort(), &job);
        let event = match (commit.emit, seq) {
            (Some(reason), Some(seq)) => {
                Some(self.append_event(batch, seq, &job, reason, commit.now)?)
            }
            _ => None,
        };
        Ok(Committed { job, event })
    }

    fn claim_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        let mut claimed = Vec::new();
        // Jobs with an older entry waiting or in flight: their later entries wait too.
        let mut blocked: HashSet<JobId> = HashSet::new();
        for entry in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            if claimed.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(unavailable)?;
            let mut entry: OutboxEntry = match decode(&value) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(key = ?key, error = %e, "skipping an outbox entry that cannot be decoded");
                    continue;
                }
            };
            if entry.dead || !blocked.insert(entry.job_id) {
                continue;
            }
            let leased = entry.lease.is_some_and(|l| l.until > now);
            if leased || entry.available_at > now {
                continue;
            }
            let token = entry.lease.map_or(1, |l| l.token + 1);
            entry.lease = Some(Lease { token, until });
            batch.put_json(&key, &entry)?;
            claimed.push(OutboxClaim { entry, token });
        }
        Ok(claimed)
    }

    fn load_outbox(
        &self,
        batch: &Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
    ) -> StoreResult<OutboxEntry> {
        let entry: OutboxEntry = batch
            .get_json(&keys::outbox(queue, seq.0))?
            .ok_or(Fenced::Missing)?;
        if entry.dead || entry.lease.map(|l| l.token) != Some(token) {
            return Err(Fenced::LeaseLost.into());
        }
        Ok(entry)
    }

    fn ack_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
    ) -> StoreResult<()> {
        self.load_outbox(batch, queue, seq, token)?;
        batch.remove(&keys::outbox(queue, seq.0));
        Ok(())
    }

    fn retry_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        let mut entry = self.load_outbox(batch, queue, seq, token)?;
        entry.attempts += 1;
        entry.available_at = not_before;
        entry.last_error = error;
        // The lease keeps its token (the next claim's is higher) and ends when the
        // entry is available again.
        entry.lease = entry.lease.map(|l| Lease {
            token: l.token,
            until: not_before,
        });
        batch.put_json(&keys::outbox(queue, seq.0), &entry)
    }

    fn fan_out(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let entry = self.load_outbox(batch, queue, seq, token)?;
        let seqs = to
            .iter()
            .map(|_| self.next_id())
            .collect::<StoreResult<Vec<u64>>>()?;
        batch.remove(&keys::outbox(queue, seq.0));
        for (target, copy_seq) in to.iter().zip(seqs) {
            let copy = OutboxEntry {
                seq: EventSeq(copy_seq),
                queue: target.clone(),
                job_id: entry.job_id,
                event: entry.event.clone(),
                attempts: 0,
                available_at: now,
                lease: None,
                dead: false,
                last_error: None,
            };
            batch.put_json(&keys::outbox(target, copy_seq), &copy)?;
        }
        Ok(())
    }

    fn bury(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        let mut entry = self.load_outbox(batch, queue, seq, token)?;
        entry.dead = true;
        // Keep the token (lapsed) so that the claim after a replay gets a higher one: a
        // deliverer whose lease lapsed long ago must not ack the replayed entry.
        entry.lease = entry.lease.map(|l| Lease {
            token: l.token,
            until: DateTime::<Utc>::MIN_UTC,
        });
        entry.last_error = Some(error);
        batch.put_json(&keys::outbox(queue, seq.0), &entry)
    }

    fn replay(&self, batch: &mut Batch<'_>, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        let mut revived = 0;
        for item in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            let (key, value) = item.map_err(unavailable)?;
            let Ok(mut entry) = decode::<OutboxEntry>(&value) else {
                continue;
            };
            if entry.dead {
                entry.dead = false;
                entry.attempts = 0;
                entry.available_at = now;
                batch.put_json(&key, &entry)?;
                revived += 1;
            }
        }
        Ok(revived)
    }

    fn purge(&self, batch: &mut Batch<'_>, queue: &str) -> StoreResult<usize> {
        let mut removed = 0;
        for item in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            let (key, _) = item.map_err(unavailable)?;
            batch.remove(&key);
            removed += 1;
        }
        Ok(removed)
    }
}

/// The reply of an operation that was not run because its batch already failed.
fn reject(op: Op) -> PendingReply {
    fn fail<T: Send + 'static>(reply: Reply<T>) -> PendingReply {
        Box::new(move |_| {
            let _ = reply.send(Err(StoreError::Unavailable(
                "an earlier write in the same batch failed".into(),
            )));
        })
    }
    match op {
        Op::Publish { reply, .. } => fail(reply),
        Op::Cancel { reply, .. } => fail(reply),
        Op::ClaimDue { reply, .. } => fail(reply),
        Op::Renew { reply, .. } => fail(reply),
        Op::Complete { reply, .. } => fail(reply),
        Op::ClaimOutbox { reply, .. } => fail(reply),
        Op::AckOutbox { reply, .. } => fail(reply),
        Op::RetryOutbox { reply, .. } => fail(reply),
        Op::FanOut { reply, .. } => fail(reply),
        Op::Bury { reply, .. } => fail(reply),
        Op::Replay { reply, .. } => fail(reply),
        Op::Purge { reply, .. } => fail(reply),
        Op::PutRecord { reply, .. } => fail(reply),
        Op::DeleteRecord { reply, .. } => fail(reply),
        Op::ExpediteCohort { reply, .. } => fail(reply),
        Op::Flush { reply } => fail(reply),
    }
}
