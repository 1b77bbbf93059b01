//! How one job is laid out in the sled store: a JSON body and a small binary schedule record.
//!
//! Most traces find nothing new, yet every trace changes the job's counters, due time and
//! lease. Writing the whole job (a kilobyte of JSON with the request and the last result)
//! for that was most of the writer's work: encoding and decoding it, and sled copying it
//! through its pages twice per trace (benches/RESULTS.md, "Where the time goes"). So a job
//! is two values:
//!
//! - the **body** (`j` key, JSON): id, request, last result and last error. It changes when
//!   the client re-publishes or the provider says something new, and is rewritten only then;
//! - the **schedule** (`s` key, fixed binary layout, about 150 bytes): state, times,
//!   counters, lease. Every write of the job rewrites it.
//!
//! `last_result.traced_at` changes on every successful trace, so the schedule carries it
//! and a read puts it back into the body's result.
//!
//! Stores written before this layout (schema 1) have the whole job as JSON under `j` and no
//! schedule record; such a job is read as it is and takes the new layout at its next write.
//! A body decodes from either, as unknown fields are ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    ForceState, Job, JobId, Lease, TraceFailure, TraceRequest, TraceResult, TrackingState,
};
use crate::store::{StoreError, StoreResult};

/// The schedule record's own format version, its first byte.
const SCHEDULE_FORMAT: u8 = 1;

/// What a body is written from: borrowed, so that encoding copies nothing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyRef<'a> {
    id: JobId,
    request: &'a TraceRequest,
    last_result: Option<&'a TraceResult>,
    last_error: Option<&'a TraceFailure>,
}

/// What a body is read into.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    id: JobId,
    request: TraceRequest,
    last_result: Option<TraceResult>,
    last_error: Option<TraceFailure>,
}

/// The body of `job`, as JSON.
pub(super) fn encode_body(job: &Job) -> StoreResult<Vec<u8>> {
    super::writer::encode(&BodyRef {
        id: job.id,
        request: &job.request,
        last_result: job.last_result.as_ref(),
        last_error: job.last_error.as_ref(),
    })
}

/// Whether `a` and `b` have the same body, apart from the result's `traced_at` (which the
/// schedule record carries): when they do, a write of `b` over `a` skips the body.
pub(super) fn same_body(a: &Job, b: &Job) -> bool {
    let same_result = match (&a.last_result, &b.last_result) {
        (Some(x), Some(y)) => x.same_content(y) && x.observed_at == y.observed_at && x.raw == y.raw,
        (None, None) => true,
        _ => false,
    };
    same_result && a.id == b.id && a.request == b.request && a.last_error == b.last_error
}

/// The schedule record of `job`.
pub(super) fn encode_schedule(job: &Job) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.push(SCHEDULE_FORMAT);
    out.push(match job.state {
        TrackingState::Active => 0,
        TrackingState::Completed => 1,
        TrackingState::Expired => 2,
        TrackingState::Cancelled => 3,
        TrackingState::Failed => 4,
    });
    put_time(&mut out, job.created_at);
    put_time(&mut out, job.tracking_since);
    put_time(&mut out, job.updated_at);
    put_opt_time(&mut out, job.due_at);
    match job.lease {
        Some(lease) => {
            out.push(1);
            out.extend_from_slice(&lease.token.to_be_bytes());
            put_time(&mut out, lease.until);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&job.lease_seq.to_be_bytes());
    put_opt_time(&mut out, job.last_changed_at);
    put_opt_time(&mut out, job.last_traced_at);
    out.extend_from_slice(&job.consecutive_errors.to_be_bytes());
    put_opt_time(&mut out, job.not_found_since);
    out.extend_from_slice(&job.trace_count.to_be_bytes());
    out.extend_from_slice(&job.force.requested.to_be_bytes());
    out.extend_from_slice(&job.force.handled.to_be_bytes());
    put_opt_time(&mut out, job.claimed_due_at);
    put_opt_time(&mut out, job.last_result.as_ref().map(|r| r.traced_at));
    out
}

/// The job from its stored values: `schedule` is `None` for a job written before the
/// split layout (its body is then the whole job).
pub(super) fn decode(schedule: Option<&[u8]>, body: &[u8]) -> StoreResult<Job> {
    let Some(schedule) = schedule else {
        return serde_json::from_slice(body).map_err(|e| StoreError::Corrupt(e.to_string()));
    };
    let body: Body =
        serde_json::from_slice(body).map_err(|e| StoreError::Corrupt(format!("job body: {e}")))?;
    let mut r = Reader::new(schedule);
    let format = r.u8()?;
    if format != SCHEDULE_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "job {} has schedule format {format}, unknown to this build",
            body.id
        )));
    }
    let state = match r.u8()? {
        0 => TrackingState::Active,
        1 => TrackingState::Completed,
        2 => TrackingState::Expired,
        3 => TrackingState::Cancelled,
        4 => TrackingState::Failed,
        other => return Err(corrupt(format!("tracking state {other}"))),
    };
    let created_at = r.time()?;
    let tracking_since = r.time()?;
    let updated_at = r.time()?;
    let due_at = r.opt_time()?;
    let lease = match r.u8()? {
        0 => None,
        _ => Some(Lease {
            token: r.u64()?,
            until: r.time()?,
        }),
    };
    let lease_seq = r.u64()?;
    let last_changed_at = r.opt_time()?;
    let last_traced_at = r.opt_time()?;
    let consecutive_errors = r.u32()?;
    let not_found_since = r.opt_time()?;
    let trace_count = r.u64()?;
    let force = ForceState {
        requested: r.u64()?,
        handled: r.u64()?,
    };
    let claimed_due_at = r.opt_time()?;
    let result_traced_at = r.opt_time()?;
    let mut last_result = body.last_result;
    if let (Some(result), Some(at)) = (&mut last_result, result_traced_at) {
        result.traced_at = at;
    }
    Ok(Job {
        id: body.id,
        request: body.request,
        state,
        created_at,
        tracking_since,
        updated_at,
        due_at,
        lease,
        lease_seq,
        last_result,
        last_changed_at,
        last_traced_at,
        last_error: body.last_error,
        consecutive_errors,
        not_found_since,
        trace_count,
        force,
        claimed_due_at,
    })
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("job schedule record: {what}"))
}

