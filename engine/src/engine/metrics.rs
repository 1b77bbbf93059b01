//! The engine's own counters: traces by provider and outcome, their latency, how late
//! traces start, and result events. Adapters render them (Prometheus text) beside their own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::health::CircuitState;

/// Upper bounds (seconds) of the histograms' buckets.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// A latency histogram in Prometheus terms (cumulative buckets, sum, count), with fixed
/// buckets from 1 ms to 30 s. Adapters use it for their own latencies.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, value: Duration) {
        let secs = value.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// Appends the histogram as `name` with `labels` (e.g. `provider="sim"`, or empty).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    traces: BTreeMap<(String, &'static str), u64>,
    requests: BTreeMap<String, u64>,
    boxes: BTreeMap<String, u64>,
    expedited: BTreeMap<String, u64>,
    latency: BTreeMap<String, Histogram>,
    due_lag: Histogram,
    events: BTreeMap<&'static str, u64>,
    circuit: BTreeMap<String, CircuitState>,
    transitions: BTreeMap<(String, &'static str), u64>,
    deferred: BTreeMap<String, u64>,
}

/// Counters the dispatcher keeps. Read them with [`EngineMetrics::render_prometheus`].
#[derive(Debug, Default)]
pub struct EngineMetrics {
    inner: Mutex<Inner>,
}

