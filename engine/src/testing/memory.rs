//! [`MemoryJobStore`]: a job store held in memory, the smallest backend that runs the
//! engine. It implements [`JobStore`] alone (no outbox, no adapter records), with the
//! model's pure rules doing the deciding, so that it reads as the reference for a new
//! backend. Nothing is durable: a process that ends loses every job.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    EmitReason, Fenced, Job, JobId, JobKey, PublishOutcome, ResultEvent, Tenant, TraceKind,
    TraceRequest,
};
use crate::store::feed::{page_limit, FeedCursor, FeedEntry, FeedPage};
use crate::store::{
    Claimed, Committed, DueClaim, JobPage, JobStore, ListQuery, StoreError, StoreResult,
    TraceCommit,
};

/// Page size of [`JobStore::list`] when the query asks for 0, and its cap.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// A job store in memory: for tests, demos and as the template of a new backend. It passes
/// `store_conformance::run_job_store` and, overriding every optional method, `run_feed`,
/// `run_retention`, `run_cohort` and `run_release`; it is not durable, so an acknowledged
/// publish lives only as long as the process.
///
/// Every lookup goes through an index: due jobs (ordered by due time), finished jobs (by
/// finish time), cohorts (by provider and cohort), listings (by key), so that each costs
/// O(log n + k), as the trait asks of any backend.
#[derive(Debug, Default)]
pub struct MemoryJobStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    jobs: BTreeMap<JobKey, Job>,
    keys: HashMap<JobId, JobKey>,
    /// (due time, job) of every job with a due time: what `claim_due_by` walks.
    due: BTreeSet<(DateTime<Utc>, JobId)>,
    /// (finish time, job) of every finished job: what `purge_finished` walks.
    finished: BTreeSet<(DateTime<Utc>, JobId)>,
    /// The active jobs of each (provider, cohort) ([`Job::indexed_cohort`]): what
    /// `expedite_cohort` walks.
    cohorts: HashMap<(String, String), BTreeSet<JobId>>,
    /// Each job's result events, oldest first, under their feed sequence numbers (so
    /// that a purge finds its feed entries without a scan).
    history: HashMap<JobId, Vec<(u64, ResultEvent)>>,
    /// Each tenant's result events in the order they were appended, under their sequence.
    feed: HashMap<Tenant, BTreeMap<u64, ResultEvent>>,
    /// The last job id and event sequence handed out.
    last_id: u64,
    last_seq: u64,
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every write below leaves the state whole before it can panic, so a poisoned
        // lock still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Stores `job` under its key, moving its due-index entry from `old_due` and its
    /// retention entry from where the job it replaces had it.
    fn put(&mut self, job: Job, old_due: Option<DateTime<Utc>>) {
        if let Some(due) = old_due {
            self.due.remove(&(due, job.id));
        }
        if let Some(due) = job.due_at {
            self.due.insert((due, job.id));
        }
        if let Some(old) = self.jobs.get(&job.request.key) {
            self.finished.remove(&(old.updated_at, old.id));
            unindex_cohort(&mut self.cohorts, old);
        }
        if !job.state.is_active() {
            // A finished job's `updated_at` is when it finished.
            self.finished.insert((job.updated_at, job.id));
        }
        if let Some(cohort) = job.indexed_cohort() {
            self.cohorts
                .entry((job.request.key.provider_id.clone(), cohort))
                .or_default()
                .insert(job.id);
        }
        self.keys.insert(job.id, job.request.key.clone());
        self.jobs.insert(job.request.key.clone(), job);
    }

    fn job(&self, id: JobId) -> Option<&Job> {
        self.keys.get(&id).and_then(|key| self.jobs.get(key))
    }

    /// Appends the event `reason` calls for to the job's history and its tenant's feed.
    fn append_event(&mut self, job: &Job, reason: EmitReason, now: DateTime<Utc>) -> ResultEvent {
        self.last_seq += 1;
        let seq = self.last_seq;
        let mut event = ResultEvent::for_job(job, reason, now);
        event.id = format!("evt_memory_{seq:016x}");
        self.history
            .entry(job.id)
            .or_default()
            .push((seq, event.clone()));
        self.feed
            .entry(job.request.key.tenant.clone())
            .or_default()
            .insert(seq, event.clone());
        event
    }

    fn page<'a>(
        &self,
        jobs: impl Iterator<Item = (&'a JobKey, &'a Job)>,
        query: &ListQuery,
    ) -> JobPage {
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let mut page: Vec<Job> = jobs
            .map(|(_, job)| job)
            .filter(|job| {
                query.state.is_none_or(|s| s == job.state)
                    && query.kind.is_none_or(|k| k == job.request.key.kind)
            })
            .take(limit + 1)
            .cloned()
            .collect();
        let next = (page.len() > limit).then(|| {
            page.truncate(limit);
            page.last().map(|job| cursor(&job.request.key))
        });
        JobPage {
            jobs: page,
            next: next.flatten(),
        }
    }
}

