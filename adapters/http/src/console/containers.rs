//! Containers: a search across tenants, and one trace's page (timeline, next trace and
//! why, errors, web-hook deliveries).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boxtrace::{ChangeKind, Job, JobKey, ListQuery, Tenant, TraceKind, TrackingState};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::page::{self, relative, when, when_opt};
use super::session::ConsoleSession;
use crate::auth::client_tenant;
use crate::state::AppState;

/// Most matches one search page shows.
const PAGE: usize = 50;
/// Most jobs one search request reads; past this it offers to continue.
const SEARCH_BUDGET: usize = 20_000;
/// Most history entries one container page shows.
const HISTORY: usize = 200;
/// Most entries of each endpoint queue read for one container page.
const QUEUE_PEEK: usize = 1000;

/// The search form.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Search {
    /// Container number, or a part of it.
    pub q: String,
    /// `ACTIVE`, ... (empty: any).
    pub state: String,
    /// Provider id (empty: any).
    pub provider: String,
    /// `EXPORT` or `EMPTY` (empty: any).
    pub kind: String,
    /// `org/svc` (empty: any).
    pub tenant: String,
    /// Continue after this cursor.
    pub after: String,
}

/// One row of the search results.
#[derive(Debug, Serialize)]
pub struct Row {
    link: String,
    container: String,
    tenant: String,
    kind: &'static str,
    provider: String,
    state: &'static str,
    status: String,
    next: String,
    last_traced: String,
    error: Option<String>,
}

/// `s` as one path segment: everything but letters, digits and `*-._` percent-encoded.
/// Form encoding writes a space as `+`, which a path keeps as a plus, so spaces are put
/// back as `%20` (a `+` of the id itself is already `%2B`).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The console link of a job's page.
pub(super) fn link(key: &JobKey) -> String {
    format!(
        "/console/containers/{}/{}/{}/{}/{}",
        segment(&key.tenant.org_id),
        segment(&key.tenant.svc_id),
        key.kind.as_str().to_ascii_lowercase(),
        segment(&key.provider_id),
        segment(&key.container)
    )
}

fn row(job: &Job, now: chrono::DateTime<chrono::Utc>) -> Row {
    let key = &job.request.key;
    Row {
        link: link(key),
        container: key.container.clone(),
        tenant: format!("{}/{}", key.tenant.org_id, key.tenant.svc_id),
        kind: key.kind.as_str(),
        provider: key.provider_id.clone(),
        state: job.state.as_str(),
        status: job
            .last_result
            .as_ref()
            .map_or_else(|| "—".into(), |r| r.status.to_string()),
        next: match (job.state.is_active(), job.due_at) {
            (true, Some(due)) => relative(due, now),
            _ => "—".into(),
        },
        last_traced: when_opt(job.last_traced_at),
        error: job.last_error.as_ref().map(|e| e.class.clone()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.trim().to_ascii_uppercase())).ok()
}

