//! Efficiency, live: provider requests per container, and how long after a change at the
//! terminal its client heard of it, by kind of change, provider and terminal. The kinds
//! are the efficiency benchmark's ([`ChangeKind`], via [`ChangeKind::between`]).
//!
//! The benchmark knows when each change happened (the simulated lifecycle); a live server
//! only knows what the terminal says: the time of the equipment event (`GTIN`, `LOAD`) or
//! of the vessel's departure (`atd`). Changes the terminal gives no time for (a hold, a
//! pre-advice, a roll) are counted, not timed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use boxtrace::{ChangeKind, Engine, EquipmentEventCode, Job, ResultEvent, TraceKind, TraceResult};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Serialize;

use super::overview::scan_jobs;
use super::page::{self, span};
use super::reuse::Reused;
use super::session::ConsoleSession;
use super::Console;
use crate::state::AppState;

/// Most jobs whose history one computation reads (those that changed, in key order).
const HISTORY_BUDGET: usize = 2000;
/// Most jobs read to find them.
const SCAN_BUDGET: usize = 100_000;
/// History entries read per job.
const HISTORY: usize = 200;
/// How long a computation is reused at least (longer when it takes long, see
/// `reuse::reuse_for`).
const TTL: Duration = Duration::from_secs(30);

/// Delays of one kind of change at one provider and terminal.
#[derive(Debug, Clone, Serialize)]
pub struct DelayRow {
    provider: String,
    terminal: String,
    kind: &'static str,
    actionable: bool,
    seen: usize,
    timed: usize,
    p50: String,
    p95: String,
}

/// What the page shows about delays.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delays {
    rows: Vec<DelayRow>,
    jobs_read: usize,
    histories_read: usize,
    complete: bool,
}

/// The terminal as the result names it: facility code, else UN/LOCODE.
fn terminal(result: &TraceResult) -> String {
    result
        .location
        .as_ref()
        .and_then(|l| l.facility_code.clone().or_else(|| l.un_locode.clone()))
        .unwrap_or_else(|| "—".into())
}

/// When the terminal says `kind` happened, as far as `result` tells.
fn happened_at(
    kind: ChangeKind,
    result: &TraceResult,
    seen: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let event = |code: EquipmentEventCode| {
        result
            .events
            .iter()
            .filter(|e| e.code == code && e.event_at <= seen)
            .map(|e| e.event_at)
            .max()
    };
    match kind {
        ChangeKind::GatedIn | ChangeKind::Returned => event(EquipmentEventCode::Gtin),
        ChangeKind::Loaded => event(EquipmentEventCode::Load),
        ChangeKind::Departed => result
            .visit
            .as_ref()
            .and_then(|v| v.atd)
            .filter(|at| *at <= seen),
        _ => None,
    }
}

