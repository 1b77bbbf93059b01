//! Web-hooks: every tenant's endpoints with their queues and latest outcomes, and the
//! operator's actions on them (replay dead events, disable, enable), each confirmed on a
//! page of its own before its form is sent.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Serialize;

use super::page::{self, when, when_opt};
use super::session::{check_post, ConsoleSession, CsrfForm};
use boxtrace::OutboxEntry;

use crate::state::AppState;
use crate::webhooks::{redacted, Webhook};

/// Dead entries shown per endpoint.
const DEAD_SHOWN: usize = 5;

/// Entries read, oldest first, to find an endpoint's first dead ones: the store offers no
/// read of dead entries alone, and a backed-up queue must not cost the page a full scan.
const ENTRIES_READ: usize = 1000;

/// One endpoint as the page shows it.
#[derive(Debug, Serialize)]
struct Endpoint {
    id: String,
    tenant: String,
    url: String,
    triggers: String,
    disabled: Option<String>,
    pending: usize,
    dead: usize,
    last_error: String,
    last_success: String,
    dead_events: Vec<DeadEvent>,
    /// Why the dead count has fewer (or no) events listed, when it does.
    dead_note: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeadEvent {
    event_id: String,
    container: String,
    error: String,
    attempts: u32,
}

/// What an operator can do to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replay,
    Disable,
    Enable,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "replay" => Some(Self::Replay),
            "disable" => Some(Self::Disable),
            "enable" => Some(Self::Enable),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Disable => "disable",
            Self::Enable => "enable",
        }
    }
}

async fn find(state: &AppState, id: &str) -> Result<Option<Webhook>, Response> {
    match state.webhooks.all().await {
        Ok(hooks) => Ok(hooks.into_iter().find(|h| h.id == id)),
        Err(e) => Err(super::unavailable(e.into())),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page::message("Not found", "No such web-hook endpoint."),
    )
        .into_response()
}

/// `GET /console/webhooks`.
pub async fn list(session: ConsoleSession, State(state): State<AppState>) -> Response {
    let hooks = match state.webhooks.all().await {
        Ok(hooks) => hooks,
        Err(e) => return super::unavailable(e.into()),
    };
    let mut endpoints = Vec::with_capacity(hooks.len());
    for hook in hooks {
        let stats = match state.deliveries.stats(&hook.destination()).await {
            Ok(stats) => stats,
            Err(e) => return super::unavailable(e),
        };
        let (dead_events, dead_note) = if stats.dead > 0 {
            let read = state
                .deliveries
                .entries(&hook.destination(), ENTRIES_READ)
                .await;
            if let Err(e) = &read {
                tracing::warn!(error = %e, webhook = %hook.id, "console: the dead events of a web-hook could not be read");
            }
            dead_shown(read.ok(), stats.dead)
        } else {
            (Vec::new(), None)
        };
        let activity = state.deliverer.activity().endpoint(&hook.id);
        // The in-memory outcome is the latest; a dead entry's error survives restarts.
        let last_error = match activity.last_error {
            Some((at, error)) => format!("{}: {error}", when(at)),
            None => dead_events
                .first()
                .map(|d| d.error.clone())
                .unwrap_or_else(|| "—".into()),
        };
        endpoints.push(Endpoint {
            tenant: format!("{}/{}", hook.org_id, hook.svc_id),
            url: redacted(&hook.url),
            triggers: hook
                .triggers
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            disabled: hook.disabled.clone(),
            pending: stats.pending,
            dead: stats.dead,
            last_error,
            last_success: when_opt(activity.last_success),
            dead_events,
            dead_note,
            id: hook.id,
        });
    }
    page::render(
        "webhooks.html",
        context! { endpoints, csrf => session.csrf, nav => "webhooks", title => "Web-hooks" },
    )
}