impl EngineMetrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one trace of `provider` ending in `outcome` (`ok`, `not_found`,
    /// `transient`, `timeout`, `rate_limited`, `permanent`) after `latency`.
    pub(crate) fn trace(&self, provider: &str, outcome: &'static str, latency: Duration) {
        let mut inner = self.inner();
        *inner
            .traces
            .entry((provider.to_owned(), outcome))
            .or_default() += 1;
        inner
            .latency
            .entry(provider.to_owned())
            .or_default()
            .observe(latency);
    }

    /// Counts one provider request of `provider` asking about `boxes` containers.
    pub(crate) fn request(&self, provider: &str, boxes: usize) {
        let mut inner = self.inner();
        *inner.requests.entry(provider.to_owned()).or_default() += 1;
        *inner.boxes.entry(provider.to_owned()).or_default() += boxes as u64;
    }

    /// Counts jobs of `provider` brought forward by news about their vessel visit.
    pub(crate) fn cohort_expedited(&self, provider: &str, jobs: usize) {
        *self
            .inner()
            .expedited
            .entry(provider.to_owned())
            .or_default() += jobs as u64;
    }

    /// Records how late (engine clock) a trace started after its due time.
    pub(crate) fn due_lag(&self, lag: Duration) {
        self.inner().due_lag.observe(lag);
    }

    /// Counts one committed result event by action.
    pub(crate) fn event(&self, action: &'static str) {
        *self.inner().events.entry(action).or_default() += 1;
    }

    /// Sets `provider`'s circuit gauge to `state` (at start: closed).
    pub(crate) fn circuit_state(&self, provider: &str, state: CircuitState) {
        self.inner().circuit.insert(provider.to_owned(), state);
    }

    /// Counts one transition of a circuit of `provider` to `to`; `worst` is the worst
    /// state of its circuits now, for the gauge.
    pub(crate) fn circuit(&self, provider: &str, to: CircuitState, worst: CircuitState) {
        let mut inner = self.inner();
        *inner
            .transitions
            .entry((provider.to_owned(), to.as_str()))
            .or_default() += 1;
        inner.circuit.insert(provider.to_owned(), worst);
    }

    /// Counts jobs of `provider` that waited instead of being traced: its circuit was
    /// open.
    pub(crate) fn deferred(&self, provider: &str, jobs: usize) {
        *self
            .inner()
            .deferred
            .entry(provider.to_owned())
            .or_default() += jobs as u64;
    }

    /// Jobs held back so far because their provider's circuit was open.
    pub fn deferred_total(&self) -> u64 {
        self.inner().deferred.values().sum()
    }

    /// Traces so far (one per job traced), all providers and outcomes.
    pub fn traces_total(&self) -> u64 {
        self.inner().traces.values().sum()
    }

    /// Provider requests so far, all providers: a batch of containers is one request.
    pub fn requests_total(&self) -> u64 {
        self.inner().requests.values().sum()
    }

    /// Traces so far by provider and outcome (`ok`, `not_found`, `transient`, `timeout`,
    /// `rate_limited`, `permanent`).
    pub fn traces_by_outcome(&self) -> Vec<(String, &'static str, u64)> {
        self.inner()
            .traces
            .iter()
            .map(|((provider, outcome), n)| (provider.clone(), *outcome, *n))
            .collect()
    }

    /// Provider requests and the container lookups they carried so far, by provider.
    pub fn requests_by_provider(&self) -> Vec<(String, u64, u64)> {
        let inner = self.inner();
        inner
            .requests
            .iter()
            .map(|(provider, n)| {
                let boxes = inner.boxes.get(provider).copied().unwrap_or(0);
                (provider.clone(), *n, boxes)
            })
            .collect()
    }

    /// Appends the counters in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        let inner = self.inner();
        let _ = writeln!(
            out,
            "# HELP boxtrace_traces_total Traces by provider and outcome (ok, not_found, transient, timeout, rate_limited, permanent)."
        );
        let _ = writeln!(out, "# TYPE boxtrace_traces_total counter");
        for ((provider, outcome), n) in &inner.traces {
            let _ = writeln!(
                out,
                "boxtrace_traces_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_provider_requests_total Requests made to each provider (a batch of containers is one)."
        );
        let _ = writeln!(out, "# TYPE boxtrace_provider_requests_total counter");
        for (provider, n) in &inner.requests {
            let _ = writeln!(
                out,
                "boxtrace_provider_requests_total{{provider=\"{provider}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_provider_request_containers_total Distinct container lookups in provider requests."
        );
        let _ = writeln!(
            out,
            "# TYPE boxtrace_provider_request_containers_total counter"
        );
        for (provider, n) in &inner.boxes {
            let _ = writeln!(
                out,
                "boxtrace_provider_request_containers_total{{provider=\"{provider}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_cohort_expedited_total Jobs brought forward because another box revealed news about their vessel visit."
        );
        let _ = writeln!(out, "# TYPE boxtrace_cohort_expedited_total counter");
        for (provider, n) in &inner.expedited {
            let _ = writeln!(
                out,
                "boxtrace_cohort_expedited_total{{provider=\"{provider}\"}} {n}"
            );
        }
        render_circuits(&inner, out);
        let _ = writeln!(
            out,
            "# HELP boxtrace_trace_seconds Time a provider took to answer a trace."
        );
        let _ = writeln!(out, "# TYPE boxtrace_trace_seconds histogram");
        for (provider, h) in &inner.latency {
            h.render(
                out,
                "boxtrace_trace_seconds",
                &format!("provider=\"{provider}\""),
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_due_lag_seconds How late traces started after their due time (engine clock)."
        );
        let _ = writeln!(out, "# TYPE boxtrace_due_lag_seconds histogram");
        inner.due_lag.render(out, "boxtrace_due_lag_seconds", "");
        let _ = writeln!(
            out,
            "# HELP boxtrace_result_events_total Result events committed, by action."
        );
        let _ = writeln!(out, "# TYPE boxtrace_result_events_total counter");
        for (action, n) in &inner.events {
            let _ = writeln!(
                out,
                "boxtrace_result_events_total{{action=\"{action}\"}} {n}"
            );
        }
    }
}

/// The circuit breakers' gauge and counters.
fn render_circuits(inner: &Inner, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP boxtrace_provider_circuit_state Provider circuit breaker, as of its last change: 0 closed, 1 half-open (one probe request), 2 open (suspended)."
    );
    let _ = writeln!(out, "# TYPE boxtrace_provider_circuit_state gauge");
    for (provider, state) in &inner.circuit {
        let _ = writeln!(
            out,
            "boxtrace_provider_circuit_state{{provider=\"{provider}\"}} {}",
            state.gauge()
        );
    }
    let _ = writeln!(
        out,
        "# HELP boxtrace_provider_circuit_transitions_total Provider circuit breaker changes, by the state entered."
    );
    let _ = writeln!(
        out,
        "# TYPE boxtrace_provider_circuit_transitions_total counter"
    );
    for ((provider, to), n) in &inner.transitions {
        let _ = writeln!(
            out,
            "boxtrace_provider_circuit_transitions_total{{provider=\"{provider}\",to=\"{to}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP boxtrace_provider_deferred_jobs_total Due jobs that waited instead of being traced, because their provider's circuit was open."
    );
    let _ = writeln!(out, "# TYPE boxtrace_provider_deferred_jobs_total counter");
    for (provider, n) in &inner.deferred {
        let _ = writeln!(
            out,
            "boxtrace_provider_deferred_jobs_total{{provider=\"{provider}\"}} {n}"
        );
    }
}
