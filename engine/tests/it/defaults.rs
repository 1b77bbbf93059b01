//! [`Defaults`]: a store that implements only the required methods of [`JobStore`] and
//! [`Outbox`], forwarded to another store, and keeps every default of the traits: the
//! least a backend writer writes, which the core conformance suites must accept.

use async_trait::async_trait;
use boxtrace::{
    Claimed, Committed, DueClaim, EventSeq, Job, JobId, JobKey, JobPage, JobStore, ListQuery,
    Outbox, OutboxClaim, OutboxEntry, OutboxStats, PublishOutcome, ResultEvent, StoreResult,
    Tenant, TraceCommit, TraceRequest,
};
use chrono::{DateTime, Utc};

/// `S` seen through its required methods only (no feed, retention, cohort index or
/// release; `fan_out_all` and `settle` one by one).
#[derive(Debug)]
pub struct Defaults<S>(pub S);

#[async_trait]
impl<S: JobStore> JobStore for Defaults<S> {
    async fn publish(
        &self,
        request: TraceRequest,
        real_time: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<(Job, PublishOutcome)> {
        self.0.publish(request, real_time, now).await
    }

    async fn cancel(&self, key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>> {
        self.0.cancel(key, now).await
    }

    async fn get(&self, key: &JobKey) -> StoreResult<Option<Job>> {
        self.0.get(key).await
    }

    async fn list(&self, tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage> {
        self.0.list(tenant, query).await
    }

    async fn list_all(&self, query: &ListQuery) -> StoreResult<JobPage> {
        self.0.list_all(query).await
    }

    async fn history(&self, key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>> {
        self.0.history(key, limit).await
    }

    async fn claim_due_by(&self, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
        self.0.claim_due_by(claim).await
    }

    async fn renew(&self, job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()> {
        self.0.renew(job, token, until).await
    }

    async fn complete(&self, commit: TraceCommit) -> StoreResult<Committed> {
        self.0.complete(commit).await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.0.next_due().await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.0.flush().await
    }
}

#[async_trait]
impl<S: JobStore + Outbox> Outbox for Defaults<S> {
    async fn claim_outbox(
        &self,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        self.0.claim_outbox(queue, now, limit, lease_until).await
    }

    async fn ack_outbox(&self, queue: &str, seq: EventSeq, token: u64) -> StoreResult<()> {
        self.0.ack_outbox(queue, seq, token).await
    }

    async fn retry_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        self.0
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
        self.0.fan_out(queue, seq, token, to, now).await
    }

    async fn bury_outbox(
        &self,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        self.0.bury_outbox(queue, seq, token, error).await
    }

    async fn replay_outbox(&self, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
        self.0.replay_outbox(queue, now).await
    }

    async fn purge_outbox(&self, queue: &str) -> StoreResult<usize> {
        self.0.purge_outbox(queue).await
    }

    async fn outbox_stats(&self, queue: &str) -> StoreResult<OutboxStats> {
        self.0.outbox_stats(queue).await
    }

    async fn outbox_entries(&self, queue: &str, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.0.outbox_entries(queue, limit).await
    }
}
