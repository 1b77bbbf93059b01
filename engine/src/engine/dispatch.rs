//! The dispatcher: sleeps until the next due time or a wake-up (from this process, or
//! from another one through the store), claims due jobs in batches (and, for providers
//! that batch, the jobs due within their window), groups them into provider requests
//! ([`super::batch`]) and runs those under per-provider limits ([`super::request`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::batch::{GroupKey, Pool, Waiting};
use super::{request, Inner};
use crate::clock::{after, after_std};
use crate::error::Result;
use crate::store::{Claimed, DueClaim};

/// A renewal is due when less than this is left of a lease beyond the trace timeout.
pub(super) const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How long a lease lasts: the configured lease, and never less clock time than the
/// longest trace takes in wall time (which matters under a fast clock).
fn lease_length(inner: &Inner) -> chrono::Duration {
    let longest = inner
        .providers
        .values()
        .map(|p| p.limits.trace_timeout)
        .max()
        .unwrap_or_default()
        + LEASE_MARGIN;
    chrono::Duration::from_std(inner.config.lease)
        .unwrap_or(chrono::Duration::MAX)
        .max(inner.clock.elapsed_during(longest))
}

/// The end of a lease taken (or renewed) at `now`.
pub(super) fn lease_until(inner: &Inner, now: DateTime<Utc>) -> DateTime<Utc> {
    after(now, lease_length(inner))
}

/// Claims jobs due by `due_by`, each leased from its own due time.
async fn claim(
    inner: &Inner,
    now: DateTime<Utc>,
    due_by: DateTime<Utc>,
    limit: usize,
) -> crate::store::StoreResult<Vec<Claimed>> {
    inner
        .jobs
        .claim_due_by(DueClaim {
            now,
            due_by,
            limit,
            lease: lease_length(inner),
        })
        .await
}

/// A claimed job as it waits in the pool: its group and question, from its provider.
fn waiting(inner: &Inner, claimed: Claimed, now: DateTime<Utc>) -> Waiting {
    let request = &claimed.job.request;
    let provider_id = &request.key.provider_id;
    let (batch, lookup) = match inner.providers.get(provider_id) {
        Some(provider) => (
            provider.tracer.batch_key(request),
            provider.tracer.lookup_key(request),
        ),
        // Not configured here: each job fails alone (see `request::run`).
        None => (None, format!("job:{}", claimed.job.id)),
    };
    Waiting {
        group: GroupKey::new(provider_id, batch, &lookup),
        lookup,
        due: claimed.job.claimed_due_at.unwrap_or(now),
        claimed,
    }
}

/// The batch size and window of `provider` (1 and zero when it is not configured).
fn batching(inner: &Inner, provider: &str) -> (usize, Duration) {
    inner
        .providers
        .get(provider)
        .map_or((1, Duration::ZERO), |p| {
            (p.limits.batch_size, p.limits.batch_window)
        })
}

/// Requests running, and how many jobs each holds.
#[derive(Debug, Default)]
struct Running {
    tasks: JoinSet<()>,
    jobs: HashMap<tokio::task::Id, usize>,
    total: usize,
}

impl Running {
    fn spawn(&mut self, inner: &Arc<Inner>, request: super::batch::Request) {
        let jobs = request.jobs();
        let handle = self.tasks.spawn(request::run(inner.clone(), request));
        self.jobs.insert(handle.id(), jobs);
        self.total += jobs;
    }

    fn finished(&mut self, id: tokio::task::Id) {
        if let Some(jobs) = self.jobs.remove(&id) {
            self.total -= jobs;
        }
    }

    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                Err(e) => {
                    tracing::error!(error = %e, "a provider request task failed");
                    e.id()
                }
            };
            self.finished(id);
        }
    }

    async fn join_next(&mut self) -> Option<()> {
        let id = match self.tasks.join_next_with_id().await? {
            Ok((id, ())) => id,
            Err(e) => e.id(),
        };
        self.finished(id);
        Some(())
    }
}

/// Starts a request for every job of the pool that is due at `now`.
fn start_due(inner: &Arc<Inner>, pool: &mut Pool, running: &mut Running, now: DateTime<Utc>) {
    while let Some(request) = pool.take_due(now, |p| batching(inner, p)) {
        running.spawn(inner, request);
    }
}

/// Hands claimed jobs back, due again at the time they had when claimed.
async fn release(inner: &Inner, waiting: Vec<Waiting>) {
    for w in waiting {
        let Claimed { job, token } = w.claimed;
        if let Err(e) = inner.jobs.release(job.id, token, w.due).await {
            tracing::debug!(job = job.id.0, error = %e, "handing a lease back failed; it lapses by itself");
        }
    }
}

