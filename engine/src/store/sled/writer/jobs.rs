//! What the writer does to jobs: publish, cancel, claims, renewals, commits, and the
//! cohort index.

use chrono::{DateTime, Utc};

use super::batch::{encode, read_job, unavailable, Batch};
use super::{retention, Writer, MAX_LEASED};
use crate::model::{EmitReason, Fenced, Job, JobId, JobKey, PublishOutcome, ResultEvent};
use crate::store::sled::prepare::{self, PreparedCommit, PreparedPublish};
use crate::store::sled::{keys, record};
use crate::store::{Claimed, Committed, DueClaim, StoreError, StoreResult, RESULTS_QUEUE};

/// What becomes of a job record that cannot be decoded, met through the due or cohort
/// index.
const SKIPPED: &str = "skipped; it stays for an operator to inspect";

/// What an index entry leads to ([`Writer::load_indexed`]).
// A return value, matched at once: boxing the job would cost an allocation per job claimed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Indexed {
    Found(Job),
    /// No such job: the entry was left behind, and can go.
    Gone,
    /// Its record cannot be decoded (logged).
    Damaged,
}

impl Writer {
    /// The job as stored: from the leased jobs when it is one, else read and decoded.
    pub(super) fn load_job(&self, batch: &Batch<'_>, id: JobId) -> StoreResult<Option<Job>> {
        if let Some(job) = self.leased.get(&id) {
            return Ok(Some(job.clone()));
        }
        read_job(batch, id)
    }

