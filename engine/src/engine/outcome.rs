//! What a finished trace does to its job: the result, the counters, the next due time, and
//! whether clients hear about it.

use chrono::{DateTime, Utc};
use rand::Rng;

use super::health::Rejection;
use crate::model::{EmitReason, Job, Status, TraceFailure, TraceResult, TrackingState};
use crate::schedule::{Decision, Policy, PolicyInput};

pub(crate) use crate::schedule::cohort_news;
use crate::tracer::TraceError;

/// Computes the job after a trace from the leased snapshot, and the reason for a result
/// event if one is due: the first result, a change of normalized content, a forced trace,
/// the end of tracking, or a permanent failure. An unchanged result emits nothing.
pub(crate) fn apply<R: Rng + ?Sized>(
    snapshot: &Job,
    outcome: Result<TraceResult, TraceError>,
    now: DateTime<Utc>,
    policy: &Policy,
    rng: &mut R,
) -> (Job, Option<EmitReason>) {
    let mut job = snapshot.clone();
    job.trace_count += 1;
    job.last_traced_at = Some(now);
    job.updated_at = now;
    let forced = job.force.pending();
    let kind = job.request.key.kind;

    let outcome = match outcome {
        Err(TraceError::NotFound) => Ok(TraceResult::new(Status::NotFound, now)),
        other => other,
    };
    let (emit_on_success, retry_after) = match outcome {
        Ok(mut result) => {
            job.force.handled = job.force.requested;
            result.traced_at = now;
            let first = job.last_result.is_none();
            let changed = job
                .last_result
                .as_ref()
                .is_some_and(|previous| !previous.same_content(&result));
            if first || changed {
                job.last_changed_at = Some(now);
            }
            job.not_found_since = if result.status == Status::NotFound {
                job.not_found_since.or(Some(now))
            } else {
                None
            };
            job.consecutive_errors = 0;
            job.last_error = None;
            job.last_result = Some(result);
            let resumed = snapshot
                .last_error
                .as_ref()
                .is_some_and(TraceFailure::is_suspension);
            let reason = if first {
                Some(EmitReason::FirstResult)
            } else if changed {
                Some(EmitReason::Changed)
            } else if forced {
                Some(EmitReason::Forced)
            } else if resumed {
                // Its client was told tracing is suspended: tell it that it resumed.
                Some(EmitReason::Resumed)
            } else {
                None
            };
            (reason, None)
        }
        Err(TraceError::Permanent { reason, message }) => {
            job.force.handled = job.force.requested;
            job.last_error = Some(TraceFailure {
                class: "permanent".into(),
                reason: reason.as_str().into(),
                message,
                at: now,
            });
            job.consecutive_errors += 1;
            job.state = TrackingState::Failed;
            job.due_at = None;
            return (job, Some(EmitReason::Failed));
        }
        Err(error) => {
            // A forced trace that failed transiently stays pending: the retry that the
            // backoff schedules reports it.
            job.last_error = Some(TraceFailure {
                class: error.class().into(),
                reason: error.class().into(),
                message: error.to_string(),
                at: now,
            });
            job.consecutive_errors += 1;
            (None, error.retry_after())
        }
    };

    let input = PolicyInput {
        kind,
        now,
        tracking_since: job.tracking_since,
        result: job.last_result.as_ref(),
        last_changed_at: job.last_changed_at,
        not_found_since: job.not_found_since,
        consecutive_errors: job.consecutive_errors,
        retry_after,
    };
    match policy.decide(&input, rng) {
        Decision::Next(at) => {
            job.due_at = Some(at);
            (job, emit_on_success)
        }
        Decision::Stop(state) => {
            job.state = state;
            job.due_at = None;
            (job, Some(EmitReason::TrackingStopped))
        }
    }
}

/// The job while its provider is suspended because it rejected the operator's
/// credentials: still active, due when the provider's circuit lets a probe go, with its
/// retry counters untouched, and a `TRACE_ERROR` (reason [`EmitReason::Suspended`]) unless
/// its client was already told during this suspension. `traced` says whether the job was
/// in the request that got the rejection (or only waited).
pub(crate) fn suspend(
    snapshot: &Job,
    rejection: &Rejection,
    until: DateTime<Utc>,
    traced: bool,
    now: DateTime<Utc>,
) -> (Job, Option<EmitReason>) {
    let mut job = snapshot.clone();
    if traced {
        job.trace_count += 1;
        job.last_traced_at = Some(now);
    }
    job.updated_at = now;
    job.due_at = Some(until);
    let told = snapshot.last_error.as_ref().filter(|e| e.is_suspension());
    job.last_error = Some(TraceFailure {
        class: TraceFailure::SUSPENDED.into(),
        reason: rejection.reason.as_str().into(),
        message: format!(
            "the provider '{}' rejected the operator's credentials ({}); tracing of this \
             container is suspended, not stopped, and resumes by itself once the operator \
             fixes the provider's credentials. Nothing to change on the client side",
            job.request.key.provider_id, rejection.message
        ),
        // Since when it has been suspended, across cool-offs.
        at: told.map_or(now, |e| e.at),
    });
    let emit = told.is_none().then_some(EmitReason::Suspended);
    (job, emit)
}
