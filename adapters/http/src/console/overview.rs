//! The overview: jobs by state and provider, trace and request rates, errors by class,
//! circuits, the due backlog and the delivery queues. The page polls its live part.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use boxtrace::{CircuitState, Engine, Job, ListQuery, TrackingState};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Serialize;

use super::page::{self, relative, span, when, when_opt};
use super::reuse::Reused;
use super::session::ConsoleSession;
use super::Console;
use crate::state::AppState;

/// Most jobs one count reads: past this the page says it counted a part.
const COUNT_BUDGET: usize = 100_000;
/// How long a count is reused at least: the page polls every few seconds, and a count
/// reads jobs (longer when counting takes long, see `reuse::reuse_for`).
const COUNT_TTL: Duration = Duration::from_secs(4);
/// How long the queue sizes are reused at least: one read per endpoint.
const QUEUES_TTL: Duration = Duration::from_secs(4);

/// Rate samples kept.
const RATE_WINDOW: Duration = Duration::from_secs(300);
/// Outcomes that are failures, as the engine counts them.
const ERROR_CLASSES: [&str; 4] = ["transient", "timeout", "rate_limited", "permanent"];
/// States in the order the page shows them.
const STATES: [TrackingState; 5] = [
    TrackingState::Active,
    TrackingState::Completed,
    TrackingState::Expired,
    TrackingState::Cancelled,
    TrackingState::Failed,
];

/// Jobs counted by state and provider, with the due backlog.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCounts {
    /// Jobs read.
    pub total: usize,
    /// Whether every job was read (false: the budget ran out first).
    pub complete: bool,
    /// By state, in [`STATES`] order.
    pub by_state: Vec<(String, usize)>,
    /// Per provider: jobs by state, in [`STATES`] order, and in all.
    pub by_provider: Vec<ProviderJobs>,
    /// Active jobs due now or earlier.
    pub due_now: usize,
    /// The earliest due time of an active job.
    #[serde(skip)]
    pub earliest_due: Option<DateTime<Utc>>,
    /// The traces that changed last, newest first.
    pub latest: Vec<Latest>,
    /// When these were counted (engine clock): a slow count is reused for a while.
    pub counted_at: String,
}

/// A trace that changed lately.
#[derive(Debug, Clone, Serialize)]
pub struct Latest {
    /// Its console page.
    pub link: String,
    /// Container id.
    pub container: String,
    /// `org/svc`.
    pub tenant: String,
    /// Provider id.
    pub provider: String,
    /// `EXPORT` or `EMPTY`.
    pub kind: &'static str,
    /// Normalized status.
    pub status: String,
    /// When it last changed (engine clock).
    pub changed: String,
    #[serde(skip)]
    at: DateTime<Utc>,
}

/// Traces listed as the latest changes.
const LATEST: usize = 8;

/// One provider's jobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderJobs {
    /// Provider id.
    pub provider: String,
    /// By state, in [`STATES`] order.
    pub states: Vec<usize>,
    /// All of its jobs.
    pub total: usize,
}

/// Reads every tenant's jobs (up to `budget`) and hands each to `each`; whether all were
/// read.
pub(super) async fn scan_jobs(
    engine: &Engine,
    budget: usize,
    mut each: impl FnMut(&Job),
) -> Result<(usize, bool), boxtrace::Error> {
    let mut query = ListQuery {
        limit: 1000,
        ..ListQuery::default()
    };
    let mut read = 0;
    loop {
        let page = engine.list_all(&query).await?;
        for job in &page.jobs {
            each(job);
        }
        read += page.jobs.len();
        match page.next {
            Some(next) if read < budget => query.after = Some(next),
            Some(_) => return Ok((read, false)),
            None => return Ok((read, true)),
        }
    }
}

