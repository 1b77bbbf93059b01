//! Jobs: publish, cancel, reads, and the trace cycle (claim, renew, complete). Each write
//! is one transaction that locks the job's row, applies the model's transition to it in
//! Rust, and writes it back: two pipelined round trips ([`Tx`]).

use chrono::{DateTime, Utc};
use tokio_postgres::types::{Json, ToSql};

use super::error::{to_i64, to_u64};
use super::outbox::new_event;
use super::sql::{
    self, due_column, get, job, query_opt, JobRow, INSERT_JOB, UPDATE_JOB, UPDATE_JOB_AND_APPEND,
};
use super::tx::{Tx, BEGIN, BEGIN_ASYNC_COMMIT};
use super::Shared;
use crate::model::{
    EmitReason, Fenced, Job, JobId, JobKey, PublishOutcome, ResultEvent, TraceRequest,
};
use crate::store::{
    Claimed, Committed, DueClaim, StoreError, StoreResult, TraceCommit, RESULTS_QUEUE,
};

/// The row of a key, locked; or, when there is none, a new job id. One statement, so that
/// it can travel with BEGIN.
const LOCK_FOR_PUBLISH: &str = "
    WITH current AS (
        SELECT body FROM jobs
        WHERE org_id = $1 AND svc_id = $2 AND kind = $3 AND provider_id = $4 AND container = $5
        FOR UPDATE
    )
    SELECT (SELECT body FROM current),
           CASE WHEN NOT EXISTS (SELECT 1 FROM current) THEN nextval('job_ids') END";

/// The row of a key, locked, with the next event sequence number if the job is active (a
/// cancel appends an event then).
const LOCK_FOR_CANCEL: &str = "
    SELECT body, CASE WHEN state = 'ACTIVE' THEN nextval('event_seqs') END
    FROM jobs
    WHERE org_id = $1 AND svc_id = $2 AND kind = $3 AND provider_id = $4 AND container = $5
    FOR UPDATE";

const GET_BY_KEY: &str = "
    SELECT body FROM jobs
    WHERE org_id = $1 AND svc_id = $2 AND kind = $3 AND provider_id = $4 AND container = $5";

/// Due jobs, earliest first, skipping rows another process is claiming or committing right
/// now: a range scan of the partial index `jobs_due`, k rows after one descent.
/// Jobs held by a lease that runs past `$3` (now) are never taken ahead of time.
const CLAIM_DUE: &str = "
    SELECT body FROM jobs
    WHERE state = 'ACTIVE' AND due_at <= $1 AND (lease_until IS NULL OR lease_until <= $3)
    ORDER BY due_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED";

/// The claimed rows' leases, in one statement.
const LEASE_CLAIMED: &str = "
    UPDATE jobs SET due_at = c.due_at, lease_token = c.token, lease_until = c.until,
                    lease_seq = c.token, body = c.body
    FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::timestamptz[], $5::jsonb[])
         AS c(id, due_at, token, until, body)
    WHERE jobs.id = c.id";

/// A job's row, locked; with the next event sequence number when the commit will append
/// an event (`$2`), taken here to save a round trip.
const LOCK_BY_ID: &str = "
    SELECT body, CASE WHEN $2 THEN nextval('event_seqs') END FROM jobs WHERE id = $1 FOR UPDATE";

const NEXT_DUE: &str = "
    SELECT due_at FROM jobs
    WHERE state = 'ACTIVE' AND due_at IS NOT NULL
    ORDER BY due_at LIMIT 1";

/// The cohort's jobs that [`Job::expedites`] (active, not leased, due later than `$3`,
/// not traced since the news was seen at `$4`), due at `$3`; the body says so too.
const EXPEDITE_COHORT: &str = "
    UPDATE jobs SET due_at = $3, body = jsonb_set(body, '{dueAt}', $5::jsonb)
    WHERE provider_id = $1 AND cohort = $2 AND state = 'ACTIVE'
      AND (lease_until IS NULL OR lease_until <= $4)
      AND due_at > $3
      AND (body ->> 'lastTracedAt' IS NULL OR (body ->> 'lastTracedAt')::timestamptz < $4)";

fn key_params(key: &JobKey) -> [&(dyn ToSql + Sync); 5] {
    [
        &key.tenant.org_id,
        &key.tenant.svc_id,
        sql::kind_param(key.kind),
        &key.provider_id,
        &key.container,
    ]
}

