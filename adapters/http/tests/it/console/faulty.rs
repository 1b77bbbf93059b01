//! A store that fails on demand: the sled store behind it, with the operations a test
//! names answering "store unavailable" until the test says otherwise.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use boxtrace::{
    Claimed, Committed, DueClaim, EventSeq, FanOutEntry, FeedCursor, FeedPage, Job, JobId, JobKey,
    JobPage, JobStore, ListQuery, Outbox, OutboxClaim, OutboxEntry, OutboxStats, PublishOutcome,
    Records, ResultEvent, SledStore, StoreError, StoreResult, Tenant, TraceCommit, TraceRequest,
};
use chrono::{DateTime, Utc};

/// The operations that fail now, by the name of the store method: before they do
/// anything, or after they did it (a store that timed out after its commit).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    before: Arc<Mutex<HashSet<&'static str>>>,
    after: Arc<Mutex<HashSet<&'static str>>>,
}

impl Faults {
    /// From now on, `operation` fails.
    pub fn fail(&self, operation: &'static str) {
        self.before.lock().unwrap().insert(operation);
    }

    /// From now on, `operation` is done and then answers that it failed (only the
    /// operations that say so, `put_record` for now).
    pub fn fail_after(&self, operation: &'static str) {
        self.after.lock().unwrap().insert(operation);
    }

    fn check(&self, operation: &'static str) -> StoreResult<()> {
        Self::check_in(&self.before, operation)
    }

    fn check_after(&self, operation: &'static str) -> StoreResult<()> {
        Self::check_in(&self.after, operation)
    }

    fn check_in(set: &Mutex<HashSet<&'static str>>, operation: &'static str) -> StoreResult<()> {
        if set.lock().unwrap().contains(operation) {
            return Err(StoreError::Unavailable(format!(
                "injected fault in {operation}"
            )));
        }
        Ok(())
    }
}

/// The sled store with [`Faults`].
#[derive(Debug)]
pub struct FaultyStore {
    inner: SledStore,
    faults: Faults,
}

impl FaultyStore {
    pub fn open(path: &std::path::Path, faults: Faults) -> Self {
        Self {
            inner: SledStore::open_path(path).unwrap(),
            faults,
        }
    }
}

#[async_trait]
impl JobStore for FaultyStore {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        self.faults.check("publish")?;
        self.inner.publish(request, real_time, now).await
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        self.faults.check("cancel")?;
        self.inner.cancel(key, now).await
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        self.faults.check("get")?;
        self.inner.get(key).await
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        self.faults.check("list")?;
        self.inner.list(tenant, query).await
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        self.faults.check("list_all")?;
        self.inner.list_all(query).await
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        self.faults.check("history")?;
        self.inner.history(key, limit).await
    }

    async fn results(
        &self,
        tenant: &Tenant,
        after: FeedCursor,
        limit: usize,
    ) -> StoreResult<FeedPage> {
        self.faults.check("results")?;
        self.inner.results(tenant, after, limit).await
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.faults.check("claim_due_by")?;
        self.inner.claim_due_by(claim).await
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.faults.check("renew")?;
        self.inner.renew(job, token, until).await
    }

    async fn release(&self, job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()> {
        self.faults.check("release")?;
        self.inner.release(job, token, due).await
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        self.faults.check("complete")?;
        self.inner.complete(commit).await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.faults.check("next_due")?;
        self.inner.next_due().await
    }

    async fn expedite_cohort(
        &self,
        provider: &str,
        cohort: &str,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
    ) -> StoreResult<usize> {
        self.faults.check("expedite_cohort")?;
        self.inner.expedite_cohort(provider, cohort, at, seen).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.faults.check("flush")?;
        self.inner.flush().await
    }

    fn writable(&self) -> StoreResult<()> {
        self.inner.writable()
    }

    async fn failed(&self) -> StoreError {
        self.inner.failed().await
    }
}

#[async_trait]
impl Outbox for FaultyStore {
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        self.faults.check("claim_outbox")?;
        self.inner
            .claim_outbox(queue, now, limit, lease_until)
            .await
    }

    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()> {
        self.faults.check("ack_outbox")?;
        self.inner.ack_outbox(queue, seq, token).await
    }

    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        self.faults.check("retry_outbox")?;
        self.inner
            .retry_outbox(queue, seq, token, not_before, error)
            .await
    }

    async fn fan_out(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.faults.check("fan_out")?;
        self.inner.fan_out(queue, seq, token, to, now).await
    }

    async fn fan_out_all(
        &self,
        queue: &str,
        entries: &[FanOutEntry],
        now: DateTime<Utc>,
    ) -> Vec<StoreResult<()>> {
        if self.faults.check("fan_out_all").is_err() {
            return entries
                .iter()
                .map(|_| self.faults.check("fan_out_all"))
                .collect();
        }
        self.inner.fan_out_all(queue, entries, now).await
    }

    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        self.faults.check("bury_outbox")?;
        self.inner.bury_outbox(queue, seq, token, error).await
    }

    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        self.faults.check("replay_outbox")?;
        self.inner.replay_outbox(queue, now).await
    }

    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize> {
        self.faults.check("purge_outbox")?;
        self.inner.purge_outbox(queue).await
    }

    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats> {
        self.faults.check("outbox_stats")?;
        self.inner.outbox_stats(queue).await
    }

    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.faults.check("outbox_entries")?;
        self.inner.outbox_entries(queue, limit).await
    }
}

#[async_trait]
impl Records for FaultyStore {
    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> StoreResult<()> {
        self.faults.check("put_record")?;
        self.inner.put_record(kind, key, value).await?;
        self.faults.check_after("put_record")
    }

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.faults.check("get_record")?;
        self.inner.get_record(kind, key).await
    }

    async fn list_records(
        &self,
        kind: &str,
        prefix: &str,
    ) -> StoreResult<Vec<(String, serde_json::Value)>> {
        self.faults.check("list_records")?;
        self.inner.list_records(kind, prefix).await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool> {
        self.faults.check("delete_record")?;
        self.inner.delete_record(kind, key).await
    }
}