async fn count_jobs(engine: &Engine) -> Result<JobCounts, boxtrace::Error> {
    let now = engine.clock().now();
    let mut by_state = [0usize; STATES.len()];
    let mut by_provider: BTreeMap<String, [usize; STATES.len()]> = BTreeMap::new();
    let mut due_now = 0;
    let mut earliest_due: Option<DateTime<Utc>> = None;
    let mut latest: Vec<Latest> = Vec::with_capacity(LATEST + 1);
    let (total, complete) = scan_jobs(engine, COUNT_BUDGET, |job| {
        let at = job.last_changed_at.unwrap_or(job.updated_at);
        if latest.len() < LATEST || latest.last().is_some_and(|l| l.at < at) {
            let key = &job.request.key;
            latest.push(Latest {
                link: super::containers::link(key),
                container: key.container.clone(),
                tenant: format!("{}/{}", key.tenant.org_id, key.tenant.svc_id),
                provider: key.provider_id.clone(),
                kind: key.kind.as_str(),
                status: job
                    .last_result
                    .as_ref()
                    .map_or_else(|| "—".into(), |r| r.status.to_string()),
                changed: when(at),
                at,
            });
            latest.sort_by_key(|l| std::cmp::Reverse(l.at));
            latest.truncate(LATEST);
        }
        let i = STATES.iter().position(|s| *s == job.state).unwrap_or(0);
        by_state[i] += 1;
        by_provider
            .entry(job.request.key.provider_id.clone())
            .or_default()[i] += 1;
        if job.state.is_active() {
            if let Some(due) = job.due_at {
                if due <= now {
                    due_now += 1;
                }
                earliest_due = Some(earliest_due.map_or(due, |e| e.min(due)));
            }
        }
    })
    .await?;
    Ok(JobCounts {
        total,
        complete,
        by_state: STATES
            .iter()
            .zip(by_state)
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
        by_provider: by_provider
            .into_iter()
            .map(|(provider, states)| ProviderJobs {
                provider,
                total: states.iter().sum(),
                states: states.to_vec(),
            })
            .collect(),
        due_now,
        earliest_due,
        latest,
        counted_at: when(now),
    })
}

/// A reading of the engine's counters.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    traces: u64,
    requests: u64,
    outcomes: BTreeMap<&'static str, u64>,
}

/// Rate samples, the last count and the last queue sizes, shared by every console page.
#[derive(Debug, Default)]
pub(super) struct Live {
    samples: Mutex<VecDeque<Sample>>,
    counts: Reused<JobCounts>,
    queues: Reused<Queues>,
}

/// The delivery queues' sizes.
#[derive(Debug)]
struct Queues {
    results_pending: usize,
    endpoints: Vec<EndpointQueue>,
}

impl Live {
    fn sample(&self, engine: &Engine) -> (Sample, Option<Sample>) {
        let metrics = engine.metrics();
        let mut outcomes = BTreeMap::new();
        for (_, outcome, n) in metrics.traces_by_outcome() {
            *outcomes.entry(outcome).or_default() += n;
        }
        let now = Sample {
            at: Instant::now(),
            traces: metrics.traces_total(),
            requests: metrics.requests_total(),
            outcomes,
        };
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        while samples
            .front()
            .is_some_and(|s| now.at.duration_since(s.at) > RATE_WINDOW)
        {
            samples.pop_front();
        }
        // The oldest sample at least a few seconds back: the rate over that window.
        let base = samples
            .iter()
            .find(|s| now.at.duration_since(s.at) >= Duration::from_secs(3))
            .cloned();
        samples.push_back(now.clone());
        (now, base)
    }

    /// The latest job count, counted again when older than `reuse::reuse_for` says.
    pub(super) async fn counts(&self, engine: &Engine) -> Result<Arc<JobCounts>, boxtrace::Error> {
        self.counts.get(COUNT_TTL, count_jobs(engine)).await
    }
}

/// Everything the overview shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// When it was put together (engine clock).
    pub at: String,
    /// Job counts.
    pub jobs: JobCounts,
    /// State names, in the order of the counts.
    pub states: Vec<&'static str>,
    /// Traces per minute over the last few minutes (`None` until two readings).
    pub traces_per_minute: Option<f64>,
    /// Provider requests per minute, likewise.
    pub requests_per_minute: Option<f64>,
    /// Over what the rates were measured.
    pub rate_window: Option<String>,
    /// Traces since start.
    pub traces_total: u64,
    /// Errors by class.
    pub errors: Vec<ErrorClass>,
    /// Each provider's circuit.
    pub circuits: Vec<Circuit>,
    /// The earliest due time, and how late it is.
    pub earliest_due: String,
    /// How late the earliest due job is (`on time` if none is late).
    pub lateness: String,
    /// The results queue: events not yet fanned out to endpoints.
    pub results_pending: usize,
    /// Every endpoint's queue.
    pub endpoints: Vec<EndpointQueue>,
}

/// One class of failed traces.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorClass {
    /// `transient`, `timeout`, `rate_limited`, `permanent`.
    pub class: &'static str,
    /// Since the server started.
    pub total: u64,
    /// Share of all traces since start, in percent.
    pub percent: String,
    /// Per minute over the rate window.
    pub per_minute: Option<f64>,
}

/// One provider's circuit.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Circuit {
    /// Provider id.
    pub provider: String,
    /// `closed`, `half-open`, `open`.
    pub state: &'static str,
    /// Why it is not closed.
    pub cause: Option<String>,
    /// Since when.
    pub since: String,
    /// When the next probe may go.
    pub retry_at: String,
}