/// Runs until the engine's shutdown token is cancelled.
pub(super) async fn run(inner: Arc<Inner>) {
    let mut running = Running::default();
    let mut pool = Pool::default();
    let mut store_failures = 0u32;
    // Another process sharing the store made a job due now: look at once rather than at
    // the next due time or `max_idle`.
    let mut wake_ups = inner.jobs.wake_ups();
    let lookahead = inner.lookahead;
    // Retention runs beside the dispatcher and stops with it.
    let sweeper = inner
        .config
        .retention
        .map(|retention| tokio::spawn(super::retention::run(inner.clone(), retention)));
    tracing::info!(
        providers = ?inner.providers.keys().collect::<Vec<_>>(),
        lookahead = ?lookahead,
        "dispatcher started"
    );
    loop {
        running.reap();
        if inner.shutdown.is_cancelled() {
            break;
        }
        let now = inner.clock.now();
        let room = inner
            .config
            .max_in_flight
            .saturating_sub(running.total + pool.len());
        let want = room.min(inner.config.claim_batch);
        if want > 0 {
            // Jobs due within the lookahead are claimed now so that a request with room
            // can take them; each still starts no later than its due time.
            let horizon = after_std(now, lookahead);
            match claim(&inner, now, horizon, want).await {
                Ok(claimed) => {
                    store_failures = 0;
                    let full = claimed.len() == want;
                    for job in claimed {
                        pool.insert(waiting(&inner, job, now));
                    }
                    if full {
                        // More may be due: claim again before sleeping.
                        start_due(&inner, &mut pool, &mut running, now);
                        tokio::task::yield_now().await;
                        continue;
                    }
                }
                Err(e) => {
                    store_failures += 1;
                    let pause = Duration::from_millis(100 * u64::from(store_failures.min(50)));
                    tracing::warn!(error = %e, retry_in = ?pause, "claiming due jobs failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = inner.shutdown.cancelled() => {}
                    }
                    continue;
                }
            }
        }
        start_due(&inner, &mut pool, &mut running, now);

        let idle_until = after_std(now, inner.config.max_idle);
        // Published before the next due time is read: a commit that lands after the read
        // sees at least this bound and wakes the dispatcher if it is due sooner.
        inner
            .sleeps_until
            .store(idle_until.timestamp_millis(), Ordering::SeqCst);
        let at_capacity = running.total + pool.len() >= inner.config.max_in_flight;
        let mut wake_at = idle_until;
        if !at_capacity {
            match inner.jobs.next_due().await {
                Ok(Some(due)) => {
                    let claim_at = due - chrono::Duration::from_std(lookahead).unwrap_or_default();
                    wake_at = wake_at.min(claim_at);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reading the next due time failed");
                    wake_at = wake_at.min(after_std(now, Duration::from_secs(1)));
                }
            }
        }
        if let Some(earliest) = pool.earliest() {
            wake_at = wake_at.min(earliest);
        }
        inner
            .sleeps_until
            .store(wake_at.timestamp_millis(), Ordering::SeqCst);
        tokio::select! {
            _ = inner.clock.sleep_until(wake_at) => {}
            _ = inner.wake.notified() => {}
            _ = store_wake_up(&mut wake_ups), if !at_capacity => {}
            _ = inner.shutdown.cancelled() => {}
            Some(_) = running.join_next(), if at_capacity => {}
        }
    }
    release(&inner, pool.drain()).await;
    let in_flight = running.total;
    tracing::info!(
        in_flight,
        "dispatcher stopping; letting running traces finish"
    );
    let drained = tokio::time::timeout(inner.config.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            abandoned = running.total,
            "shutdown grace ran out; abandoned traces come due again when their leases lapse"
        );
        running.tasks.shutdown().await;
    }
    if let Some(sweeper) = sweeper {
        // It ends at the shutdown signal (or between two store calls of a sweep).
        let _ = sweeper.await;
    }
    if let Err(e) = inner.jobs.flush().await {
        tracing::error!(error = %e, "final store flush failed");
    }
    tracing::info!("dispatcher stopped");
}

/// Finishes when the store reports a wake-up; never, when it has none (or stopped sending).
async fn store_wake_up(wake_ups: &mut Option<tokio::sync::watch::Receiver<()>>) {
    if let Some(receiver) = wake_ups {
        if receiver.changed().await.is_ok() {
            return;
        }
        // The store was dropped: no more wake-ups; `max_idle` polling remains.
        *wake_ups = None;
    }
    std::future::pending::<()>().await;
}

/// Traces everything due now (with the jobs due within their providers' windows riding
/// along where a request has room) and waits for the commits. Jobs claimed ahead that
/// found no room are handed back, due at their own time.
pub(super) async fn run_due(inner: &Arc<Inner>) -> Result<usize> {
    let mut total = 0;
    loop {
        let now = inner.clock.now();
        let claimed = claim(inner, now, now, inner.config.claim_batch).await?;
        if claimed.is_empty() {
            return Ok(total);
        }
        let mut pool = Pool::default();
        let mut rides = false;
        for job in claimed {
            let w = waiting(inner, job, now);
            rides |= !batching(inner, &w.group.provider).1.is_zero();
            pool.insert(w);
        }
        let room = pool.room(|p| batching(inner, p));
        if rides && room > 0 {
            let horizon = after_std(now, inner.lookahead);
            let ahead = claim(inner, now, horizon, room.min(inner.config.claim_batch)).await?;
            for job in ahead {
                pool.insert(waiting(inner, job, now));
            }
        }
        let mut running = Running::default();
        while let Some(request) = pool.take_due(now, |p| batching(inner, p)) {
            total += request.jobs();
            running.spawn(inner, request);
        }
        while running.join_next().await.is_some() {}
        release(inner, pool.drain()).await;
    }
}
