//! Reads that page or collect: a tenant's jobs (keyset pagination over the job key), a
//! job's history, and adapters' records.

use serde_json::Value;
use tokio_postgres::types::Json;

use super::sql::{self, execute, get, job, query, query_opt};
use super::Shared;
use crate::model::{JobKey, ResultEvent, Tenant};
use crate::store::{JobPage, ListQuery, StoreError, StoreResult};

/// A page of a tenant's jobs after a key (`''` sorts first), by key; one row more than
/// the page shows whether there is a next one.
const LIST: &str = "
    SELECT body FROM jobs
    WHERE org_id = $1 AND svc_id = $2
      AND ($3::text IS NULL OR state = $3)
      AND ($4::text IS NULL OR kind = $4)
      AND (kind, provider_id, container) > ($5, $6, $7)
    ORDER BY kind, provider_id, container
    LIMIT $8";

/// A page of every tenant's jobs after a key, by key ([`LIST`] without the tenant).
const LIST_ALL: &str = "
    SELECT body FROM jobs
    WHERE ($1::text IS NULL OR state = $1)
      AND ($2::text IS NULL OR kind = $2)
      AND (org_id, svc_id, kind, provider_id, container) > ($3, $4, $5, $6, $7)
    ORDER BY org_id, svc_id, kind, provider_id, container
    LIMIT $8";

/// The newest `$6` events of a job, oldest first.
const HISTORY: &str = "
    SELECT event FROM (
        SELECT h.seq, h.event FROM history h JOIN jobs j ON j.id = h.job_id
        WHERE j.org_id = $1 AND j.svc_id = $2 AND j.kind = $3 AND j.provider_id = $4
          AND j.container = $5
        ORDER BY h.seq DESC LIMIT $6
    ) newest ORDER BY seq";

pub(super) async fn list(shared: &Shared, tenant: &Tenant, q: &ListQuery) -> StoreResult<JobPage> {
    let limit = q.page_size();
    let after = match q.after.as_deref() {
        Some(cursor) => decode_cursor(tenant, cursor)?,
        None => [String::new(), String::new(), String::new()],
    };
    let state = q.state.map(|s| s.as_str());
    let kind = q.kind.map(|k| k.as_str());
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let client = shared.client().await?;
    let rows = query(
        &client,
        LIST,
        &[
            &tenant.org_id,
            &tenant.svc_id,
            &state,
            &kind,
            &after[0],
            &after[1],
            &after[2],
            &fetch,
        ],
    )
    .await?;
    page(&rows, limit)
}

/// A page of at most `limit` jobs from `rows` (read one past the limit, so that a next
/// cursor is given only when more exist).
fn page(rows: &[tokio_postgres::Row], limit: usize) -> StoreResult<JobPage> {
    let mut jobs = rows
        .iter()
        .map(|row| job(row, 0))
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|j| encode_cursor(&j.request.key))
    } else {
        None
    };
    Ok(JobPage { jobs, next })
}

/// Every tenant's jobs, paged with the same cursors as [`list`] (here of any tenant).
pub(super) async fn list_all(shared: &Shared, q: &ListQuery) -> StoreResult<JobPage> {
    let limit = q.page_size();
    let after = match q.after.as_deref() {
        Some(cursor) => decode_any_cursor(cursor)?,
        None => Default::default(),
    };
    let state = q.state.map(|s| s.as_str());
    let kind = q.kind.map(|k| k.as_str());
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let client = shared.client().await?;
    let [org, svc, after_kind, provider, container] = &after;
    let rows = query(
        &client,
        LIST_ALL,
        &[
            &state, &kind, org, svc, after_kind, provider, container, &fetch,
        ],
    )
    .await?;
    page(&rows, limit)
}

pub(super) async fn history(
    shared: &Shared,
    key: &JobKey,
    limit: usize,
) -> StoreResult<Vec<ResultEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let client = shared.client().await?;
    let rows = query(
        &client,
        HISTORY,
        &[
            &key.tenant.org_id,
            &key.tenant.svc_id,
            sql::kind_param(key.kind),
            &key.provider_id,
            &key.container,
            &limit,
        ],
    )
    .await?;
    rows.iter()
        .map(|row| get::<Json<ResultEvent>>(row, 0, "history event").map(|Json(e)| e))
        .collect()
}

