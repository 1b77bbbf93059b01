//! Small helpers over the driver: prepared (and cached) statements with errors mapped into
//! [`StoreError`], and the conversions between jobs and their columns.

use chrono::{DateTime, Duration, DurationRound, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use super::error::{column, db, to_i64, to_u64};
use crate::model::{Job, JobId, TraceKind};
use crate::store::StoreResult;

/// Parameters of a statement.
pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs `sql` (prepared once per connection) and returns its rows.
pub(super) async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(db)?;
    client.query(&statement, params).await.map_err(db)
}

/// Runs `sql` and returns its row, if any.
pub(super) async fn query_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(db)?;
    client.query_opt(&statement, params).await.map_err(db)
}

/// Runs `sql` and returns how many rows it touched.
pub(super) async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await.map_err(db)?;
    client.execute(&statement, params).await.map_err(db)
}

/// Column `index` of `row`; a value that does not decode is a corrupt row.
pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
    what: &str,
) -> StoreResult<T> {
    row.try_get(index).map_err(|e| column(what, e))
}

/// A job's JSON body in column `index`.
pub(super) fn job(row: &Row, index: usize) -> StoreResult<Job> {
    get::<Json<Job>>(row, index, "job").map(|Json(job)| job)
}

/// A time as the due index holds it: rounded up to the microsecond (PostgreSQL's
/// resolution), so that the column never says a job is due before it is.
pub(super) fn due_column(at: DateTime<Utc>) -> DateTime<Utc> {
    let micro = Duration::microseconds(1);
    match at.duration_trunc(micro) {
        Ok(truncated) if truncated == at => at,
        Ok(truncated) => truncated + micro,
        Err(_) => at,
    }
}

/// A job's columns, derived from it, and its JSON body: the parameters of the statements
/// that write a job.
pub(super) struct JobRow<'a> {
    key: &'a crate::model::JobKey,
    id: i64,
    state: &'static str,
    due_at: Option<DateTime<Utc>>,
    lease_token: Option<i64>,
    lease_until: Option<DateTime<Utc>>,
    lease_seq: i64,
    attempts: i32,
    trace_count: i64,
    updated_at: DateTime<Utc>,
    body: Json<&'a Job>,
}

impl<'a> JobRow<'a> {
    pub(super) fn of(job: &'a Job) -> StoreResult<Self> {
        Ok(Self {
            key: &job.request.key,
            id: to_i64("job id", job.id.0)?,
            state: job.state.as_str(),
            due_at: job.due_at.map(due_column),
            lease_token: job
                .lease
                .map(|l| to_i64("lease token", l.token))
                .transpose()?,
            lease_until: job.lease.map(|l| l.until),
            lease_seq: to_i64("lease sequence", job.lease_seq)?,
            attempts: i32::try_from(job.consecutive_errors).unwrap_or(i32::MAX),
            trace_count: to_i64("trace count", job.trace_count)?,
            updated_at: job.updated_at,
            body: Json(job),
        })
    }

    /// The parameters of [`UPDATE_JOB`] (and the first ten of [`UPDATE_JOB_AND_APPEND`]).
    pub(super) fn update_params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.state,
            &self.due_at,
            &self.lease_token,
            &self.lease_until,
            &self.lease_seq,
            &self.attempts,
            &self.trace_count,
            &self.updated_at,
            &self.body,
        ]
    }

    /// The parameters of [`INSERT_JOB`].
    pub(super) fn insert_params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.key.tenant.org_id,
            &self.key.tenant.svc_id,
            kind_param(self.key.kind),
            &self.key.provider_id,
            &self.key.container,
        ];
        params.extend(self.update_params());
        params
    }
}

/// A new job; touches no row if another process inserted its key first.
pub(super) const INSERT_JOB: &str = "
    INSERT INTO jobs (org_id, svc_id, kind, provider_id, container, id, state, due_at,
                      lease_token, lease_until, lease_seq, attempts, trace_count, updated_at, body)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    ON CONFLICT ON CONSTRAINT jobs_key DO NOTHING";

/// A job's new state (its row locked by the transaction).
pub(super) const UPDATE_JOB: &str = "
    UPDATE jobs SET state = $2, due_at = $3, lease_token = $4, lease_until = $5, lease_seq = $6,
                    attempts = $7, trace_count = $8, updated_at = $9, body = $10
    WHERE id = $1";

/// A job's new state and its result event (`$11` sequence, `$12` event, `$13` queue, `$14`
/// time) in its history and the results queue: one statement, so one step of a pipeline.
pub(super) const UPDATE_JOB_AND_APPEND: &str = "
    WITH job AS (
        UPDATE jobs SET state = $2, due_at = $3, lease_token = $4, lease_until = $5,
                        lease_seq = $6, attempts = $7, trace_count = $8, updated_at = $9,
                        body = $10
        WHERE id = $1
        RETURNING id
    ), h AS (
        INSERT INTO history (job_id, seq, event) SELECT id, $11, $12 FROM job
    )
    INSERT INTO outbox (queue, seq, job_id, event, available_at)
    SELECT $13, $11, id, $12, $14 FROM job";

/// A trace kind as a statement parameter.
pub(super) fn kind_param(kind: TraceKind) -> &'static (dyn ToSql + Sync) {
    match kind {
        TraceKind::Export => &"EXPORT",
        TraceKind::Empty => &"EMPTY",
    }
}

/// A BIGINT id column as a job id.
pub(super) fn job_id(row: &Row, index: usize) -> StoreResult<JobId> {
    to_u64("job id", get::<i64>(row, index, "job id")?).map(JobId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn due_times_round_up_to_the_microsecond() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(due_column(t), t);
        let nanos = t + Duration::nanoseconds(1_001);
        assert_eq!(due_column(nanos), t + Duration::microseconds(2));
        assert_eq!(
            due_column(t + Duration::microseconds(3)),
            t + Duration::microseconds(3)
        );
    }
}
