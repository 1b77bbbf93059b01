//! Prometheus metrics of the server: counters kept here, gauges read from the store at
//! scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::webhooks::DeliveryOutcome;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: Duration) {
        let secs = value.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    events: BTreeMap<(String, &'static str), u64>,
    deliveries: BTreeMap<&'static str, u64>,
    delivery_latency: Histogram,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an inbound event by action and outcome (`accepted`, `rejected`).
    pub fn event(&self, action: &str, outcome: &'static str) {
        *self
            .inner()
            .events
            .entry((action.to_owned(), outcome))
            .or_default() += 1;
    }

    /// Counts a delivery attempt by outcome and records its latency.
    pub fn delivery(&self, outcome: &DeliveryOutcome, latency: Duration) {
        let label = match outcome {
            DeliveryOutcome::Delivered(_) => "delivered",
            DeliveryOutcome::Gone => "gone",
            DeliveryOutcome::Failed(_) => "failed",
        };
        let mut inner = self.inner();
        *inner.deliveries.entry(label).or_default() += 1;
        inner.delivery_latency.observe(latency);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let inner = self.inner();
        let _ = writeln!(
            out,
            "# HELP boxtrace_events_total Inbound events by action and outcome."
        );
        let _ = writeln!(out, "# TYPE boxtrace_events_total counter");
        for ((action, outcome), n) in &inner.events {
            let _ = writeln!(
                out,
                "boxtrace_events_total{{action=\"{action}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_webhook_deliveries_total Web-hook delivery attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE boxtrace_webhook_deliveries_total counter");
        for (outcome, n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "boxtrace_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP boxtrace_webhook_delivery_seconds Time to deliver one web-hook."
        );
        let _ = writeln!(out, "# TYPE boxtrace_webhook_delivery_seconds histogram");
        inner
            .delivery_latency
            .render(out, "boxtrace_webhook_delivery_seconds");
    }
}
