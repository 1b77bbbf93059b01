//! A store that fails on demand: the sled store behind it, with the outbox and record
//! operations a test names answering "store unavailable" until the test says otherwise.
//! Every method is forwarded, the defaulted ones included, so that without faults it
//! behaves as sled (retention purges, settlements release at once):
//! `a_fault_free_faulty_store_passes_the_store_conformance_suite` holds it to that.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use boxtrace::testing::store_conformance;
use boxtrace::{
    Claimed, Committed, DueClaim, EventSeq, FanOutEntry, FeedCursor, FeedPage, Job, JobId, JobKey,
    JobPage, JobStore, ListQuery, Outbox, OutboxClaim, OutboxEntry, OutboxStats, PublishOutcome,
    Records, ResultEvent, Settlement, SledStore, StoreError, StoreResult, Tenant, TraceCommit,
    TraceRequest,
};
use chrono::{DateTime, Utc};

/// An operation that can be made to fail: the outbox and the records, the capabilities
/// whose failures the console tests show (job-store calls always reach sled; give one a
/// variant and an `[Op]` below when a test needs it to fail). A variant per method, so
/// that a test cannot name one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    ClaimOutbox,
    AckOutbox,
    RetryOutbox,
    FanOut,
    FanOutAll,
    BuryOutbox,
    Settle,
    ReplayOutbox,
    PurgeOutbox,
    OutboxStats,
    OutboxEntries,
    PutRecord,
    GetRecord,
    ListRecords,
    DeleteRecord,
}

/// The operations that fail now: before they do anything, or after they did it (a store
/// that timed out after its commit).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    before: Arc<Mutex<HashSet<Op>>>,
    after: Arc<Mutex<HashSet<Op>>>,
}

impl Faults {
    /// From now on, `op` fails.
    pub fn fail(&self, op: Op) {
        self.before.lock().unwrap().insert(op);
    }

    /// From now on, `op` is done and then answers that it failed.
    pub fn fail_after(&self, op: Op) {
        self.after.lock().unwrap().insert(op);
    }

    fn check(&self, op: Op) -> StoreResult<()> {
        Self::check_in(&self.before, op)
    }

    /// `answer` unless `op` fails after it was done.
    fn check_after<T>(&self, op: Op, answer: StoreResult<T>) -> StoreResult<T> {
        let answer = answer?;
        Self::check_in(&self.after, op)?;
        Ok(answer)
    }

    /// `answers`, each failed if `op` fails after it was done.
    fn check_each_after(&self, op: Op, answers: Vec<StoreResult<()>>) -> Vec<StoreResult<()>> {
        answers
            .into_iter()
            .map(|answer| self.check_after(op, answer))
            .collect()
    }

    fn check_in(set: &Mutex<HashSet<Op>>, op: Op) -> StoreResult<()> {
        if set.lock().unwrap().contains(&op) {
            return Err(StoreError::Unavailable(format!("injected fault in {op:?}")));
        }
        Ok(())
    }