/// A publish, retried when another process creates the same new job at the same moment.
pub(super) async fn publish(
    shared: &Shared,
    request: TraceRequest,
    real_time: bool,
    now: DateTime<Utc>,
) -> StoreResult<(Job, PublishOutcome)> {
    for _ in 0..3 {
        let (tx, rows) =
            Tx::open(shared, BEGIN, LOCK_FOR_PUBLISH, &key_params(&request.key)).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Unavailable("publish read no row".into()))?;
        let current = get::<Option<Json<Job>>>(row, 0, "job")?.map(|Json(job)| job);
        let new_id = get::<Option<i64>>(row, 1, "job id")?
            .map(|id| to_u64("job id", id).map(JobId))
            .transpose()?;
        if current.is_none() && new_id.is_none() {
            // The statement takes an id whenever it finds no row; without one the insert
            // below would write job 0.
            tx.rollback().await;
            return Err(StoreError::Unavailable(
                "no job id was allocated; retry".into(),
            ));
        }
        let (job, outcome) = Job::plan_publish(current, request.clone(), real_time, now, || {
            new_id.unwrap_or(JobId(0))
        });
        let written = JobRow::of(&job)?;
        match outcome {
            PublishOutcome::Created => {
                if tx.commit_with(INSERT_JOB, &written.insert_params()).await? == 0 {
                    // Another process created the job first; its row is committed now (the
                    // insert waited for it), so the next attempt finds it.
                    continue;
                }
            }
            PublishOutcome::AlreadyTracked => tx.commit().await?,
            PublishOutcome::Restarted | PublishOutcome::Forced => {
                tx.commit_with(UPDATE_JOB, &written.update_params()).await?;
            }
        }
        if job.due_at.is_some_and(|due| due <= now) {
            shared.wake_others();
        }
        return Ok((job, outcome));
    }
    Err(StoreError::Unavailable(
        "publish kept racing with other processes creating the same job; retry".into(),
    ))
}

pub(super) async fn cancel(
    shared: &Shared,
    key: &JobKey,
    now: DateTime<Utc>,
) -> StoreResult<Option<ResultEvent>> {
    let (tx, rows) = Tx::open(shared, BEGIN, LOCK_FOR_CANCEL, &key_params(key)).await?;
    let Some(row) = rows.first() else {
        tx.rollback().await;
        return Ok(None);
    };
    let seq: Option<i64> = get(row, 1, "event sequence")?;
    let Some(job) = Job::plan_cancel(Some(job(row, 0)?), now) else {
        tx.rollback().await;
        return Ok(None);
    };
    let Some(seq) = seq else {
        tx.rollback().await;
        return Err(disagrees(&job));
    };
    let event = new_event(
        &shared.instance,
        seq,
        &job,
        EmitReason::TrackingStopped,
        now,
    )?;
    let written = JobRow::of(&job)?;
    let event_param = Json(&event);
    tx.commit_with(
        UPDATE_JOB_AND_APPEND,
        &append_params(&written, &seq, &event_param, &now),
    )
    .await?;
    Ok(Some(event))
}

/// The `state` column said the job was not active but its body says it is: the row was
/// written by something other than this store.
fn disagrees(job: &Job) -> StoreError {
    StoreError::Corrupt(format!(
        "job {}: its state column disagrees with its body",
        job.id
    ))
}

/// The parameters of [`UPDATE_JOB_AND_APPEND`].
fn append_params<'a>(
    written: &'a JobRow<'a>,
    seq: &'a i64,
    event: &'a Json<&'a ResultEvent>,
    now: &'a DateTime<Utc>,
) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params = written.update_params();
    params.push(seq);
    params.push(event);
    params.push(&RESULTS_QUEUE);
    params.push(now);
    params
}

pub(super) async fn get_job(shared: &Shared, key: &JobKey) -> StoreResult<Option<Job>> {
    let client = shared.client().await?;
    query_opt(&client, GET_BY_KEY, &key_params(key))
        .await?
        .map(|row| job(&row, 0))
        .transpose()
}

pub(super) async fn claim_due(shared: &Shared, claim: DueClaim) -> StoreResult<Vec<Claimed>> {
    let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (tx, rows) = Tx::open(
        shared,
        BEGIN,
        CLAIM_DUE,
        &[&claim.due_by, &limit, &claim.now],
    )
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut job = match job(row, 0) {
            Ok(job) => job,
            Err(e) => {
                // One bad record must not stop every other job; it stays, unlocked once this
                // transaction ends, for an operator to inspect.
                tracing::error!(error = %e, "skipping a job record that cannot be decoded");
                continue;
            }
        };
        if !job.is_claimable_by(claim.due_by, claim.now) {
            continue;
        }
        let token = job.claim(claim.lease_until(job.due_at));
        claimed.push(Claimed { job, token });
    }
    if claimed.is_empty() {
        tx.rollback().await;
        return Ok(claimed);
    }
    let mut ids = Vec::with_capacity(claimed.len());
    let mut tokens = Vec::with_capacity(claimed.len());
    for c in &claimed {
        ids.push(to_i64("job id", c.job.id.0)?);
        tokens.push(to_i64("lease token", c.token)?);
    }
    let dues: Vec<_> = claimed
        .iter()
        .map(|c| c.job.due_at.map(due_column))
        .collect();
    let untils: Vec<_> = claimed
        .iter()
        .map(|c| c.job.lease.map(|l| l.until))
        .collect();
    let bodies: Vec<_> = claimed.iter().map(|c| Json(&c.job)).collect();
    tx.commit_with(LEASE_CLAIMED, &[&ids, &dues, &tokens, &untils, &bodies])
        .await?;
    Ok(claimed)
}