    /// The job an index entry names, as [`Writer::load_job`] reads it. A record that
    /// cannot be decoded is logged (with what `then` happens to it) and comes back as
    /// [`Indexed::Damaged`]: one bad record must not stop the others.
    pub(super) fn load_indexed(
        &self,
        batch: &Batch<'_>,
        id: JobId,
        then: &'static str,
    ) -> StoreResult<Indexed> {
        match self.load_job(batch, id) {
            Ok(Some(job)) => Ok(Indexed::Found(job)),
            Ok(None) => Ok(Indexed::Gone),
            Err(StoreError::Corrupt(e)) => {
                tracing::error!(job = id.0, error = %e, then, "a job record cannot be decoded");
                Ok(Indexed::Damaged)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `job`: its schedule record always, its body unless `body_unchanged`, and
    /// its due key moved from `old_due` to its due time.
    pub(super) fn store_job(
        &mut self,
        batch: &mut Batch<'_>,
        job: &Job,
        old_due: Option<DateTime<Utc>>,
        body_unchanged: bool,
    ) -> StoreResult<()> {
        let body = match body_unchanged {
            true => None,
            false => Some(record::encode_body(job)?.into()),
        };
        self.store_encoded(
            batch,
            job,
            old_due,
            body,
            record::encode_schedule(job).into(),
        );
        Ok(())
    }

    /// Writes `job` from its encoded values: `schedule` always, `body` if given, and its
    /// due key moved from `old_due` to its due time.
    pub(super) fn store_encoded(
        &mut self,
        batch: &mut Batch<'_>,
        job: &Job,
        old_due: Option<DateTime<Utc>>,
        body: Option<sled::IVec>,
        schedule: sled::IVec,
    ) {
        if let Some(body) = body {
            batch.insert(&keys::job(job.id), body);
        }
        batch.insert(&keys::schedule(job.id), schedule);
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
    }

    /// Moves the job's entry in the cohort index from `old` (where the job was indexed)
    /// to where `job` belongs now.
    pub(super) fn index_cohort(&self, batch: &mut Batch<'_>, old: Option<String>, job: &Job) {
        let new = job.indexed_cohort();
        // Compared before the keys are made: most commits leave the cohort as it was.
        if old == new {
            return;
        }
        let key = |cohort: String| keys::cohort(&job.request.key.provider_id, &cohort, job.id);
        batch.move_entry(old.map(key).as_deref(), new.map(key).as_deref());
    }

    /// Brings the cohort's jobs forward ([`Job::expedites`]); heals index entries of jobs
    /// that left the cohort.
    pub(super) fn expedite_cohort(
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
            let mut job = match self.load_indexed(batch, id, SKIPPED)? {
                Indexed::Found(job) => job,
                Indexed::Gone => {
                    stale.push(key.to_vec());
                    continue;
                }
                Indexed::Damaged => continue,
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
    pub(super) fn append_event(
        &self,
        batch: &mut Batch<'_>,
        seq: u64,
        job: &Job,
        reason: EmitReason,
        now: DateTime<Utc>,
    ) -> StoreResult<ResultEvent> {
        let mut event = ResultEvent::for_job(job, reason, now);
        event.id = prepare::event_id(&self.instance, seq);
        let history = encode(&event)?;
        let entry = prepare::results_entry(seq, job.id, event, now);
        let outbox = encode(&entry)?;
        self.append_encoded(batch, seq, job, history, outbox);
        Ok(entry.event)
    }

    /// Appends event `seq` of `job` from its encoded history value and outbox entry.
    pub(super) fn append_encoded(
        &self,
        batch: &mut Batch<'_>,
        seq: u64,
        job: &Job,
        history: Vec<u8>,
        outbox: Vec<u8>,
    ) {
        batch.insert(&keys::history(job.id, seq), history);
        batch.insert(
            &keys::feed(&job.request.key.tenant, seq),
            job.id.0.to_be_bytes().to_vec(),
        );
        batch.insert(&keys::outbox(RESULTS_QUEUE, seq), outbox);
    }

    pub(super) fn publish(
        &mut self,
        batch: &mut Batch<'_>,
        prepared: PreparedPublish,
    ) -> StoreResult<(Job, PublishOutcome)> {
        let current = match batch.get(&prepared.index_key)? {
            Some(id) => self.load_job(batch, keys::indexed_id(&id)?)?,
            None => None,
        };
        let Some(current) = current else {
            // A new key, as prepared, under an id drawn before anything is written.
            let id = JobId(self.next_id()?);
            let body = prepared.body(id);
            let mut job = prepared.job;
            job.id = id;
            batch.insert(&prepared.index_key, id.0.to_be_bytes().to_vec());
            batch.insert(&keys::job(id), body);
            batch.insert(&keys::schedule(id), prepared.schedule);
            if let Some(due) = job.due_at {
                batch.insert(&keys::due(due, id), Vec::new());
            }
            // A new job has no result yet, so no cohort to index.
            debug_assert!(job.indexed_cohort().is_none());
            self.created += 1;
            return Ok((job, PublishOutcome::Created));
        };
        let old_due = current.due_at;
        let old_cohort = current.indexed_cohort();
        let old_finished = retention::finished_key(&current);
        let (job, outcome) = Job::plan_publish(
            Some(current),
            prepared.job.request,
            prepared.real_time,
            prepared.now,
            || JobId(0),
        );
        match outcome {
            // Nothing changed.
            PublishOutcome::AlreadyTracked => return Ok((job, outcome)),
            PublishOutcome::Created => {
                return Err(StoreError::Corrupt(
                    "a publish over a stored job created another".into(),
                ))
            }
            PublishOutcome::Restarted | PublishOutcome::Forced => {}
        }
        self.store_job(batch, &job, old_due, false)?;
        self.index_cohort(batch, old_cohort, &job);
        retention::index_finished(batch, old_finished, &job);
        Ok((job, outcome))
    }

    pub(super) fn cancel(
        &mut self,
        batch: &mut Batch<'_>,
        key: &JobKey,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ResultEvent>> {
        let Some(id) = batch.get(&keys::job_key(key))? else {
            return Ok(None);
        };
        let current = self.load_job(batch, keys::indexed_id(&id)?)?;
        let old_due = current.as_ref().and_then(|j| j.due_at);
        let old_cohort = current.as_ref().and_then(Job::indexed_cohort);
        let Some(job) = Job::plan_cancel(current, now) else {
            return Ok(None);
        };
        // Drawn before anything is written: an allocation that fails leaves the batch
        // without half a cancel (the batch is still applied for its other operations).
        let seq = self.next_id()?;
        self.index_cohort(batch, old_cohort, &job);
        // An active job has no retention entry.
        retention::index_finished(batch, None, &job);
        // A cancel changes state, due time and lease only.
        self.store_job(batch, &job, old_due, true)?;
        // No commit will come for a lease it ended.
        self.leased.remove(&job.id);
        self.append_event(batch, seq, &job, EmitReason::TrackingStopped, now)
            .map(Some)
    }

    pub(super) fn claim_due(
        &mut self,
        batch: &mut Batch<'_>,
        claim: DueClaim,
    ) -> StoreResult<Vec<Claimed>> {
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
            let mut job = match self.load_indexed(batch, id, SKIPPED)? {
                Indexed::Found(job) => job,
                Indexed::Gone => {
                    stale.push(key.to_vec());
                    continue;
                }
                Indexed::Damaged => continue,
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

    pub(super) fn renew(
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

    pub(super) fn complete(
        &mut self,
        batch: &mut Batch<'_>,
        prepared: PreparedCommit,
    ) -> StoreResult<Committed> {
        let id = prepared.commit.job.id;
        let current = match self.leased.remove(&id) {
            Some(job) => job,
            None => read_job(batch, id)?.ok_or(Fenced::Missing)?,
        };
        let holds = prepared.holds_for(&current);
        let PreparedCommit {
            commit,
            schedule,
            body,
            event,
        } = prepared;
        let job = Job::merge_completion(&current, commit.job, commit.token, commit.now)?;
        let seq = commit.emit.map(|_| self.next_id()).transpose()?;
        // Most traces find nothing new: then only the schedule record is written.
        let body = match record::same_body(&current, &job) {
            true => None,
            false => match body {
                Some(body) if holds => Some(body),
                _ => Some(record::encode_body(&job)?.into()),
            },
        };
        let schedule = match holds {
            true => schedule,
            false => record::encode_schedule(&job).into(),
        };
        self.store_encoded(batch, &job, current.due_at, body, schedule);
        self.index_cohort(batch, current.indexed_cohort(), &job);
        retention::index_finished(batch, retention::finished_key(&current), &job);
        let event = match (commit.emit, seq, event) {
            (Some(_), Some(seq), Some(event)) if holds => {
                let numbered = event.number(&self.instance, seq);
                self.append_encoded(batch, seq, &job, numbered.history, numbered.outbox);
                Some(numbered.event)
            }
            (Some(reason), Some(seq), _) => {
                Some(self.append_event(batch, seq, &job, reason, commit.now)?)
            }
            _ => None,
        };
        Ok(Committed { job, event })
    }
}
