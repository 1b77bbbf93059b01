//! The outbox: naming result events, and per-queue claims that keep each job's events
//! in order across processes.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use super::error::{to_i64, to_u64};
use super::sql::{self, execute, get, query, query_opt};
use super::Shared;
use crate::model::{EmitReason, Fenced, Job, Lease, ResultEvent};
use crate::store::{
    EventSeq, OutboxClaim, OutboxEntry, OutboxStats, Settlement, StoreError, StoreResult, Verdict,
};

/// Leases the oldest available entries of a queue, at most one per job, and none of a job
/// whose older live entry waits or is in flight. `SKIP LOCKED` passes over the entries
/// another deliverer is claiming at this moment; the `NOT EXISTS` probe sees every
/// committed older entry, leased or not, so a job's next entry is never handed out while
/// an earlier one is (per job, entries commit in sequence order: they are appended while
/// the job's row is locked).
const CLAIM: &str = "
    WITH picked AS (
        SELECT o.seq FROM outbox o
        WHERE o.queue = $1 AND NOT o.dead
          AND o.available_at <= $2
          AND (o.lease_until IS NULL OR o.lease_until <= $2)
          AND NOT EXISTS (
              SELECT 1 FROM outbox older
              WHERE older.queue = o.queue AND older.job_id = o.job_id
                AND NOT older.dead AND older.seq < o.seq)
        ORDER BY o.seq
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    )
    UPDATE outbox SET lease_token = outbox.lease_token + 1, lease_until = $4
    FROM picked WHERE outbox.queue = $1 AND outbox.seq = picked.seq
    RETURNING outbox.seq, outbox.job_id, outbox.event, outbox.attempts, outbox.available_at,
              outbox.lease_token, outbox.lease_until, outbox.dead, outbox.last_error";

// The statements below act only on the holder's entry: the token must be the entry's
// current one, and the entry claimed and live.

const ACK: &str = "DELETE FROM outbox WHERE queue = $1 AND seq = $2 AND lease_token = $3 AND lease_until IS NOT NULL AND NOT dead";

/// The lease keeps its token (the next claim's is higher) and ends when the entry is
/// available again.
const RETRY: &str = "
    UPDATE outbox SET attempts = attempts + 1, available_at = $4, lease_until = $4, last_error = $5
    WHERE queue = $1 AND seq = $2 AND lease_token = $3 AND lease_until IS NOT NULL AND NOT dead";

const BURY: &str = "
    UPDATE outbox SET dead = TRUE, lease_until = NULL, last_error = $4
    WHERE queue = $1 AND seq = $2 AND lease_token = $3 AND lease_until IS NOT NULL AND NOT dead";

/// Removes the held entry and inserts its copies, in one statement; returns how many
/// entries were removed (0: the lease was lost) and copied.
const FAN_OUT: &str = "
    WITH gone AS (
        DELETE FROM outbox
        WHERE queue = $1 AND seq = $2 AND lease_token = $3 AND lease_until IS NOT NULL AND NOT dead
        RETURNING job_id, event
    ), copies AS (
        INSERT INTO outbox (queue, seq, job_id, event, available_at)
        SELECT t.queue, nextval('event_seqs'), gone.job_id, gone.event, $5
        FROM gone, unnest($4::text[]) WITH ORDINALITY AS t(queue, n)
        ORDER BY t.n
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM copies)";

/// Ends the holder's lease now (the token stays, so that the next claim's is higher).
const RELEASE: &str = "
    UPDATE outbox SET lease_until = NULL
    WHERE queue = $1 AND seq = $2 AND lease_token = $3 AND lease_until IS NOT NULL AND NOT dead";

/// Verdicts on several held entries in one statement: the settlements as arrays (kind 0
/// ack, 1 retry, 2 bury, 3 release), each applied only where the token is still the entry's, as the
/// single statements above; returns the sequence numbers it touched. The sequence numbers
/// must be distinct (two data-modifying parts of one statement must not touch one row).
const SETTLE: &str = "
    WITH s AS (
        SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::smallint[], $5::timestamptz[], $6::text[])
            AS s(seq, token, kind, at, error)
    ), acked AS (
        DELETE FROM outbox o USING s
        WHERE s.kind = 0 AND o.queue = $1 AND o.seq = s.seq AND o.lease_token = s.token
          AND o.lease_until IS NOT NULL AND NOT o.dead
        RETURNING o.seq
    ), retried AS (
        UPDATE outbox o SET attempts = o.attempts + 1, available_at = s.at, lease_until = s.at,
                            last_error = s.error
        FROM s
        WHERE s.kind = 1 AND o.queue = $1 AND o.seq = s.seq AND o.lease_token = s.token
          AND o.lease_until IS NOT NULL AND NOT o.dead
        RETURNING o.seq
    ), buried AS (
        UPDATE outbox o SET dead = TRUE, lease_until = NULL, last_error = s.error
        FROM s
        WHERE s.kind = 2 AND o.queue = $1 AND o.seq = s.seq AND o.lease_token = s.token
          AND o.lease_until IS NOT NULL AND NOT o.dead
        RETURNING o.seq
    ), released AS (
        UPDATE outbox o SET lease_until = NULL
        FROM s
        WHERE s.kind = 3 AND o.queue = $1 AND o.seq = s.seq AND o.lease_token = s.token
          AND o.lease_until IS NOT NULL AND NOT o.dead
        RETURNING o.seq
    )
    SELECT seq FROM acked UNION ALL SELECT seq FROM retried UNION ALL SELECT seq FROM buried
    UNION ALL SELECT seq FROM released";

