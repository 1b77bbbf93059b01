//! Committing what a provider request did to its jobs: each job's traced outcome, its
//! suspension while the provider rejects the operator's credentials, or its wait while
//! the provider's circuit is open.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::batch::Slot;
use super::health::{Rejection, Wait};
use super::{outcome, Inner};
use crate::model::TraceResult;
use crate::store::{Claimed, StoreError, TraceCommit};
use crate::tracer::TraceError;

/// What happened to one job of a request.
// Lives only between the provider's answer and the commit, one per job; boxing the
// common variant would cost an allocation per job for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// The provider answered for it (or failed to).
    Traced(Result<TraceResult, TraceError>),
    /// The provider rejected the operator's credentials: the job waits until `until`.
    Suspended {
        rejection: Rejection,
        until: DateTime<Utc>,
        /// Whether the job was in the request that was rejected (or only waited).
        traced: bool,
    },
}

/// Jobs whose request may not go now (their provider's circuit is open, or a probe is on
/// its way) wait until `wait.until` without a trace and without using up a retry. While
/// the provider rejects the credentials, a job whose client has not heard it yet gets its
/// one `TRACE_ERROR` now.
pub(super) async fn defer(inner: &Arc<Inner>, provider: &str, slots: Vec<Slot>, wait: &Wait) {
    let jobs: Vec<Claimed> = slots.into_iter().flat_map(|s| s.jobs).collect();
    inner.metrics.deferred(provider, jobs.len());
    tracing::debug!(jobs = jobs.len(), until = %wait.until, "provider circuit not closed; jobs wait");
    let mut tell = Vec::new();
    for claimed in jobs {
        let told = claimed
            .job
            .last_error
            .as_ref()
            .is_some_and(|e| e.is_suspension());
        match &wait.rejected {
            Some(rejection) if !told => tell.push((
                claimed,
                Outcome::Suspended {
                    rejection: rejection.clone(),
                    until: wait.until,
                    traced: false,
                },
            )),
            _ => {
                // The job keeps its lease until then, which makes it due at that time.
                if let Err(e) = inner
                    .jobs
                    .renew(claimed.job.id, claimed.token, wait.until)
                    .await
                {
                    tracing::debug!(job = claimed.job.id.0, error = %e, "holding a job back failed; its lease lapses by itself");
                }
            }
        }
    }
    if !tell.is_empty() {
        commit_all(inner, tell.into_iter(), Duration::ZERO).await;
    }
}

/// Commits every job's outcome at once (the store group-commits them), then tells the
/// other boxes of a vessel visit what this request revealed about it.
pub(super) async fn commit_all(
    inner: &Arc<Inner>,
    jobs: impl Iterator<Item = (Claimed, Outcome)>,
    latency: Duration,
) {
    let mut commits = JoinSet::new();
    for (claimed, outcome) in jobs {
        let inner = inner.clone();
        let span = job_span(&claimed);
        commits
            .spawn(async move { commit(&inner, claimed, outcome, latency).await }.instrument(span));
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
    outcome: Outcome,
    latency: Duration,
) -> Option<(String, String, DateTime<Utc>)> {
    let Claimed { job, token } = claimed;
    let now = inner.clock.now();
    let traced = match &outcome {
        Outcome::Traced(_) => true,
        Outcome::Suspended { traced, .. } => *traced,
    };
    if traced {
        if let Some(due) = job.claimed_due_at {
            let lag = (now - due).to_std().unwrap_or_default();
            inner.metrics.due_lag(lag);
        }
    }
    let mut news = false;
    let (next, emit) = match outcome {
        Outcome::Traced(answer) => {
            let class = answer.as_ref().map_or_else(TraceError::class, |_| "ok");
            inner
                .metrics
                .trace(&job.request.key.provider_id, class, latency);
            news = answer
                .as_ref()
                .ok()
                .and_then(|result| {
                    outcome::cohort_news(job.last_result.as_ref(), result, &inner.policy.cohort)
                })
                .is_some();
            let mut rng = job_rng(inner.seed, &job);
            outcome::apply(&job, answer, now, &inner.policy, &mut rng)
        }
        Outcome::Suspended {
            rejection,
            until,
            traced,
        } => {
            if traced {
                inner
                    .metrics
                    .trace(&job.request.key.provider_id, "permanent", latency);
            }
            outcome::suspend(&job, &rejection, until, traced, now)
        }
    };
    match inner
        .jobs
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
    match inner.jobs.expedite_cohort(provider, cohort, at, seen).await {
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
