//! Retention in the PostgreSQL store: finished jobs removed with their history (which
//! holds their results-feed entries), found through the `jobs_finished` index
//! (migration 4).

use chrono::{DateTime, Utc};

use super::sql::execute;
use super::Shared;
use crate::store::StoreResult;

/// One statement, so one transaction: the oldest finished jobs are locked (`SKIP LOCKED`:
/// a job a publish holds is left to the next sweep), and deleted with their history.
/// `FOR UPDATE` re-checks the condition on a row that changed since the statement's
/// snapshot, so a job re-published (made `ACTIVE`) meanwhile is not taken; the delete
/// repeats the condition on the rows it locked. Outbox entries stay (delivered ones are
/// gone already).
const PURGE_FINISHED: &str = "
    WITH doomed AS (
        SELECT id FROM jobs
        WHERE state <> 'ACTIVE' AND updated_at < $1
        ORDER BY updated_at, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ), history_gone AS (
        DELETE FROM history WHERE job_id IN (SELECT id FROM doomed)
    )
    DELETE FROM jobs
    WHERE id IN (SELECT id FROM doomed) AND state <> 'ACTIVE' AND updated_at < $1";

/// Removes up to `limit` jobs that finished before `before`.
pub(super) async fn purge_finished(
    shared: &Shared,
    before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<usize> {
    let client = shared.client().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let removed = execute(&client, PURGE_FINISHED, &[&before, &limit]).await?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}