const REPLAY: &str =
    "UPDATE outbox SET dead = FALSE, attempts = 0, available_at = $2 WHERE queue = $1 AND dead";

const STATS: &str = "
    SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead)
    FROM outbox WHERE queue = $1";

/// A queue's first entries, oldest first, dead ones included.
const ENTRIES: &str = "
    SELECT seq, job_id, event, attempts, available_at, lease_token, lease_until, dead, last_error
    FROM outbox WHERE queue = $1 ORDER BY seq LIMIT $2";

/// The result event for `job`, named by `seq`: unique per event, and kept by the copies
/// a fan-out makes.
pub(super) fn new_event(
    instance: &str,
    seq: i64,
    job: &Job,
    reason: EmitReason,
    now: DateTime<Utc>,
) -> StoreResult<ResultEvent> {
    let mut event = ResultEvent::for_job(job, reason, now);
    event.id = format!("evt_{instance}_{:016x}", to_u64("event sequence", seq)?);
    Ok(event)
}

fn entry(queue: &str, row: &Row) -> StoreResult<OutboxEntry> {
    let lease_until: Option<DateTime<Utc>> = get(row, 6, "outbox lease")?;
    let token = to_u64("outbox lease token", get(row, 5, "outbox lease token")?)?;
    Ok(OutboxEntry {
        seq: EventSeq(to_u64("outbox sequence", get(row, 0, "outbox sequence")?)?),
        queue: queue.to_owned(),
        job_id: sql::job_id(row, 1)?,
        event: get::<Json<ResultEvent>>(row, 2, "outbox event")?.0,
        attempts: u32::try_from(get::<i32>(row, 3, "outbox attempts")?).unwrap_or(0),
        available_at: get(row, 4, "outbox availability")?,
        lease: lease_until.map(|until| Lease { token, until }),
        dead: get(row, 7, "outbox dead")?,
        last_error: get(row, 8, "outbox error")?,
    })
}

pub(super) async fn claim(
    shared: &Shared,
    queue: &str,
    now: DateTime<Utc>,
    limit: usize,
    until: DateTime<Utc>,
) -> StoreResult<Vec<OutboxClaim>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let client = shared.client().await?;
    let rows = query(&client, CLAIM, &[&queue, &now, &limit, &until]).await?;
    let mut claims = Vec::with_capacity(rows.len());
    for row in &rows {
        match entry(queue, row) {
            Ok(entry) => {
                let token = entry.lease.map_or(0, |l| l.token);
                claims.push(OutboxClaim { entry, token });
            }
            // Leased but not handed out: it comes back when the lease lapses, and stays
            // for an operator to inspect.
            Err(e) => {
                tracing::error!(queue, error = %e, "skipping an outbox entry that cannot be decoded")
            }
        }
    }
    claims.sort_by_key(|c| c.entry.seq);
    Ok(claims)
}

/// Runs a statement on the holder's entry; if it touched nothing, says why.
async fn on_held(
    shared: &Shared,
    sql: &str,
    queue: &str,
    seq: EventSeq,
    token: u64,
    more: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<()> {
    let (seq, token) = (to_i64("outbox sequence", seq.0)?, to_i64("token", token)?);
    let client = shared.client().await?;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&queue, &seq, &token];
    params.extend_from_slice(more);
    if execute(&client, sql, &params).await? == 1 {
        return Ok(());
    }
    Err(why_not_held(&client, queue, seq).await)
}

/// Why the holder's statement touched nothing: the entry is gone, or its lease is not
/// the holder's any more.
async fn why_not_held<C: GenericClient>(client: &C, queue: &str, seq: i64) -> StoreError {
    match query_opt(
        client,
        "SELECT 1 FROM outbox WHERE queue = $1 AND seq = $2",
        &[&queue, &seq],
    )
    .await
    {
        Ok(Some(_)) => Fenced::LeaseLost.into(),
        Ok(None) => Fenced::Missing.into(),
        Err(e) => e,
    }
}

pub(super) async fn ack(
    shared: &Shared,
    queue: &str,
    seq: EventSeq,
    token: u64,
) -> StoreResult<()> {
    on_held(shared, ACK, queue, seq, token, &[]).await
}

