//! One provider request: wait for the provider's limits, keep the leases, fetch
//! credentials, call [`Tracer::trace_batch`](crate::Tracer::trace_batch), and commit each
//! job's outcome.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::batch::{Request, Slot};
use super::dispatch::{lease_until, LEASE_MARGIN};
use super::limits::Provider;
use super::{outcome, Inner};
use crate::credentials::ProviderCredentials;
use crate::model::{Tenant, TraceRequest, TraceResult};
use crate::store::{Claimed, StoreError, TraceCommit};
use crate::tracer::TraceError;

/// Runs `request` and commits every job in it.
pub(super) async fn run(inner: Arc<Inner>, request: Request) {
    let span = tracing::info_span!(
        "request",
        provider = %request.provider,
        boxes = request.slots.len(),
        jobs = request.jobs(),
    );
    execute(&inner, request).instrument(span).await;
}

async fn execute(inner: &Arc<Inner>, request: Request) {
    let Some(provider) = inner.providers.get(&request.provider) else {
        let error = TraceError::transient(format!(
            "provider '{}' is not configured in this engine",
            request.provider
        ));
        let jobs = request.into_jobs().map(|c| (c, Err(error.clone())));
        commit_all(inner, jobs, Duration::ZERO).await;
        return;
    };
    let Ok(_slot) = provider.slots.acquire().await else {
        return;
    };
    if let Some(rate) = &provider.rate {
        rate.until_ready().await;
    }
    if inner.shutdown.is_cancelled() {
        // Shutting down: start no new provider call; hand the jobs back at once rather
        // than leave them leased.
        let now = inner.clock.now();
        for Claimed { job, token } in request.into_jobs() {
            if let Err(e) = inner.store.renew(job.id, token, now).await {
                tracing::debug!(error = %e, "releasing a lease at shutdown failed; it lapses by itself");
            }
        }
        return;
    }
    let calls = match by_credentials(inner, provider, request.slots).await {
        Ok(calls) => calls,
        Err((jobs, error)) => {
            let jobs = jobs.into_iter().map(|c| (c, Err(error.clone())));
            commit_all(inner, jobs, Duration::ZERO).await;
            return;
        }
    };
    for (i, (credentials, slots)) in calls.into_iter().enumerate() {
        if i > 0 {
            // Another provider request under other credentials: it counts on its own.
            if let Some(rate) = &provider.rate {
                rate.until_ready().await;
            }
        }
        let slots = keep_leases(inner, provider, slots).await;
        if slots.is_empty() {
            continue;
        }
        call(inner, provider, &credentials, slots).await;
    }
}

/// One provider call for `slots` under `credentials`, then the commits.
async fn call(
    inner: &Arc<Inner>,
    provider: &Provider,
    credentials: &ProviderCredentials,
    slots: Vec<Slot>,
) {
    let id = provider.tracer.id().to_ascii_lowercase();
    let requests: Vec<TraceRequest> = slots
        .iter()
        .filter_map(|s| s.jobs.first().map(|c| c.job.request.clone()))
        .collect();
    inner.metrics.request(&id, requests.len());
    let timeout = provider.limits.trace_timeout;
    let started = Instant::now();
    let answers =
        match tokio::time::timeout(timeout, provider.tracer.trace_batch(&requests, credentials))
            .await
        {
            Ok(answers) if answers.len() == requests.len() => answers,
            Ok(answers) => {
                let error = TraceError::transient(format!(
                    "the provider answered {} outcomes for {} containers",
                    answers.len(),
                    requests.len()
                ));
                vec![Err(error); requests.len()]
            }
            Err(_) => vec![Err(TraceError::TimedOut { after: timeout }); requests.len()],
        };
    let latency = started.elapsed();
    log_failures(&answers, &id);
    let jobs = slots
        .into_iter()
        .zip(answers)
        .flat_map(|(slot, answer)| slot.jobs.into_iter().map(move |c| (c, answer.clone())));
    commit_all(inner, jobs, latency).await;
}

