//! The dispatcher: sleeps until the next due time or a wake-up (from this process, or
//! from another one through the store), claims due jobs in batches, runs their traces
//! under per-provider limits, and commits the outcomes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{after, after_std};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{outcome, Inner};
use crate::error::Result;
use crate::model::{Job, TraceResult};
use crate::store::{Claimed, StoreError, TraceCommit};
use crate::tracer::TraceError;

/// A renewal is due when less than this is left of a lease beyond the trace timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The end of a lease taken at `now`: the configured lease, and never less clock time
/// than the longest trace takes in wall time (which matters under a fast clock).
fn lease_until(inner: &Inner, now: DateTime<Utc>) -> DateTime<Utc> {
    let longest = inner
        .providers
        .values()
        .map(|p| p.limits.trace_timeout)
        .max()
        .unwrap_or_default()
        + LEASE_MARGIN;
    let lease = chrono::Duration::from_std(inner.config.lease)
        .unwrap_or(chrono::Duration::MAX)
        .max(inner.clock.elapsed_during(longest));
    after(now, lease)
}

/// Runs until the engine's shutdown token is cancelled.
pub(super) async fn run(inner: Arc<Inner>) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut store_failures = 0u32;
    // Another process sharing the store made a job due now: look at once rather than at
    // the next due time or `max_idle`.
    let mut wake_ups = inner.store.wake_ups();
    tracing::info!(providers = ?inner.providers.keys().collect::<Vec<_>>(), "dispatcher started");
    loop {
        while running.try_join_next().is_some() {}
        if inner.shutdown.is_cancelled() {
            break;
        }
        let capacity = inner.config.max_in_flight.saturating_sub(running.len());
        let want = capacity.min(inner.config.claim_batch);
        if want > 0 {
            let now = inner.clock.now();
            match inner
                .store
                .claim_due(now, want, lease_until(&inner, now))
                .await
            {
                Ok(claimed) => {
                    store_failures = 0;
                    let full = claimed.len() == want;
                    for job in claimed {
                        running.spawn(trace_claimed(inner.clone(), job));
                    }
                    if full {
                        // More may be due: claim again before sleeping.
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
        let now = inner.clock.now();
        let idle_until = after_std(now, inner.config.max_idle);
        // Published before the next due time is read: a commit that lands after the read
        // sees at least this bound and wakes the dispatcher if it is due sooner.
        inner
            .sleeps_until
            .store(idle_until.timestamp_millis(), Ordering::SeqCst);
        let wake_at = match inner.store.next_due().await {
            Ok(Some(due)) => due.min(idle_until),
            Ok(None) => idle_until,
            Err(e) => {
                tracing::warn!(error = %e, "reading the next due time failed");
                after_std(now, Duration::from_secs(1)).min(idle_until)
            }
        };
        let at_capacity = running.len() >= inner.config.max_in_flight;
        inner
            .sleeps_until
            .store(wake_at.timestamp_millis(), Ordering::SeqCst);
        tokio::select! {
            _ = inner.clock.sleep_until(wake_at), if !at_capacity => {}
            _ = inner.wake.notified() => {}
            _ = store_wake_up(&mut wake_ups), if !at_capacity => {}
            _ = inner.shutdown.cancelled() => {}
            Some(_) = running.join_next(), if at_capacity => {}
        }
    }
    let in_flight = running.len();
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
            abandoned = running.len(),
            "shutdown grace ran out; abandoned traces come due again when their leases lapse"
        );
        running.shutdown().await;
    }
    if let Err(e) = inner.store.flush().await {
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

/// Traces everything due now and waits for the commits.
pub(super) async fn run_due(inner: &Arc<Inner>) -> Result<usize> {
    let mut total = 0;
    loop {
        let now = inner.clock.now();
        let claimed = inner
            .store
            .claim_due(now, inner.config.claim_batch, lease_until(inner, now))
            .await?;
        if claimed.is_empty() {
            return Ok(total);
        }
        total += claimed.len();
        let mut running = JoinSet::new();
        for job in claimed {
            running.spawn(trace_claimed(inner.clone(), job));
        }
        while running.join_next().await.is_some() {}
    }
}

/// Runs one claimed job's trace and commits the outcome.
async fn trace_claimed(inner: Arc<Inner>, claimed: Claimed) {
    let key = &claimed.job.request.key;
    let span = tracing::info_span!(
        "trace",
        job = claimed.job.id.0,
        provider = %key.provider_id,
        kind = %key.kind,
        container = %key.container,
        org = %key.tenant.org_id,
    );
    commit(&inner, claimed).instrument(span).await;
}

async fn commit(inner: &Arc<Inner>, claimed: Claimed) {
    let Claimed { job, token } = claimed;
    if let Some(due) = job.claimed_due_at {
        let lag = (inner.clock.now() - due).to_std().unwrap_or_default();
        inner.metrics.due_lag(lag);
    }
    let started = std::time::Instant::now();
    let Some(outcome) = run_trace(inner, &job, token).await else {
        return;
    };
    let class = outcome.as_ref().map_or_else(TraceError::class, |_| "ok");
    inner
        .metrics
        .trace(&job.request.key.provider_id, class, started.elapsed());
    let now = inner.clock.now();
    if let Err(error) = &outcome {
        log_failure(error, &job.request.key.provider_id);
    }
    let (next, emit) = {
        let mut rng = inner.rng.lock().unwrap_or_else(PoisonError::into_inner);
        outcome::apply(&job, outcome, now, &inner.policy, &mut *rng)
    };
    match inner
        .store
        .complete(TraceCommit {
            token,
            job: next,
            emit,
            now,
        })
        .await
    {
        Ok(committed) => {
            // Due now, or sooner than the dispatcher planned to look (a retry after a
            // failure, a shorter interval near a key date): wake it.
            let sleeps_until = inner.sleeps_until.load(Ordering::SeqCst);
            if committed
                .job
                .due_at
                .is_some_and(|due| due <= now || due.timestamp_millis() < sleeps_until)
            {
                inner.wake.notify_one();
            }
            if let Some(event) = committed.event {
                inner.metrics.event(event.action.as_str());
                tracing::debug!(event = %event.id, reason = ?event.payload.reason, "result event committed");
                let _ = inner.events.send(event);
            }
        }
        Err(StoreError::Fenced(reason)) => {
            tracing::debug!(%reason, "trace result dropped: the lease is no longer ours");
        }
        Err(e) => {
            tracing::warn!(error = %e, "committing a trace failed; the job comes due again when its lease lapses");
        }
    }
}

/// Waits for the provider's limits, renews the lease if the wait ate into it, fetches
/// credentials and traces. `None` when the lease was lost while waiting.
async fn run_trace(
    inner: &Arc<Inner>,
    job: &Job,
    token: u64,
) -> Option<Result<TraceResult, TraceError>> {
    let request = &job.request;
    let Some(provider) = inner.providers.get(&request.key.provider_id) else {
        return Some(Err(TraceError::transient(format!(
            "provider '{}' is not configured in this engine",
            request.key.provider_id
        ))));
    };
    let _slot = provider.slots.acquire().await.ok()?;
    if let Some(rate) = &provider.rate {
        rate.until_ready().await;
    }
    let now = inner.clock.now();
    if inner.shutdown.is_cancelled() {
        // Shutting down: start no new provider call; hand the job back at once rather
        // than leave it leased.
        if let Err(e) = inner.store.renew(job.id, token, now).await {
            tracing::debug!(error = %e, "releasing a lease at shutdown failed; it lapses by itself");
        }
        return None;
    }
    let needed = inner
        .clock
        .elapsed_during(provider.limits.trace_timeout + LEASE_MARGIN);
    let left = job.lease.map(|l| l.until - now).unwrap_or_default();
    if left < needed {
        if let Err(e) = inner
            .store
            .renew(job.id, token, lease_until(inner, now))
            .await
        {
            tracing::debug!(error = %e, "lease lost while waiting for the provider's limits; skipping");
            return None;
        }
    }
    let timeout = provider.limits.trace_timeout;
    // Credentials count against the trace's time: a slow vault must not outlast the lease.
    let trace = async {
        let credentials = inner
            .credentials
            .credentials(&request.key.provider_id, &request.key.tenant)
            .await
            .map_err(|e| TraceError::transient(e.to_string()))?;
        provider.tracer.trace(request, &credentials).await
    };
    Some(match tokio::time::timeout(timeout, trace).await {
        Ok(result) => result,
        Err(_) => Err(TraceError::transient(format!(
            "the provider did not answer within {timeout:?}"
        ))),
    })
}

fn log_failure(error: &TraceError, provider: &str) {
    match error {
        TraceError::NotFound => tracing::debug!("container not found at the provider"),
        TraceError::Permanent { reason, message } => tracing::error!(
            reason = reason.as_str(),
            %message,
            "provider '{provider}' refused the trace for good; tracking stops with TRACE_ERROR (check the provider's credentials and configuration)"
        ),
        TraceError::RateLimited { retry_after } => {
            tracing::warn!(?retry_after, "provider rate limited the trace; backing off")
        }
        TraceError::Transient { message, .. } => {
            tracing::warn!(%message, "transient provider error; retrying with backoff")
        }
    }
}