/// Removes `job` from the cohort it is indexed under, if any.
fn unindex_cohort(cohorts: &mut HashMap<(String, String), BTreeSet<JobId>>, job: &Job) {
    let Some(cohort) = job.indexed_cohort() else {
        return;
    };
    let entry = (job.request.key.provider_id.clone(), cohort);
    if let Some(ids) = cohorts.get_mut(&entry) {
        ids.remove(&job.id);
        if ids.is_empty() {
            cohorts.remove(&entry);
        }
    }
}

/// A listing cursor: the last key of the page, as hex of its JSON (opaque to clients).
fn cursor(key: &JobKey) -> String {
    serde_json::to_vec(key)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_cursor(text: &str) -> StoreResult<JobKey> {
    let invalid = || StoreError::InvalidCursor("not a cursor of this listing".into());
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        let mut state = self.state();
        let current = state.jobs.get(&request.key).cloned();
        let old_due = current.as_ref().and_then(|job| job.due_at);
        let next_id = JobId(state.last_id + 1);
        let (job, outcome) = Job::plan_publish(current, request, real_time, now, || next_id);
        match outcome {
            PublishOutcome::AlreadyTracked => return Ok((job, outcome)),
            PublishOutcome::Created => state.last_id = next_id.0,
            PublishOutcome::Restarted | PublishOutcome::Forced => {}
        }
        state.put(job.clone(), old_due);
        Ok((job, outcome))
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        let mut state = self.state();
        let current = state.jobs.get(key).cloned();
        let old_due = current.as_ref().and_then(|job| job.due_at);
        let Some(job) = Job::plan_cancel(current, now) else {
            return Ok(None);
        };
        let event = state.append_event(&job, EmitReason::TrackingStopped, now);
        state.put(job, old_due);
        Ok(Some(event))
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        Ok(self.state().jobs.get(key).cloned())
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        let state = self.state();
        let after = query.after.as_deref().map(parse_cursor).transpose()?;
        if after.as_ref().is_some_and(|key| &key.tenant != tenant) {
            return Err(StoreError::InvalidCursor(
                "not a cursor of this tenant's listing".into(),
            ));
        }
        let start = match after {
            Some(after) => Bound::Excluded(after),
            // The least key of the tenant: kinds order Export first, and no string sorts
            // before the empty one.
            None => Bound::Included(JobKey {
                tenant: tenant.clone(),
                kind: TraceKind::Export,
                provider_id: String::new(),
                container: String::new(),
            }),
        };
        let jobs = state
            .jobs
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| &key.tenant == tenant);
        Ok(state.page(jobs, query))
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        let state = self.state();
        let after = query.after.as_deref().map(parse_cursor).transpose()?;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let jobs = state.jobs.range((start, Bound::Unbounded));
        Ok(state.page(jobs, query))
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        let state = self.state();
        let Some(events) = state
            .jobs
            .get(key)
            .and_then(|job| state.history.get(&job.id))
        else {
            return Ok(Vec::new());
        };
        Ok(events[events.len().saturating_sub(limit)..]
            .iter()
            .map(|(_, event)| event.clone())
            .collect())
    }

    async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> StoreResult<FeedPage> {
        let limit = page_limit(limit);
        let state = self.state();
        let fetched = state
            .feed
            .get(tenant)
            .into_iter()
            .flat_map(|events| events.range(after.major.saturating_add(1)..))
            .take(limit + 1)
            .map(|(seq, event)| FeedEntry {
                cursor: FeedCursor {
                    major: *seq,
                    minor: 0,
                },
                event: event.clone(),
            })
            .collect();
        Ok(FeedPage::from_fetched(fetched, after, limit))
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        let mut state = self.state();
        // Lazily, so that a claim costs the jobs it takes (and the held ones it steps
        // over), not every job due by the horizon.
        let due: Vec<Job> = state
            .due
            .iter()
            .take_while(|(due, _)| *due <= claim.due_by)
            .filter_map(|(_, id)| state.job(*id))
            .filter(|job| job.is_claimable_by(claim.due_by, claim.now))
            .take(claim.limit)
            .cloned()
            .collect();
        let mut claimed = Vec::with_capacity(due.len());
        for mut job in due {
            let old_due = job.due_at;
            let token = job.claim(claim.lease_until(old_due));
            state.put(job.clone(), old_due);
            claimed.push(Claimed { job, token });
        }
        Ok(claimed)
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.state();
        let mut current = state.job(job).cloned().ok_or(Fenced::Missing)?;
        let old_due = current.due_at;
        current.renew(token, until)?;
        state.put(current, old_due);
        Ok(())
    }

    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.state();
        let mut current = state.job(job).cloned().ok_or(Fenced::Missing)?;
        let old_due = current.due_at;
        current.release(token, due)?;
        state.put(current, old_due);
        Ok(())
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        let mut state = self.state();
        let current = state.job(commit.job.id).cloned().ok_or(Fenced::Missing)?;
        let job = Job::merge_completion(&current, commit.job, commit.token, commit.now)?;
        let event = commit
            .emit
            .map(|reason| state.append_event(&job, reason, commit.now));
        state.put(job.clone(), current.due_at);
        Ok(Committed { job, event })
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self.state().due.first().map(|(due, _)| *due))
    }

    async fn expedite_cohort(
        &self,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut state = self.state();
        let moving: Vec<Job> = state
            .cohorts
            .get(&(provider.to_owned(), cohort.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|id| state.job(*id))
            .filter(|job| job.expedites(at, seen))
            .cloned()
            .collect();
        let moved = moving.len();
        for mut job in moving {
            let old_due = job.due_at;
            job.due_at = Some(at);
            state.put(job, old_due);
        }
        Ok(moved)
    }

    async fn purge_finished(
        &self,
        finished_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<usize> {
        let mut state = self.state();
        // Every entry sorts before (cutoff, 0) exactly when it finished before the cutoff.
        let doomed: Vec<(DateTime<Utc>, JobId)> = state
            .finished
            .range(..(finished_before, JobId(0)))
            .take(limit)
            .copied()
            .collect();
        for entry in &doomed {
            state.finished.remove(entry);
            let id = entry.1;
            let Some(key) = state.keys.remove(&id) else {
                continue;
            };
            if let Some(job) = state.jobs.remove(&key) {
                if let Some(due) = job.due_at {
                    state.due.remove(&(due, id));
                }
                unindex_cohort(&mut state.cohorts, &job);
            }
            let events = state.history.remove(&id).unwrap_or_default();
            if let Some(feed) = state.feed.get_mut(&key.tenant) {
                for (seq, _) in &events {
                    feed.remove(seq);
                }
            }
        }
        Ok(doomed.len())
    }

    async fn flush(&self) -> StoreResult<()> {
        Ok(())
    }
}