pub(super) async fn renew(
    shared: &Shared,
    id: JobId,
    token: u64,
    until: DateTime<Utc>,
    hand_back: bool,
) -> StoreResult<()> {
    let id = to_i64("job id", id.0)?;
    let (tx, rows) = Tx::open(shared, BEGIN, LOCK_BY_ID, &[&id, &false]).await?;
    let Some(row) = rows.first() else {
        tx.rollback().await;
        return Err(Fenced::Missing.into());
    };
    let mut job = job(row, 0)?;
    let held_until = job.lease.map(|l| l.until);
    let renewed = if hand_back {
        job.release(token, until)
    } else {
        job.renew(token, until)
    };
    if let Err(fenced) = renewed {
        tx.rollback().await;
        return Err(fenced.into());
    }
    tx.commit_with(UPDATE_JOB, &JobRow::of(&job)?.update_params())
        .await?;
    if held_until.is_some_and(|held| until < held) {
        // A lease cut short is a job handed back (a process shutting down): another
        // process may take it now rather than at its next poll.
        shared.wake_others();
    }
    Ok(())
}

/// Commits a finished trace: job, history and outbox in one transaction, if the lease is
/// still the caller's. The row is locked from the check to the write, so no claim can slip
/// in between.
pub(super) async fn complete(shared: &Shared, commit: TraceCommit) -> StoreResult<Committed> {
    let TraceCommit {
        token,
        job: next,
        emit,
        now,
    } = commit;
    // Nothing a client must hear about: losing this commit in a database crash only means
    // the job is traced again, so it need not wait for the WAL flush (sled's store makes the
    // same trade). Commits with an event stay synchronous.
    let begin = if emit.is_some() {
        BEGIN
    } else {
        BEGIN_ASYNC_COMMIT
    };
    let id = to_i64("job id", next.id.0)?;
    let (tx, rows) = Tx::open(shared, begin, LOCK_BY_ID, &[&id, &emit.is_some()]).await?;
    let Some(row) = rows.first() else {
        tx.rollback().await;
        return Err(Fenced::Missing.into());
    };
    let current = job(row, 0)?;
    let seq: Option<i64> = get(row, 1, "event sequence")?;
    let job = match Job::merge_completion(&current, next, token, now) {
        Ok(job) => job,
        Err(fenced) => {
            tx.rollback().await;
            return Err(fenced.into());
        }
    };
    let written = JobRow::of(&job)?;
    let event = match (emit, seq) {
        (Some(reason), Some(seq)) => {
            let event = new_event(&shared.instance, seq, &job, reason, now)?;
            let event_param = Json(&event);
            tx.commit_with(
                UPDATE_JOB_AND_APPEND,
                &append_params(&written, &seq, &event_param, &now),
            )
            .await?;
            Some(event)
        }
        (Some(_), None) => {
            // The lock statement takes a sequence number whenever asked to.
            tx.rollback().await;
            return Err(StoreError::Unavailable(
                "no event sequence number was allocated; retry".into(),
            ));
        }
        (None, _) => {
            tx.commit_with(UPDATE_JOB, &written.update_params()).await?;
            None
        }
    };
    if job.due_at.is_some_and(|due| due <= now) {
        // A force arrived during the trace: whichever process is free may run it.
        shared.wake_others();
    }
    Ok(Committed { job, event })
}

pub(super) async fn next_due(shared: &Shared) -> StoreResult<Option<DateTime<Utc>>> {
    let client = shared.client().await?;
    query_opt(&client, NEXT_DUE, &[])
        .await?
        .map(|row| get(&row, 0, "due time"))
        .transpose()
}

/// Brings a cohort's jobs forward; one statement.
pub(super) async fn expedite_cohort(
    shared: &Shared,
    provider: &str,
    cohort: &str,
    at: DateTime<Utc>,
    seen: DateTime<Utc>,
) -> StoreResult<usize> {
    let client = shared.client().await?;
    let due = due_column(at);
    let moved = sql::execute(
        &client,
        EXPEDITE_COHORT,
        &[&provider, &cohort, &due, &seen, &Json(at)],
    )
    .await?;
    if moved > 0 {
        shared.wake_others();
    }
    Ok(usize::try_from(moved).unwrap_or(usize::MAX))
}
