//! One provider request: fetch credentials, ask the provider's circuit breaker, wait for
//! the provider's limits, keep the leases, call
//! [`Tracer::trace_batch`](crate::Tracer::trace_batch), tell the breaker what the request
//! revealed, and commit each job's outcome ([`super::commit`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::batch::{Request, Slot};
use super::commit::{commit_all, defer, Outcome};
use super::dispatch::{lease_until, LEASE_MARGIN};
use super::health::{self, Permit};
use super::limits::Provider;
use super::Inner;
use crate::clock::after_std;
use crate::credentials::ProviderCredentials;
use crate::model::{Tenant, TraceRequest, TraceResult};
use crate::store::Claimed;
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
        let jobs = request
            .into_jobs()
            .map(|c| (c, Outcome::Traced(Err(error.clone()))));
        commit_all(inner, jobs, Duration::ZERO).await;
        return;
    };
    // Credentials first: they pick the circuit, and a request its circuit holds back
    // should not queue for the provider's limits only to be held back then.
    let calls = match by_credentials(inner, provider, request.slots).await {
        Ok(calls) => calls,
        Err((jobs, error)) => {
            let jobs = jobs
                .into_iter()
                .map(|c| (c, Outcome::Traced(Err(error.clone()))));
            commit_all(inner, jobs, Duration::ZERO).await;
            return;
        }
    };
    let id = provider.tracer.id().to_ascii_lowercase();
    // Jobs held back while a probe is on its way wait this long: by then its outcome is
    // known (it times out otherwise).
    let probe_wait = inner
        .clock
        .elapsed_during(provider.limits.trace_timeout + LEASE_MARGIN);
    let mut calls = calls.into_iter();
    while let Some((credentials, slots)) = calls.next() {
        let key = provider.health.key(&credentials);
        if let Some(wait) = provider.health.peek(key, inner.clock.now(), probe_wait) {
            defer(inner, &id, slots, &wait).await;
            continue;
        }
        // Each call under its own credentials counts on its own against the limits. The
        // wait ends at shutdown too: behind a provider held to a low rate, a claimed batch
        // would otherwise stay leased, and keep the process up, for the whole grace.
        let limits = async {
            let slot = provider.slots.acquire().await.ok()?;
            if let Some(rate) = &provider.rate {
                rate.until_ready().await;
            }
            Some(slot)
        };
        let slot = tokio::select! {
            slot = limits => slot,
            () = inner.shutdown.cancelled() => None,
        };
        if slot.is_none() && !inner.shutdown.is_cancelled() {
            // The slots are closed: the engine is going away.
            return;
        }
        let _slot = slot;
        if inner.shutdown.is_cancelled() {
            // Shutting down: start no new provider call; hand the jobs back at once
            // rather than leave them leased.
            let rest = calls.flat_map(|(_, slots)| slots);
            hand_back(inner, slots.into_iter().chain(rest)).await;
            return;
        }
        // After the wait for the limits, the circuit has the last word: it may have
        // opened meanwhile, or this request may be the probe.
        let permit = match provider
            .health
            .admit(key, inner.clock.now(), probe_wait, &inner.metrics)
        {
            Ok(permit) => permit,
            Err(wait) => {
                defer(inner, &id, slots, &wait).await;
                continue;
            }
        };
        let slots = keep_leases(inner, provider, slots).await;
        if slots.is_empty() {
            // Nothing to send: a probe taken for it is given back when `permit` drops.
            continue;
        }
        call(inner, provider, &credentials, slots, permit).await;
    }
}

/// Hands the jobs back, due now, at shutdown.
async fn hand_back(inner: &Inner, slots: impl Iterator<Item = Slot>) {
    let now = inner.clock.now();
    for Claimed { job, token } in slots.flat_map(|s| s.jobs) {
        if let Err(e) = inner.jobs.renew(job.id, token, now).await {
            tracing::debug!(error = %e, "releasing a lease at shutdown failed; it lapses by itself");
        }
    }
}

/// One provider call for `slots` under `credentials`, then the circuit's verdict and the
/// commits.
async fn call(
    inner: &Arc<Inner>,
    provider: &Provider,
    credentials: &ProviderCredentials,
    slots: Vec<Slot>,
    permit: Permit<'_>,
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
    let now = inner.clock.now();
    let reopens = permit.record(&health::verdict(&answers), now, &inner.metrics);
    // A rejected job waits for the circuit's probe. A rejection always opens the circuit
    // into the future; should it not, the first cool-off keeps a job from being claimed
    // again at once, in a loop.
    let until = reopens
        .filter(|until| *until > now)
        .unwrap_or_else(|| after_std(now, provider.limits.breaker.cool_off));
    let jobs = slots
        .into_iter()
        .zip(answers)
        .flat_map(move |(slot, answer)| {
            let outcome = match answer.as_ref().err().and_then(health::rejection) {
                Some(rejection) => Outcome::Suspended {
                    rejection,
                    until,
                    traced: true,
                },
                None => Outcome::Traced(answer),
            };
            slot.jobs.into_iter().map(move |c| (c, outcome.clone()))
        });
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
                    .jobs
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
        // The circuit breaker logs a rejection of the credentials, once per opening.
        error @ TraceError::Permanent { .. } if health::rejection(error).is_some() => {}
        TraceError::Permanent { reason, message } => tracing::error!(
            reason = reason.as_str(),
            %message,
            failures,
            boxes,
            "provider '{provider}' refused the trace for good; tracking stops with TRACE_ERROR (check the request and the provider's configuration)"
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