// Seconds and nanoseconds, so that every `DateTime<Utc>` comes back exactly.
fn put_time(out: &mut Vec<u8>, at: DateTime<Utc>) {
    out.extend_from_slice(&at.timestamp().to_be_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
}

fn put_opt_time(out: &mut Vec<u8>, at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => {
            out.push(1);
            put_time(out, at);
        }
        None => out.push(0),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take<const N: usize>(&mut self) -> StoreResult<[u8; N]> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| corrupt("too short".into()))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> StoreResult<u8> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> StoreResult<u32> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> StoreResult<u64> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn time(&mut self) -> StoreResult<DateTime<Utc>> {
        let secs = i64::from_be_bytes(self.take()?);
        let nanos = u32::from_be_bytes(self.take()?);
        DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| corrupt(format!("time {secs}.{nanos:09} out of range")))
    }

    fn opt_time(&mut self) -> StoreResult<Option<DateTime<Utc>>> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.time().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, Tenant, TraceKind};
    use crate::testing::{container, request, t0};
    use proptest::prelude::*;

    fn job() -> Job {
        let (job, _) = Job::plan_publish(
            None,
            request(
                &Tenant::new("o", "s"),
                TraceKind::Export,
                "p",
                &container(1),
            ),
            true,
            t0(),
            || JobId(42),
        );
        job
    }

    fn round_trip(job: &Job) -> Job {
        decode(Some(&encode_schedule(job)), &encode_body(job).unwrap()).unwrap()
    }

    #[test]
    fn a_new_job_comes_back_as_it_went_in() {
        let job = job();
        assert_eq!(round_trip(&job), job);
    }

    #[test]
    fn a_legacy_whole_job_record_still_reads() {
        let mut job = job();
        job.last_result = Some(TraceResult::new(Status::GatedIn, t0()));
        let legacy = serde_json::to_vec(&job).unwrap();
        assert_eq!(decode(None, &legacy).unwrap(), job);
        // And once a schedule record is written beside it, the old body still decodes.
        let mut later = job.clone();
        later.trace_count = 7;
        assert_eq!(
            decode(Some(&encode_schedule(&later)), &legacy).unwrap(),
            later
        );
    }

    #[test]
    fn the_result_s_trace_time_lives_in_the_schedule() {
        let mut job = job();
        job.last_result = Some(TraceResult::new(Status::Expected, t0()));
        let body = encode_body(&job).unwrap();
        let mut retraced = job.clone();
        let later = t0() + chrono::Duration::minutes(30);
        retraced.last_result.as_mut().unwrap().traced_at = later;
        assert!(
            same_body(&job, &retraced),
            "a new trace time alone is no new body"
        );
        let read = decode(Some(&encode_schedule(&retraced)), &body).unwrap();
        assert_eq!(read, retraced);

        let mut changed = retraced.clone();
        changed.last_result.as_mut().unwrap().status = Status::GatedIn;
        assert!(!same_body(&retraced, &changed));
    }

    #[test]
    fn a_truncated_or_unknown_schedule_is_corrupt_not_a_panic() {
        let job = job();
        let body = encode_body(&job).unwrap();
        let schedule = encode_schedule(&job);
        for len in 0..schedule.len() {
            assert!(matches!(
                decode(Some(&schedule[..len]), &body),
                Err(StoreError::Corrupt(_))
            ));
        }
        let mut unknown = schedule.clone();
        unknown[0] = 99;
        assert!(matches!(
            decode(Some(&unknown), &body),
            Err(StoreError::Corrupt(_))
        ));
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        (min..max, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    proptest! {
        #[test]
        fn every_schedule_comes_back_exactly(
            state in 0u8..5,
            times in proptest::collection::vec(time(), 12),
            some in proptest::collection::vec(any::<bool>(), 8),
            counters in proptest::collection::vec(any::<u64>(), 5),
            errors in any::<u32>(),
        ) {
            let mut job = job();
            job.state = [
                TrackingState::Active,
                TrackingState::Completed,
                TrackingState::Expired,
                TrackingState::Cancelled,
                TrackingState::Failed,
            ][usize::from(state)];
            job.created_at = times[0];
            job.tracking_since = times[1];
            job.updated_at = times[2];
            job.due_at = some[0].then_some(times[3]);
            job.lease = some[1].then_some(Lease { token: counters[0], until: times[4] });
            job.lease_seq = counters[1];
            job.last_changed_at = some[2].then_some(times[5]);
            job.last_traced_at = some[3].then_some(times[6]);
            job.consecutive_errors = errors;
            job.not_found_since = some[4].then_some(times[7]);
            job.trace_count = counters[2];
            job.force = ForceState { requested: counters[3], handled: counters[4] };
            job.claimed_due_at = some[5].then_some(times[8]);
            job.last_result = some[6].then(|| TraceResult::new(Status::Loaded, times[9]));
            prop_assert_eq!(round_trip(&job), job);
        }
    }
}