/// `GET /console/containers`: every tenant's traces, searched and filtered.
pub async fn search(
    session: ConsoleSession,
    State(state): State<AppState>,
    Query(search): Query<Search>,
) -> Response {
    let engine = &state.engine;
    let now = engine.clock().now();
    let wanted = boxtrace::canonical_id(search.q.trim());
    let kind: Option<TraceKind> = parse(&search.kind);
    let job_state: Option<TrackingState> = parse(&search.state);
    // `org/svc`, checked as tenants are when clients are made: a control character (a
    // NUL, which PostgreSQL cannot take) never reaches the store, and a filter without
    // its `/` is said to be wrong rather than read as "any tenant".
    let tenant = match search.tenant.trim() {
        "" => None,
        filter => match filter
            .split_once('/')
            .and_then(|(org, svc)| client_tenant(org, svc).ok())
        {
            Some(tenant) => Some(tenant),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    page::message(
                        "Bad tenant filter",
                        "The tenant filter is the organization and service ids as org/svc, e.g. acme/tms.",
                    ),
                )
                    .into_response()
            }
        },
    };
    // Pages of 100: a search stops at a page's end once it has [`PAGE`] matches, so that
    // the store's own cursor continues it.
    let mut query = ListQuery {
        state: job_state,
        kind,
        after: (!search.after.is_empty()).then(|| search.after.clone()),
        limit: 100,
    };
    let provider = search.provider.trim();
    let mut rows = Vec::new();
    let mut read = 0;
    let next = loop {
        let page = match &tenant {
            Some(tenant) => engine.list(tenant, &query).await,
            None => engine.list_all(&query).await,
        };
        let page = match page {
            Ok(page) => page,
            Err(boxtrace::Error::Store(boxtrace::StoreError::InvalidCursor(_))) => {
                return (
                    StatusCode::BAD_REQUEST,
                    page::message("Bad link", "This search link is not valid; search again."),
                )
                    .into_response()
            }
            Err(e) => return super::unavailable(e),
        };
        read += page.jobs.len();
        rows.extend(
            page.jobs
                .iter()
                .filter(|job| {
                    let key = &job.request.key;
                    (wanted.is_empty() || key.container.contains(&wanted))
                        && (provider.is_empty() || key.provider_id.eq_ignore_ascii_case(provider))
                })
                .map(|job| row(job, now)),
        );
        match page.next {
            Some(cursor) if rows.len() < PAGE && read < SEARCH_BUDGET => query.after = Some(cursor),
            next => break next,
        }
    };
    let next = next.map(|cursor| {
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        params
            .append_pair("q", &search.q)
            .append_pair("state", &search.state)
            .append_pair("provider", &search.provider)
            .append_pair("kind", &search.kind)
            .append_pair("tenant", &search.tenant)
            .append_pair("after", &cursor);
        format!("/console/containers?{}", params.finish())
    });
    page::render(
        "containers.html",
        context! {
            rows, next, search, read,
            providers => engine.providers(),
            states => ["ACTIVE", "COMPLETED", "EXPIRED", "CANCELLED", "FAILED"],
            csrf => session.csrf, nav => "containers", title => "Containers",
        },
    )
}

/// A trace's path: `/console/containers/{org}/{svc}/{kind}/{provider}/{container}`.
#[derive(Debug, Deserialize)]
pub struct TracePath {
    org: String,
    svc: String,
    kind: String,
    provider: String,
    container: String,
}

/// One result in the timeline.
#[derive(Debug, Serialize)]
struct Entry {
    at: String,
    action: String,
    reason: String,
    status: String,
    changes: Vec<&'static str>,
    state: &'static str,
    next: String,
    error: Option<String>,
    event_id: String,
}

/// One delivery of the container's events (waiting, dead, or a recent attempt).
#[derive(Debug, Serialize)]
struct Delivery {
    webhook: String,
    event_id: String,
    state: String,
    attempts: String,
    at: String,
    detail: String,
}