/// The first dead events among the entries `read` (`None`: the store did not give them),
/// and a note when the `dead` count has none listed: the page never shows an empty list
/// beside a count above zero without saying why.
fn dead_shown(read: Option<Vec<OutboxEntry>>, dead: usize) -> (Vec<DeadEvent>, Option<String>) {
    let Some(entries) = read else {
        return (
            Vec::new(),
            Some(format!(
                "{dead} dead; they could not be read: the store did not answer."
            )),
        );
    };
    let read = entries.len();
    let shown: Vec<DeadEvent> = entries
        .into_iter()
        .filter(|e| e.dead)
        .take(DEAD_SHOWN)
        .map(|e| DeadEvent {
            container: e.event.payload.container_number.clone(),
            event_id: e.event.id,
            error: e.last_error.unwrap_or_default(),
            attempts: e.attempts,
        })
        .collect();
    let truncated = read >= ENTRIES_READ;
    let note = if shown.is_empty() && truncated {
        Some(format!(
            "{dead} dead; the first dead entries are beyond the first {} entries read.",
            thousands(ENTRIES_READ)
        ))
    } else if shown.is_empty() {
        // Replayed, or delivered, between the count and the read.
        Some(format!(
            "{dead} dead when counted; none left when the entries were read just after."
        ))
    } else if truncated && shown.len() < dead.min(DEAD_SHOWN) {
        Some(format!(
            "{dead} dead; only {} among the first {} entries read, the others lie beyond.",
            shown.len(),
            thousands(ENTRIES_READ)
        ))
    } else {
        None
    };
    (shown, note)
}

/// `1000` as `1,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `GET /console/webhooks/{id}/{action}`: asks to confirm an action.
pub async fn confirm(
    session: ConsoleSession,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(action) = Action::parse(&action) else {
        return not_found();
    };
    let hook = match find(&state, &id).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return not_found(),
        Err(refused) => return refused,
    };
    let dead = state
        .deliveries
        .stats(&hook.destination())
        .await
        .map(|s| s.dead)
        .unwrap_or(0);
    let question = match action {
        Action::Replay => format!(
            "Queue the {dead} dead event(s) of this endpoint again? They are delivered in order per container.{}",
            if hook.disabled.is_some() { " The endpoint is disabled: a replay enables it again." } else { "" }
        ),
        Action::Disable => "Stop delivering to this endpoint? Its events keep arriving in its queue and wait until it is enabled again.".to_owned(),
        Action::Enable => format!(
            "Resume delivering to this endpoint? Its {dead} dead event(s) are queued again first, so that each container's events still arrive in order; then its waiting events go out."
        ),
    };
    page::render(
        "confirm.html",
        context! {
            id => hook.id, url => redacted(&hook.url),
            tenant => format!("{}/{}", hook.org_id, hook.svc_id),
            action => action.name(), question,
            csrf => session.csrf, nav => "webhooks", title => "Confirm",
        },
    )
}

/// `POST /console/webhooks/{id}/{action}`: does a confirmed action.
pub async fn act(
    session: ConsoleSession,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = check_post(&session, &headers, form.csrf()) {
        return refused.into_response();
    }
    let Some(action) = Action::parse(&action) else {
        return not_found();
    };
    let hook = match find(&state, &id).await {
        Ok(Some(hook)) => hook,
        Ok(None) => return not_found(),
        Err(refused) => return refused,
    };
    let done = match action {
        // Enable replays too: see `webhooks::resume`.
        Action::Replay | Action::Enable => {
            crate::webhooks::resume(&state.webhooks, &state.deliveries, &hook)
                .await
                .map(|n| tracing::info!(webhook = %hook.id, action = action.name(), replayed = n, "console: web-hook endpoint resumed, dead events replayed"))
        }
        Action::Disable => state
            .webhooks
            .disable(&hook, "disabled by the operator".into())
            .await
            .map(|()| tracing::info!(webhook = %hook.id, "console: web-hook endpoint disabled"))
            .map_err(boxtrace::Error::from),
    };
    if let Err(e) = done {
        return super::unavailable(e);
    }
    state.deliveries.wake();
    Redirect::to("/console/webhooks").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_without_listed_events_says_why() {
        let (shown, note) = dead_shown(None, 3);
        assert!(shown.is_empty());
        assert_eq!(
            note.as_deref(),
            Some("3 dead; they could not be read: the store did not answer.")
        );
        let (_, note) = dead_shown(Some(Vec::new()), 2);
        assert!(note.unwrap().starts_with("2 dead when counted"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