pub(super) async fn retry(
    shared: &Shared,
    queue: &str,
    seq: EventSeq,
    token: u64,
    not_before: DateTime<Utc>,
    error: Option<String>,
) -> StoreResult<()> {
    on_held(shared, RETRY, queue, seq, token, &[&not_before, &error]).await
}

pub(super) async fn bury(
    shared: &Shared,
    queue: &str,
    seq: EventSeq,
    token: u64,
    error: String,
) -> StoreResult<()> {
    on_held(shared, BURY, queue, seq, token, &[&error]).await
}

pub(super) async fn fan_out(
    shared: &Shared,
    queue: &str,
    seq: EventSeq,
    token: u64,
    to: &[String],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (seq, token) = (to_i64("outbox sequence", seq.0)?, to_i64("token", token)?);
    let client = shared.client().await?;
    let row = query_opt(&client, FAN_OUT, &[&queue, &seq, &token, &to, &now])
        .await?
        .ok_or_else(|| StoreError::Unavailable("fan-out returned no counts".into()))?;
    if get::<i64>(&row, 0, "fan-out count")? == 1 {
        Ok(())
    } else {
        Err(why_not_held(&client, queue, seq).await)
    }
}

/// Ends the holder's lease now ([`crate::store::Verdict::Release`]).
pub(super) async fn release(
    shared: &Shared,
    queue: &str,
    seq: EventSeq,
    token: u64,
) -> StoreResult<()> {
    on_held(shared, RELEASE, queue, seq, token, &[]).await
}

/// Whether [`settle`] can take `settlements`: one statement must not touch one entry
/// twice.
pub(super) fn distinct(settlements: &[Settlement]) -> bool {
    let seqs: std::collections::HashSet<EventSeq> = settlements.iter().map(|s| s.seq).collect();
    seqs.len() == settlements.len()
}

/// Applies `settlements` to `queue` in one statement, all or none; one result each. Their
/// sequence numbers must be [`distinct`].
pub(super) async fn settle(
    shared: &Shared,
    queue: &str,
    settlements: &[Settlement],
) -> StoreResult<Vec<StoreResult<()>>> {
    let n = settlements.len();
    let (mut seqs, mut tokens, mut kinds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut ats, mut errors): (Vec<Option<DateTime<Utc>>>, Vec<Option<String>>) =
        (Vec::with_capacity(n), Vec::with_capacity(n));
    for s in settlements {
        seqs.push(to_i64("outbox sequence", s.seq.0)?);
        tokens.push(to_i64("token", s.token)?);
        let (kind, at, error): (i16, _, _) = match &s.verdict {
            Verdict::Ack => (0, None, None),
            Verdict::Retry { not_before, error } => (1, Some(*not_before), error.clone()),
            Verdict::Bury { error } => (2, None, Some(error.clone())),
            Verdict::Release => (3, None, None),
        };
        kinds.push(kind);
        ats.push(at);
        errors.push(error);
    }
    let client = shared.client().await?;
    let rows = query(
        &client,
        SETTLE,
        &[&queue, &seqs, &tokens, &kinds, &ats, &errors],
    )
    .await?;
    let mut touched = std::collections::HashSet::with_capacity(rows.len());
    for row in &rows {
        touched.insert(get::<i64>(row, 0, "settled sequence")?);
    }
    let mut results = Vec::with_capacity(n);
    for seq in seqs {
        results.push(if touched.contains(&seq) {
            Ok(())
        } else {
            Err(why_not_held(&client, queue, seq).await)
        });
    }
    Ok(results)
}

pub(super) async fn replay(shared: &Shared, queue: &str, now: DateTime<Utc>) -> StoreResult<usize> {
    let client = shared.client().await?;
    let n = execute(&client, REPLAY, &[&queue, &now]).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(super) async fn purge(shared: &Shared, queue: &str) -> StoreResult<usize> {
    let client = shared.client().await?;
    let n = execute(&client, "DELETE FROM outbox WHERE queue = $1", &[&queue]).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(super) async fn stats(shared: &Shared, queue: &str) -> StoreResult<OutboxStats> {
    let client = shared.client().await?;
    let row = query_opt(&client, STATS, &[&queue])
        .await?
        .ok_or_else(|| StoreError::Unavailable("outbox counts returned no row".into()))?;
    let count = |i: usize| -> StoreResult<usize> {
        Ok(usize::try_from(get::<i64>(&row, i, "outbox count")?).unwrap_or(0))
    };
    Ok(OutboxStats {
        pending: count(0)?,
        dead: count(1)?,
    })
}

pub(super) async fn entries(
    shared: &Shared,
    queue: &str,
    limit: usize,
) -> StoreResult<Vec<OutboxEntry>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let client = shared.client().await?;
    query(&client, ENTRIES, &[&queue, &limit])
        .await?
        .iter()
        .map(|row| entry(queue, row))
        .collect()
}