/// One endpoint's queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointQueue {
    /// `wh_…`.
    pub id: String,
    /// Its owner, `org/svc`.
    pub tenant: String,
    /// Its URL without credentials or query.
    pub url: String,
    /// Waiting or in flight.
    pub pending: usize,
    /// Given up on.
    pub dead: usize,
    /// Why it is disabled, if it is.
    pub disabled: Option<String>,
}

fn per_minute(delta: u64, over: Duration) -> f64 {
    let minutes = over.as_secs_f64() / 60.0;
    (delta as f64 / minutes * 10.0).round() / 10.0
}

/// The results queue's and every endpoint's queue sizes.
async fn queue_sizes(state: &AppState) -> Result<Queues, boxtrace::Error> {
    let results_pending = state.deliveries.results_stats().await?.pending;
    let mut endpoints = Vec::new();
    for (hook, stats) in
        crate::webhooks::with_queue_stats(&state.webhooks, &state.deliveries).await?
    {
        let stats = stats?;
        endpoints.push(EndpointQueue {
            tenant: format!("{}/{}", hook.org_id, hook.svc_id),
            url: crate::webhooks::redacted(&hook.url),
            pending: stats.pending,
            dead: stats.dead,
            disabled: hook.disabled.clone(),
            id: hook.id,
        });
    }
    Ok(Queues {
        results_pending,
        endpoints,
    })
}

/// Puts the overview together.
pub(super) async fn overview(
    state: &AppState,
    console: &Console,
) -> Result<Overview, boxtrace::Error> {
    let engine = &state.engine;
    let now = engine.clock().now();
    let jobs = console.live.counts(engine).await?;
    let (sample, base) = console.live.sample(engine);
    let window = base.as_ref().map(|b| sample.at.duration_since(b.at));
    let rate = |f: &dyn Fn(&Sample) -> u64| {
        base.as_ref()
            .zip(window)
            .map(|(b, w)| per_minute(f(&sample).saturating_sub(f(b)), w))
    };
    let errors = ERROR_CLASSES
        .iter()
        .map(|class| {
            let total = sample.outcomes.get(class).copied().unwrap_or(0);
            ErrorClass {
                class,
                total,
                percent: if sample.traces == 0 {
                    "—".into()
                } else {
                    format!("{:.1} %", total as f64 * 100.0 / sample.traces as f64)
                },
                per_minute: rate(&|s: &Sample| s.outcomes.get(class).copied().unwrap_or(0)),
            }
        })
        .collect();
    let circuits = engine
        .provider_health()
        .into_iter()
        .map(|h| Circuit {
            provider: h.provider,
            state: match h.circuit {
                CircuitState::Closed => "closed",
                CircuitState::HalfOpen => "half-open",
                CircuitState::Open => "open",
            },
            cause: h.cause,
            since: when_opt(h.since),
            retry_at: when_opt(h.retry_at),
        })
        .collect();
    let queues = console
        .live
        .queues
        .get(QUEUES_TTL, queue_sizes(state))
        .await?;
    let (earliest_due, lateness) = match jobs.earliest_due {
        Some(due) if due <= now => (
            format!("{} ({})", when(due), relative(due, now)),
            span((now - due).num_milliseconds() as f64 / 1000.0),
        ),
        Some(due) => (
            format!("{} ({})", when(due), relative(due, now)),
            "on time".into(),
        ),
        None => ("—".into(), "on time".into()),
    };
    Ok(Overview {
        at: when(now),
        states: STATES.iter().map(|s| s.as_str()).collect(),
        traces_per_minute: rate(&|s: &Sample| s.traces),
        requests_per_minute: rate(&|s: &Sample| s.requests),
        rate_window: window.map(|w| span(w.as_secs_f64())),
        traces_total: sample.traces,
        jobs: (*jobs).clone(),
        errors,
        circuits,
        earliest_due,
        lateness,
        results_pending: queues.results_pending,
        endpoints: queues.endpoints.clone(),
    })
}

/// `GET /console`: the overview page.
pub async fn page(
    session: ConsoleSession,
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
) -> Response {
    match overview(&state, &console).await {
        Ok(o) => page::render(
            "overview.html",
            context! { o, csrf => session.csrf, nav => "overview", title => "Overview" },
        ),
        Err(e) => super::unavailable(e),
    }
}

/// `GET /console/overview/live`: the overview's live part, which the page's script swaps
/// in every few seconds.
pub async fn live(
    _session: ConsoleSession,
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
) -> Response {
    match overview(&state, &console).await {
        Ok(o) => page::render("overview_live.html", context! { o }),
        Err(e) => super::unavailable(e),
    }
}

/// `GET /console/overview.json`: the same figures for scripts.
pub async fn json(
    _session: ConsoleSession,
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
) -> Response {
    match overview(&state, &console).await {
        Ok(o) => Json(o).into_response(),
        Err(e) => super::unavailable(e),
    }
}