/// Adds the delays one job's history shows to `into`.
fn job_delays(
    kind: TraceKind,
    provider: &str,
    history: &[ResultEvent],
    into: &mut BTreeMap<(String, String, ChangeKind), Vec<Option<f64>>>,
) {
    let mut previous: Option<&TraceResult> = None;
    for event in history {
        let Some(result) = event.payload.result.as_ref() else {
            continue;
        };
        let seen = event.payload.traced_at;
        for change in ChangeKind::between(kind, previous, result) {
            let delay = happened_at(change, result, seen)
                .map(|at| (seen - at).num_milliseconds() as f64 / 1000.0);
            into.entry((provider.to_owned(), terminal(result), change))
                .or_default()
                .push(delay);
        }
        previous = Some(result);
    }
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

async fn compute(engine: &Engine) -> Result<Delays, boxtrace::Error> {
    let mut changed: Vec<Job> = Vec::new();
    let (jobs_read, mut complete) = scan_jobs(engine, SCAN_BUDGET, |job| {
        if changed.len() < HISTORY_BUDGET && job.last_changed_at.is_some() {
            changed.push(job.clone());
        }
    })
    .await?;
    if changed.len() == HISTORY_BUDGET {
        complete = false;
    }
    let mut by: BTreeMap<(String, String, ChangeKind), Vec<Option<f64>>> = BTreeMap::new();
    for job in &changed {
        let key = &job.request.key;
        let history = engine.history(key, HISTORY).await?;
        job_delays(key.kind, &key.provider_id, &history, &mut by);
    }
    let rows = by
        .into_iter()
        .map(|((provider, terminal, kind), delays)| {
            let mut timed: Vec<f64> = delays.iter().flatten().copied().collect();
            timed.sort_by(f64::total_cmp);
            let show = |p| percentile(&timed, p).map_or_else(|| "—".into(), span);
            DelayRow {
                provider,
                terminal,
                kind: kind.as_str(),
                actionable: kind.is_actionable(),
                seen: delays.len(),
                timed: timed.len(),
                p50: show(0.5),
                p95: show(0.95),
            }
        })
        .collect();
    Ok(Delays {
        rows,
        jobs_read,
        histories_read: changed.len(),
        complete,
    })
}

/// The last computation, reused for [`TTL`] or longer.
#[derive(Debug, Default)]
pub(super) struct Cached {
    delays: Reused<Delays>,
}

impl Cached {
    async fn get(&self, engine: &Engine) -> Result<Arc<Delays>, boxtrace::Error> {
        self.delays.get(TTL, compute(engine)).await
    }
}

/// Requests at one provider.
#[derive(Debug, Serialize)]
struct RequestRow {
    provider: String,
    requests: u64,
    lookups: u64,
    containers: usize,
    per_container: String,
    lookups_per_request: String,
}

/// `GET /console/efficiency`.
pub async fn page(
    session: ConsoleSession,
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
) -> Response {
    let engine = &state.engine;
    let counts = match console.live.counts(engine).await {
        Ok(c) => c,
        Err(e) => return super::unavailable(e),
    };
    let delays = match console.efficiency.get(engine).await {
        Ok(d) => d,
        Err(e) => return super::unavailable(e),
    };
    let requests: Vec<RequestRow> = engine
        .metrics()
        .requests_by_provider()
        .into_iter()
        .map(|(provider, requests, lookups)| {
            let containers = counts
                .by_provider
                .iter()
                .find(|p| p.provider == provider)
                .map_or(0, |p| p.total);
            let ratio = |a: u64, b: f64| {
                if b > 0.0 {
                    format!("{:.2}", a as f64 / b)
                } else {
                    "—".into()
                }
            };
            RequestRow {
                per_container: ratio(requests, containers as f64),
                lookups_per_request: ratio(lookups, requests as f64),
                provider,
                requests,
                lookups,
                containers,
            }
        })
        .collect();
    page::render(
        "efficiency.html",
        context! {
            requests, delays => &*delays, counted_all => counts.complete,
            csrf => session.csrf, nav => "efficiency", title => "Efficiency",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::{EquipmentEvent, EventClassifier, Status};

    #[test]
    fn delays_are_timed_from_the_terminals_own_times() {
        let t = Utc::now();
        let mut gated = TraceResult::new(Status::GatedIn, t);
        gated.events.push(EquipmentEvent {
            code: EquipmentEventCode::Gtin,
            classifier: EventClassifier::Act,
            event_at: t - chrono::Duration::minutes(30),
            empty_indicator: None,
            location: None,
            description: None,
        });
        assert_eq!(
            happened_at(ChangeKind::GatedIn, &gated, t),
            Some(t - chrono::Duration::minutes(30))
        );
        assert_eq!(
            happened_at(ChangeKind::GatedIn, &gated, t - chrono::Duration::hours(1)),
            None,
            "an event after the trace is not its time"
        );
        assert_eq!(
            happened_at(ChangeKind::HoldPlaced, &gated, t),
            None,
            "holds carry no time"
        );
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.95), Some(4.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