    /// One answer per entry of a batch call: all failed when `op` fails, else `None`.
    fn check_each<T>(&self, op: Op, entries: &[T]) -> Option<Vec<StoreResult<()>>> {
        self.check(op)
            .is_err()
            .then(|| entries.iter().map(|_| self.check(op)).collect())
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

/// Implements `$trait` for [`FaultyStore`]: each listed method forwards to the sled store,
/// checking the faults of the `[Op]` written before its name, if any; the methods
/// after the list are written by hand. It writes the whole impl because `#[async_trait]`
/// must see the methods themselves, not a macro call that would write them later.
macro_rules! forwarding_impl {
    (
        $trait:ident {
            $($([$op:ident])? $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*
        }
        $($by_hand:tt)*
    ) => {
        #[async_trait]
        impl $trait for FaultyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> $ret {
                    $(self.faults.check(Op::$op)?;)?
                    let answer = self.inner.$name($($arg),*).await;
                    $(let answer = self.faults.check_after(Op::$op, answer);)?
                    answer
                }
            )*
            $($by_hand)*
        }
    };
}

forwarding_impl! {
    JobStore {
        publish(request: TraceRequest, real_time: bool, now: DateTime<Utc>)
            -> StoreResult<(Job, PublishOutcome)>;
        cancel(key: &JobKey, now: DateTime<Utc>) -> StoreResult<Option<ResultEvent>>;
        get(key: &JobKey) -> StoreResult<Option<Job>>;
        list(tenant: &Tenant, query: &ListQuery) -> StoreResult<JobPage>;
        list_all(query: &ListQuery) -> StoreResult<JobPage>;
        history(key: &JobKey, limit: usize) -> StoreResult<Vec<ResultEvent>>;
        results(tenant: &Tenant, after: FeedCursor, limit: usize) -> StoreResult<FeedPage>;
        claim_due(now: DateTime<Utc>, limit: usize, lease_until: DateTime<Utc>)
            -> StoreResult<Vec<Claimed>>;
        claim_due_by(claim: DueClaim) -> StoreResult<Vec<Claimed>>;
        renew(job: JobId, token: u64, until: DateTime<Utc>) -> StoreResult<()>;
        release(job: JobId, token: u64, due: DateTime<Utc>) -> StoreResult<()>;
        complete(commit: TraceCommit) -> StoreResult<Committed>;
        next_due() -> StoreResult<Option<DateTime<Utc>>>;
        expedite_cohort(provider: &str, cohort: &str, at: DateTime<Utc>, seen: DateTime<Utc>)
            -> StoreResult<usize>;
        purge_finished(finished_before: DateTime<Utc>, limit: usize) -> StoreResult<usize>;
        flush() -> StoreResult<()>;
        failed() -> StoreError;
    }

    fn writable(&self) -> StoreResult<()> {
        self.inner.writable()
    }

    fn wake_ups(&self) -> Option<tokio::sync::watch::Receiver<()>> {
        self.inner.wake_ups()
    }
}

forwarding_impl! {
    Outbox {
        [ClaimOutbox] claim_outbox(
            queue: &str, now: DateTime<Utc>, limit: usize, lease_until: DateTime<Utc>
        ) -> StoreResult<Vec<OutboxClaim>>;
        [AckOutbox] ack_outbox(queue: &str, seq: EventSeq, token: u64) -> StoreResult<()>;
        [RetryOutbox] retry_outbox(
            queue: &str, seq: EventSeq, token: u64, not_before: DateTime<Utc>, error: Option<String>
        ) -> StoreResult<()>;
        [FanOut] fan_out(queue: &str, seq: EventSeq, token: u64, to: &[String], now: DateTime<Utc>)
            -> StoreResult<()>;
        [BuryOutbox] bury_outbox(queue: &str, seq: EventSeq, token: u64, error: String)
            -> StoreResult<()>;
        [ReplayOutbox] replay_outbox(queue: &str, now: DateTime<Utc>) -> StoreResult<usize>;
        [PurgeOutbox] purge_outbox(queue: &str) -> StoreResult<usize>;
        [OutboxStats] outbox_stats(queue: &str) -> StoreResult<OutboxStats>;
        [OutboxEntries] outbox_entries(queue: &str, limit: usize)
            -> StoreResult<Vec<OutboxEntry>>;
    }

    async fn fan_out_all(
        &self,
        queue: &str,
        entries: &[FanOutEntry],
        now: DateTime<Utc>,
    ) -> Vec<StoreResult<()>> {
        match self.faults.check_each(Op::FanOutAll, entries) {
            Some(failed) => failed,
            None => self
                .faults
                .check_each_after(Op::FanOutAll, self.inner.fan_out_all(queue, entries, now).await),
        }
    }

    async fn settle(&self, queue: &str, settlements: &[Settlement]) -> Vec<StoreResult<()>> {
        match self.faults.check_each(Op::Settle, settlements) {
            Some(failed) => failed,
            None => self
                .faults
                .check_each_after(Op::Settle, self.inner.settle(queue, settlements).await),
        }
    }
}

forwarding_impl! {
    Records {
        [PutRecord] put_record(kind: &str, key: &str, value: &serde_json::Value)
            -> StoreResult<()>;
        [GetRecord] get_record(kind: &str, key: &str)
            -> StoreResult<Option<serde_json::Value>>;
        [ListRecords] list_records(kind: &str, prefix: &str)
            -> StoreResult<Vec<(String, serde_json::Value)>>;
        [DeleteRecord] delete_record(kind: &str, key: &str) -> StoreResult<bool>;
    }
}

#[tokio::test]
async fn a_fault_free_faulty_store_passes_the_store_conformance_suite() {
    let parent = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    store_conformance::run_all(|| {
        let path = parent
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        async move { FaultyStore::open(&path, Faults::default()) }
    })
    .await;
}