/// A cursor: the hex of the JSON array of the last job's key (tenant included, so that a
/// cursor of another tenant is refused rather than followed).
fn encode_cursor(key: &JobKey) -> String {
    let parts = [
        key.tenant.org_id.as_str(),
        key.tenant.svc_id.as_str(),
        key.kind.as_str(),
        key.provider_id.as_str(),
        key.container.as_str(),
    ];
    let json = serde_json::to_vec(&parts).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kind, provider and container a cursor continues after.
fn decode_cursor(tenant: &Tenant, cursor: &str) -> StoreResult<[String; 3]> {
    let [org, svc, kind, provider, container] = decode_any_cursor(cursor)?;
    if org != tenant.org_id || svc != tenant.svc_id {
        return Err(StoreError::InvalidCursor(
            "not a cursor of this listing".into(),
        ));
    }
    Ok([kind, provider, container])
}

/// The whole key (tenant, kind, provider, container) a cursor continues after.
fn decode_any_cursor(cursor: &str) -> StoreResult<[String; 5]> {
    let invalid = || StoreError::InvalidCursor("not a cursor of this listing".into());
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let key: [String; 5] = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // PostgreSQL text cannot hold a NUL: such a cursor was never handed out, and the query
    // would fail as if the store were down.
    if key.iter().any(|part| part.contains('\0')) {
        return Err(invalid());
    }
    Ok(key)
}

pub(super) async fn put_record(
    shared: &Shared,
    kind: &str,
    key: &str,
    value: &Value,
) -> StoreResult<()> {
    let client = shared.client().await?;
    execute(
        &client,
        "INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value",
        &[&kind, &key, &Json(value)],
    )
    .await
    .map(drop)
}

pub(super) async fn get_record(
    shared: &Shared,
    kind: &str,
    key: &str,
) -> StoreResult<Option<Value>> {
    let client = shared.client().await?;
    query_opt(
        &client,
        "SELECT value FROM records WHERE kind = $1 AND key = $2",
        &[&kind, &key],
    )
    .await?
    .map(|row| get::<Json<Value>>(&row, 0, "record").map(|Json(v)| v))
    .transpose()
}

/// Records of a kind by key prefix: a range scan from the prefix on the primary key
/// ("C" collation: byte order), stopped by `starts_with`.
pub(super) async fn list_records(
    shared: &Shared,
    kind: &str,
    prefix: &str,
) -> StoreResult<Vec<(String, Value)>> {
    let client = shared.client().await?;
    let rows = query(
        &client,
        "SELECT key, value FROM records
         WHERE kind = $1 AND key >= $2 AND starts_with(key, $2)
         ORDER BY key",
        &[&kind, &prefix],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let key: String = get(row, 0, "record key")?;
            let Json(value) = get::<Json<Value>>(row, 1, "record")?;
            Ok((key, value))
        })
        .collect()
}

pub(super) async fn delete_record(shared: &Shared, kind: &str, key: &str) -> StoreResult<bool> {
    let client = shared.client().await?;
    let n = execute(
        &client,
        "DELETE FROM records WHERE kind = $1 AND key = $2",
        &[&kind, &key],
    )
    .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceKind;

    #[test]
    fn cursors_belong_to_their_tenant() {
        let key = JobKey {
            tenant: Tenant::new("org", "svc"),
            kind: TraceKind::Export,
            provider_id: "p".into(),
            container: "CSQU3054383".into(),
        };
        let cursor = encode_cursor(&key);
        assert_eq!(
            decode_cursor(&key.tenant, &cursor).unwrap(),
            ["EXPORT".to_owned(), "p".into(), "CSQU3054383".into()]
        );
        for bad in [
            "zz",
            "abc",
            "",
            &encode_cursor(&JobKey {
                tenant: Tenant::new("other", "svc"),
                ..key.clone()
            }),
        ] {
            assert!(matches!(
                decode_cursor(&key.tenant, bad),
                Err(StoreError::InvalidCursor(_))
            ));
        }
        // A NUL in a key is refused here, not sent to PostgreSQL (which fails on it).
        let nul = encode_cursor(&JobKey {
            container: "CSQU\u{0}3054383".into(),
            ..key.clone()
        });
        assert!(matches!(
            decode_any_cursor(&nul),
            Err(StoreError::InvalidCursor(_))
        ));
    }
}
