//! Prometheus metrics of the server: counters kept here, gauges read from the store at
//! scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use boxtrace::Histogram;

use crate::webhooks::DeliveryOutcome;

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
            DeliveryOutcome::Throttled { .. } => "throttled",
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
            .render(out, "boxtrace_webhook_delivery_seconds", "");
    }
}