/// Splits the slots by the credentials their tenants trace with: jobs under different
/// credentials never share a provider call, nor an answer. A credentials source that
/// fails fails the whole request, transiently.
async fn by_credentials(
    inner: &Inner,
    provider: &Provider,
    slots: Vec<Slot>,
) -> Result<Vec<(ProviderCredentials, Vec<Slot>)>, (Vec<Claimed>, TraceError)> {
    let id = provider.tracer.id().to_ascii_lowercase();
    let mut by_tenant: HashMap<Tenant, ProviderCredentials> = HashMap::new();
    let timeout = provider.limits.trace_timeout;
    for slot in &slots {
        for claimed in &slot.jobs {
            let tenant = &claimed.job.request.key.tenant;
            if by_tenant.contains_key(tenant) {
                continue;
            }
            // Credentials count against the trace's time: a slow vault must not outlast
            // the lease.
            let fetched =
                tokio::time::timeout(timeout, inner.credentials.credentials(&id, tenant)).await;
            let credentials = match fetched {
                Ok(Ok(credentials)) => credentials,
                Ok(Err(e)) => {
                    let error = TraceError::transient(e.to_string());
                    return Err((slots.into_iter().flat_map(|s| s.jobs).collect(), error));
                }
                Err(_) => {
                    let error = TraceError::transient(format!(
                        "the credentials source did not answer within {timeout:?}"
                    ));
                    return Err((slots.into_iter().flat_map(|s| s.jobs).collect(), error));
                }
            };
            by_tenant.insert(tenant.clone(), credentials);
        }
    }
    let mut calls: Vec<(ProviderCredentials, Vec<Slot>)> = Vec::new();
    for slot in slots {
        let mut parts: Vec<(usize, Claimed)> = Vec::new();
        for claimed in slot.jobs {
            let credentials = &by_tenant[&claimed.job.request.key.tenant];
            let call = match calls.iter().position(|(c, _)| c == credentials) {
                Some(i) => i,
                None => {
                    calls.push((credentials.clone(), Vec::new()));
                    calls.len() - 1
                }
            };
            parts.push((call, claimed));
        }
        for (call, claimed) in parts {
            let slots = &mut calls[call].1;
            match slots.iter_mut().find(|s| s.lookup == slot.lookup) {
                Some(existing) => existing.jobs.push(claimed),
                None => slots.push(Slot {
                    lookup: slot.lookup.clone(),
                    jobs: vec![claimed],
                }),
            }
        }
    }
    Ok(calls)
}

/// Renews the leases the wait for limits ate into; a job whose lease was lost meanwhile
/// is dropped (its new holder traces it).
async fn keep_leases(inner: &Inner, provider: &Provider, slots: Vec<Slot>) -> Vec<Slot> {
    let now = inner.clock.now();
    let needed = inner
        .clock
        .elapsed_during(provider.limits.trace_timeout + LEASE_MARGIN);
    let mut kept = Vec::with_capacity(slots.len());
    for mut slot in slots {
        let mut jobs = Vec::with_capacity(slot.jobs.len());
        for claimed in slot.jobs {
            let left = claimed.job.lease.map(|l| l.until - now).unwrap_or_default();
            if left < needed {
                if let Err(e) = inner
                    .store
                    .renew(claimed.job.id, claimed.token, lease_until(inner, now))
                    .await
                {
                    tracing::debug!(job = claimed.job.id.0, error = %e, "lease lost while waiting for the provider's limits; skipping");
                    continue;
                }
            }
            jobs.push(claimed);
        }
        if !jobs.is_empty() {
            slot.jobs = jobs;
            kept.push(slot);
        }
    }
    kept
}

/// Commits every job's outcome at once (the store group-commits them), then tells the
/// other boxes of a vessel visit what this request revealed about it.
async fn commit_all(
    inner: &Arc<Inner>,
    jobs: impl Iterator<Item = (Claimed, Result<TraceResult, TraceError>)>,
    latency: Duration,
) {
    let mut commits = JoinSet::new();
    for (claimed, answer) in jobs {
        let inner = inner.clone();
        let span = job_span(&claimed);
        commits
            .spawn(async move { commit(&inner, claimed, answer, latency).await }.instrument(span));
    }
    let mut news: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    while let Some(done) = commits.join_next().await {
        if let Ok(Some((provider, cohort, at))) = done {
            news.entry((provider, cohort)).or_insert(at);
        }
    }
    for ((provider, cohort), at) in news {
        expedite_cohort(inner, &provider, &cohort, at).await;
    }
}

fn job_span(claimed: &Claimed) -> tracing::Span {
    let key = &claimed.job.request.key;
    tracing::info_span!(
        "trace",
        job = claimed.job.id.0,
        provider = %key.provider_id,
        kind = %key.kind,
        container = %key.container,
        org = %key.tenant.org_id,
    )
}

