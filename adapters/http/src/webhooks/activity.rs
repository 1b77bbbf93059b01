//! What the deliverer did lately, for the console: each endpoint's last success and last
//! failure, and the latest delivery attempts. Kept in memory: a restart forgets it (the
//! store keeps what matters for delivery itself: pending and dead entries, last errors).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use boxtrace::JobId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::DeliveryOutcome;

/// Attempts remembered, all endpoints together.
const RECENT: usize = 2000;

/// One endpoint's latest outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointActivity {
    /// When an event last reached it.
    pub last_success: Option<DateTime<Utc>>,
    /// When an attempt last failed, and why.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// When it ended (engine clock).
    pub at: DateTime<Utc>,
    /// The endpoint.
    pub webhook: String,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The job the event is about.
    pub job_id: JobId,
    /// Whether the endpoint took it.
    pub delivered: bool,
    /// What happened, for people.
    pub outcome: String,
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: HashMap<String, EndpointActivity>,
    recent: VecDeque<Attempt>,
}

/// The deliverer's recent activity.
#[derive(Debug, Default)]
pub struct DeliveryActivity {
    inner: Mutex<Inner>,
}

impl DeliveryActivity {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one attempt.
    pub fn record(
        &self,
        webhook: &str,
        event_id: &str,
        job_id: JobId,
        outcome: &DeliveryOutcome,
        at: DateTime<Utc>,
    ) {
        let (delivered, text) = match outcome {
            DeliveryOutcome::Delivered(status) => (true, format!("delivered ({status})")),
            DeliveryOutcome::Gone => (false, "410 Gone: endpoint disabled".to_owned()),
            DeliveryOutcome::Failed(reason) | DeliveryOutcome::Throttled { reason, .. } => {
                (false, reason.clone())
            }
        };
        let mut inner = self.inner();
        let endpoint = inner.endpoints.entry(webhook.to_owned()).or_default();
        if delivered {
            endpoint.last_success = Some(at);
        } else {
            endpoint.last_error = Some((at, text.clone()));
        }
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(Attempt {
            at,
            webhook: webhook.to_owned(),
            event_id: event_id.to_owned(),
            job_id,
            delivered,
            outcome: text,
        });
    }

    /// An endpoint's latest outcomes.
    pub fn endpoint(&self, webhook: &str) -> EndpointActivity {
        self.inner()
            .endpoints
            .get(webhook)
            .cloned()
            .unwrap_or_default()
    }

    /// The remembered attempts for `job`, newest first.
    pub fn for_job(&self, job: JobId) -> Vec<Attempt> {
        self.inner()
            .recent
            .iter()
            .rev()
            .filter(|a| a.job_id == job)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_last_outcomes_and_a_bounded_log() {
        let activity = DeliveryActivity::default();
        let t = Utc::now();
        activity.record(
            "wh_a",
            "e1",
            JobId(1),
            &DeliveryOutcome::Failed("503".into()),
            t,
        );
        activity.record("wh_a", "e1", JobId(1), &DeliveryOutcome::Delivered(200), t);
        let a = activity.endpoint("wh_a");
        assert_eq!(a.last_success, Some(t));
        assert_eq!(a.last_error.map(|e| e.1), Some("503".to_owned()));
        assert_eq!(activity.for_job(JobId(1)).len(), 2);
        assert!(activity.for_job(JobId(1))[0].delivered, "newest first");
        for i in 0..RECENT + 5 {
            activity.record("wh_b", "e", JobId(2), &DeliveryOutcome::Delivered(200), t);
            let _ = i;
        }
        assert_eq!(activity.inner().recent.len(), RECENT);
        assert!(
            activity.for_job(JobId(1)).is_empty(),
            "the oldest are forgotten"
        );
    }
}