/// `GET /console/containers/{org}/{svc}/{kind}/{provider}/{container}`.
pub async fn trace(
    session: ConsoleSession,
    State(state): State<AppState>,
    Path(path): Path<TracePath>,
) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            page::message("Not found", "No such trace."),
        )
            .into_response()
    };
    let Some(kind) = parse::<TraceKind>(&path.kind) else {
        return not_found();
    };
    // No stored key holds a control character; a NUL would make PostgreSQL fail the read.
    if [&path.org, &path.svc, &path.provider, &path.container]
        .iter()
        .any(|part| part.chars().any(char::is_control))
    {
        return not_found();
    }
    let key = JobKey {
        tenant: Tenant::new(&path.org, &path.svc),
        kind,
        provider_id: path.provider.clone(),
        container: path.container.clone(),
    };
    let engine = &state.engine;
    let job = match engine.get(&key).await {
        Ok(Some(job)) => job,
        Ok(None) => return not_found(),
        Err(e) => return super::unavailable(e),
    };
    let history = match engine.history(&key, HISTORY).await {
        Ok(h) => h,
        Err(e) => return super::unavailable(e),
    };
    let now = engine.clock().now();
    let mut previous = None;
    let mut timeline = Vec::with_capacity(history.len());
    for event in &history {
        let p = &event.payload;
        let changes = p
            .result
            .as_ref()
            .map(|r| ChangeKind::between(kind, previous, r))
            .unwrap_or_default()
            .into_iter()
            .map(ChangeKind::as_str)
            .collect();
        timeline.push(Entry {
            at: when(p.traced_at),
            action: format!("{:?}", event.action),
            reason: serde_json::to_value(p.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            status: p.status.map_or_else(|| "—".into(), |s| s.to_string()),
            changes,
            state: p.tracking_state.as_str(),
            next: when_opt(p.next_trace_at),
            error: p.error.as_ref().map(|e| format!("{e:?}")),
            event_id: event.id.clone(),
        });
        if p.result.is_some() {
            previous = p.result.as_ref();
        }
    }
    timeline.reverse();

    let (deliveries, deliveries_unread) = match deliveries(&state, &job).await {
        Ok(deliveries) => (deliveries, false),
        Err(e) => {
            tracing::warn!(error = %e, container = %key.container, "console: the deliveries of a trace could not be read");
            (Vec::new(), true)
        }
    };
    let rule = engine.next_trace_rule(&job).map(|r| r.describe());
    let next = match (job.state.is_active(), job.due_at) {
        (true, Some(due)) => format!("{} ({})", when(due), relative(due, now)),
        (true, None) => "—".into(),
        (false, _) => format!("none: tracking {}", job.state.as_str().to_ascii_lowercase()),
    };
    let why = if job.lease.is_some() {
        "being traced now (leased)".to_owned()
    } else if job.force.pending() {
        "a forced trace is pending".to_owned()
    } else if job.last_error.as_ref().is_some_and(|e| e.is_suspension()) {
        "suspended: waits for its provider's circuit to let a probe through".to_owned()
    } else if job.last_traced_at.is_none() {
        "first trace: due when published".to_owned()
    } else {
        rule.unwrap_or("—").to_owned()
    };
    let result = job.last_result.as_ref().map(|r| {
        let mut r = r.clone();
        r.raw = None;
        serde_json::to_string_pretty(&r).unwrap_or_default()
    });
    page::render(
        "container.html",
        context! {
            key => context! {
                container => key.container, tenant => format!("{}/{}", key.tenant.org_id, key.tenant.svc_id),
                kind => kind.as_str(), provider => key.provider_id,
            },
            job => context! {
                state => job.state.as_str(),
                status => job.last_result.as_ref().map(|r| r.status.to_string()),
                created => when(job.created_at),
                last_traced => when_opt(job.last_traced_at),
                last_changed => when_opt(job.last_changed_at),
                traces => job.trace_count,
                consecutive_errors => job.consecutive_errors,
                last_error => job.last_error.as_ref().map(|e| context! {
                    class => e.class, reason => e.reason, message => e.message, at => when(e.at),
                }),
                booking => job.request.booking_number(),
            },
            next, why, result, timeline, deliveries, deliveries_unread,
            csrf => session.csrf, nav => "containers", title => key.container.clone(),
        },
    )
}

/// The container's deliveries: its entries waiting or dead in its tenant's endpoint
/// queues, then this server's attempts. `Err` when the store could not give the queues:
/// the page says so rather than show none.
async fn deliveries(state: &AppState, job: &Job) -> Result<Vec<Delivery>, boxtrace::Error> {
    let mut out = Vec::new();
    let hooks = state.webhooks.list(&job.request.key.tenant).await?;
    for hook in &hooks {
        let entries = state
            .deliveries
            .entries(&hook.destination(), QUEUE_PEEK)
            .await?;
        for entry in entries.into_iter().filter(|e| e.job_id == job.id) {
            out.push(Delivery {
                webhook: hook.id.clone(),
                event_id: entry.event.id.clone(),
                state: if entry.dead { "dead" } else { "waiting" }.into(),
                attempts: entry.attempts.to_string(),
                at: when(entry.available_at),
                detail: entry.last_error.unwrap_or_default(),
            });
        }
    }
    for attempt in state.deliverer.activity().for_job(job.id) {
        out.push(Delivery {
            webhook: attempt.webhook,
            event_id: attempt.event_id,
            state: if attempt.delivered {
                "delivered"
            } else {
                "failed attempt"
            }
            .into(),
            attempts: String::new(),
            at: when(attempt.at),
            detail: attempt.outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_keeps_spaces_and_pluses_apart_and_slashes_inside() {
        assert_eq!(segment("Acme Co+1/x"), "Acme%20Co%2B1%2Fx");
        assert_eq!(segment("MSCU1234566"), "MSCU1234566");
    }
}
