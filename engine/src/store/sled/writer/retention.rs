//! Retention in the sled store: the index of finished jobs by finish time (`e` keys), kept
//! by the writer in the same batch that finishes or restarts a job, and the purge of jobs
//! that finished before a cutoff with everything they own.

use chrono::{DateTime, Utc};

use super::super::open::build_index;
use super::super::{keys, record};
use super::batch::{unavailable, Batch};
use super::jobs::Indexed;
use super::Writer;
use crate::model::{Job, JobId};
use crate::store::StoreResult;

/// The retention index key of `job` while it is finished; none while it is active.
pub(super) fn finished_key(job: &Job) -> Option<[u8; 17]> {
    (!job.state.is_active()).then(|| keys::finished(job.updated_at, job.id))
}

/// Moves `job`'s retention index entry from `old` (its key before this write) to where
/// it belongs now: added when the job finishes, removed when a re-publish restarts it.
pub(super) fn index_finished(batch: &mut Batch<'_>, old: Option<[u8; 17]>, job: &Job) {
    let new = finished_key(job);
    batch.move_entry(old.as_ref().map(|k| &k[..]), new.as_ref().map(|k| &k[..]));
}

/// What becomes of a finished job whose record cannot be decoded.
const UNINDEXED: &str =
    "not removed; it stays for an operator to inspect, out of the retention index";

impl Writer {
    /// Removes up to `limit` jobs that finished before `before`, oldest first. Runs in the
    /// writer, after the batch's earlier writes are applied, so each job is checked as it
    /// stands: still finished, and finished before the cutoff (a re-publish earlier in the
    /// batch has removed its index entry, or moved it on a later finish).
    pub(super) fn purge_finished(
        &mut self,
        batch: &mut Batch<'_>,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let end = keys::finished(before, JobId(u64::MAX));
        let tree = self.tree.clone();
        let mut removed = 0;
        let mut stale = Vec::new();
        for entry in tree.range(&[keys::FINISHED][..]..=&end[..]) {
            if removed >= limit {
                break;
            }
            let (key, _) = entry.map_err(unavailable)?;
            let Some(id) = keys::finished_job(&key) else {
                stale.push(key.to_vec());
                continue;
            };
            // A record that cannot be decoded is kept for an operator to inspect, as the
            // dispatcher keeps it, and leaves the index, as a store upgraded to it leaves
            // such a job (`index_finished_jobs`): said once, not at every sweep.
            let job = match self.load_indexed(batch, id, UNINDEXED)? {
                Indexed::Found(job) => job,
                Indexed::Gone | Indexed::Damaged => {
                    stale.push(key.to_vec());
                    continue;
                }
            };
            if finished_key(&job).as_ref().map(|k| &k[..]) != Some(&key[..]) {
                // Left behind by a write that restarted the job: heal it.
                stale.push(key.to_vec());
                continue;
            }
            if job.updated_at >= before {
                // The same millisecond as the cutoff, a little after it.
                continue;
            }
            self.remove_job(batch, &job)?;
            batch.remove(&key);
            removed += 1;
        }
        for key in stale {
            batch.remove(&key);
        }
        Ok(removed)
    }

    /// Removes `job` and everything it owns: body, schedule record, key index (if it
    /// still names this job), due and cohort index entries, history and results-feed
    /// entries. Outbox entries stay: they are removed when delivered.
    fn remove_job(&mut self, batch: &mut Batch<'_>, job: &Job) -> StoreResult<()> {
        let id = job.id;
        let index_key = keys::job_key(&job.request.key);
        if batch
            .get(&index_key)?
            .as_deref()
            .and_then(keys::id_from_value)
            == Some(id)
        {
            batch.remove(&index_key);
        }
        batch.remove(&keys::job(id));
        batch.remove(&keys::schedule(id));
        if let Some(due) = job.due_at {
            batch.remove(&keys::due(due, id));
        }
        if let Some(cohort) = job.cohort() {
            batch.remove(&keys::cohort(&job.request.key.provider_id, &cohort, id));
        }
        let tenant = &job.request.key.tenant;
        for entry in self.tree.scan_prefix(keys::history_prefix(id)) {
            let (key, _) = entry.map_err(unavailable)?;
            if let Some(seq) = keys::feed_seq(&key) {
                batch.remove(&keys::feed(tenant, seq));
            }
            batch.remove(&key);
        }
        self.leased.remove(&id);
        Ok(())
    }
}

/// Adds every finished job of a store written before the retention index to it
/// (idempotent); returns how many. One scan of all jobs, once, when the store is
/// upgraded.
pub(in crate::store::sled) fn index_finished_jobs(tree: &sled::Tree) -> StoreResult<u64> {
    build_index(tree, keys::JOB, |key, body| {
        let Some(id) = key.get(1..9).and_then(keys::id_from_value) else {
            return Ok(None);
        };
        let schedule = tree.get(keys::schedule(id)).map_err(unavailable)?;
        match record::decode(schedule.as_deref(), body) {
            Ok(job) => Ok(finished_key(&job).map(|key| (key.to_vec(), Vec::new()))),
            Err(e) => {
                tracing::error!(job = id.0, error = %e, "not indexing a job whose record cannot be decoded for retention");
                Ok(None)
            }
        }
    })
}