/// Commits one job's outcome. Returns the job's cohort when the trace revealed news about
/// its vessel visit that the other boxes of the visit should hear about.
async fn commit(
    inner: &Arc<Inner>,
    claimed: Claimed,
    answer: Result<TraceResult, TraceError>,
    latency: Duration,
) -> Option<(String, String, DateTime<Utc>)> {
    let Claimed { job, token } = claimed;
    let now = inner.clock.now();
    if let Some(due) = job.claimed_due_at {
        let lag = (now - due).to_std().unwrap_or_default();
        inner.metrics.due_lag(lag);
    }
    let class = answer.as_ref().map_or_else(TraceError::class, |_| "ok");
    inner
        .metrics
        .trace(&job.request.key.provider_id, class, latency);
    let news = answer
        .as_ref()
        .ok()
        .and_then(|result| {
            outcome::cohort_news(job.last_result.as_ref(), result, &inner.policy.cohort)
        })
        .is_some();
    let mut rng = job_rng(inner.seed, &job);
    let (next, emit) = outcome::apply(&job, answer, now, &inner.policy, &mut rng);
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
            let cohort = committed.job.cohort().filter(|_| news)?;
            Some((committed.job.request.key.provider_id, cohort, now))
        }
        Err(StoreError::Fenced(reason)) => {
            tracing::debug!(%reason, "trace result dropped: the lease is no longer ours");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "committing a trace failed; the job comes due again when its lease lapses");
            None
        }
    }
}

/// The random stream of one trace of `job`: the same for the same engine seed, job and
/// trace, whatever order the commits of a request run in.
fn job_rng(seed: u64, job: &crate::model::Job) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    // SplitMix64's finalizer over the three, so that neighbouring ids draw unrelated streams.
    let mut z = seed ^ job.id.0.rotate_left(21) ^ job.trace_count.rotate_left(42);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    rand::rngs::StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Brings the other boxes of a vessel visit forward: what one box revealed (the vessel
/// started working, its departure moved, a sibling was loaded) is news for all of them.
async fn expedite_cohort(inner: &Arc<Inner>, provider: &str, cohort: &str, seen: DateTime<Utc>) {
    let at = crate::clock::after_std(seen, inner.policy.cohort.delay);
    match inner
        .store
        .expedite_cohort(provider, cohort, at, seen)
        .await
    {
        Ok(0) => {}
        Ok(moved) => {
            tracing::debug!(
                provider,
                cohort,
                moved,
                "vessel visit news: boxes of the visit come due sooner"
            );
            inner.metrics.cohort_expedited(provider, moved);
            let sleeps_until = inner.sleeps_until.load(Ordering::SeqCst);
            if at.timestamp_millis() < sleeps_until {
                inner.wake.notify_one();
            }
        }
        Err(e) => {
            tracing::warn!(provider, cohort, error = %e, "bringing a vessel visit's boxes forward failed; they keep their schedule");
        }
    }
}

/// Logs a request's failures once, not once per box: a provider that is down fails every
/// box of the batch the same way.
fn log_failures(answers: &[Result<TraceResult, TraceError>], provider: &str) {
    let failed: Vec<&TraceError> = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .filter(|e| !matches!(e, TraceError::NotFound))
        .collect();
    let Some(first) = failed.first() else {
        return;
    };
    let boxes = answers.len();
    let failures = failed.len();
    match first {
        TraceError::NotFound => {}
        TraceError::Permanent { reason, message } => tracing::error!(
            reason = reason.as_str(),
            %message,
            failures,
            boxes,
            "provider '{provider}' refused the trace for good; tracking stops with TRACE_ERROR (check the provider's credentials and configuration)"
        ),
        TraceError::RateLimited { retry_after } => {
            tracing::warn!(
                ?retry_after,
                failures,
                boxes,
                "provider rate limited the trace; backing off"
            )
        }
        TraceError::Transient { message, .. } => {
            tracing::warn!(%message, failures, boxes, "transient provider error; retrying with backoff")
        }
        TraceError::TimedOut { after } => {
            tracing::warn!(
                ?after,
                failures,
                boxes,
                "the provider did not answer in time; retrying with backoff"
            )
        }
    }
}
