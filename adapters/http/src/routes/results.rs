//! `/api/results`: the tenant's result events in order, page by page after a cursor, or as
//! an NDJSON export streamed to the end, so that a client that missed web-hooks catches up
//! and a report job exports history.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use boxtrace::{Engine, FeedCursor, FeedEntry, Tenant, MAX_FEED_PAGE};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The media type of the export.
pub const NDJSON: &str = "application/x-ndjson";

/// Bytes of NDJSON gathered before they are sent: big enough that a chunk is not a line,
/// small enough that an export's memory does not grow with its length.
const CHUNK_BYTES: usize = 64 * 1024;

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ResultsParams {
    /// Continue after this cursor: the `next` of the previous page or any entry's
    /// `cursor`. Absent: from the first event kept.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100). An NDJSON export ignores it and streams every
    /// event after the cursor.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// One result event with its position in the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultEntry {
    /// Pass as `after` to continue after this event.
    #[schema(value_type = String)]
    pub cursor: FeedCursor,
    /// The event, exactly as web-hooks carry it (`TRACE_RESULT` or `TRACE_ERROR`).
    pub event: boxtrace::ResultEvent,
}

impl From<FeedEntry> for ResultEntry {
    fn from(entry: FeedEntry) -> Self {
        Self {
            cursor: entry.cursor,
            event: entry.event,
        }
    }
}

/// A page of the results feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsPage {
    /// Events in feed order.
    pub items: Vec<ResultEntry>,
    /// Pass as `after` for the next page. Always present: at the end of the feed it is
    /// where new events will appear, so that a client can poll from it.
    #[schema(value_type = String)]
    pub next: FeedCursor,
    /// Whether more events are already there past this page.
    pub more: bool,
}

/// The caller's result events in order, after a cursor.
///
/// With `Accept: application/x-ndjson`, every event after the cursor is streamed, one
/// `{"cursor", "event"}` object per line; a stream that breaks off ends without its final
/// chunk, so a client can tell it is incomplete and resume from the last line's cursor.
#[utoipa::path(get, path = "/api/results", operation_id = "listResults", tag = "results", security(("bearer" = [])),
    params(ResultsParams),
    responses(
        (status = 200, description = "A page of events (JSON) or all events after the cursor (NDJSON, one ResultEntry per line)",
            content((ResultsPage = "application/json"), (ResultEntry = "application/x-ndjson"))),
        (status = 400, description = "A cursor this feed did not issue (field `after`), or a malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "An unexpected engine failure (logged)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<ResultsParams>,
) -> Result<Response, ApiError> {
    let after = match params.after.as_deref() {
        Some(cursor) => FeedCursor::parse(cursor)?,
        None => FeedCursor::START,
    };
    if wants_ndjson(&headers) {
        return export(state.engine, caller.tenant, after).await;
    }
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_FEED_PAGE);
    let page = state.engine.results(&caller.tenant, after, limit).await?;
    let mut response = Json(ResultsPage {
        items: page.entries.into_iter().map(ResultEntry::from).collect(),
        next: page.next,
        more: page.more,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}

/// Whether the client asked for NDJSON (and did not refuse it with `q=0`).
fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case(NDJSON) && !refused
        })
}

/// Streams every event after `after`. The first page is read before the answer starts,
/// so that a store that cannot answer gets a problem response, not a broken stream.
async fn export(engine: Engine, tenant: Tenant, after: FeedCursor) -> Result<Response, ApiError> {
    let first = engine.results(&tenant, after, MAX_FEED_PAGE).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut page = first;
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        loop {
            for entry in page.entries {
                if let Err(e) = serde_json::to_writer(&mut chunk, &ResultEntry::from(entry)) {
                    tracing::error!(error = %e, "a result event could not be serialized; the export ends incomplete");
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
                chunk.push(b'\n');
                if chunk.len() >= CHUNK_BYTES
                    && tx
                        .send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                        .await
                        .is_err()
                {
                    return; // The client went away.
                }
            }
            if !page.more {
                break;
            }
            page = match engine.results(&tenant, page.next, MAX_FEED_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the results feed failed; the export ends incomplete");
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            };
        }
        if !chunk.is_empty() {
            let _ = tx.send(Ok(Bytes::from(chunk))).await;
        }
    });
    let mut response = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ndjson_is_chosen_only_when_asked_for() {
        assert!(wants_ndjson(&accept("application/x-ndjson")));
        assert!(wants_ndjson(&accept(
            "application/json;q=0.5, Application/X-NDJSON"
        )));
        assert!(!wants_ndjson(&accept("application/x-ndjson;q=0")));
        assert!(!wants_ndjson(&accept("application/json")));
        assert!(!wants_ndjson(&accept("*/*")));
        assert!(!wants_ndjson(&HeaderMap::new()));
    }
}
