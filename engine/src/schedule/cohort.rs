//! Cohort triggers: what one box reveals about its vessel visit brings the visit's other
//! boxes forward.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Status, TraceResult};

/// When a trace's news about its vessel visit makes the visit's other boxes (same
/// provider, terminal and visit id) come due sooner. Part of [`Policy`](super::Policy)
/// (`[policy.cohort]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CohortPolicy {
    /// Whether news about a visit brings its other boxes forward at all.
    pub enabled: bool,
    /// The other boxes come due this long after the news was seen: long enough that the
    /// dispatcher gathers them into one request, short enough to matter.
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// A departure estimate that moves by at least this much is news (smaller revisions
    /// are noise that would wake the cohort for nothing).
    #[serde(with = "humantime_serde")]
    pub departure_moved: Duration,
}

impl Default for CohortPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            delay: Duration::from_secs(60),
            departure_moved: Duration::from_secs(2 * 3600),
        }
    }
}

/// Why a trace's result is news for the other boxes of its vessel visit, if it is: the
/// visit's phase changed (the vessel arrived, started working, finished), its departure
/// estimate moved by at least `departure_moved`, or this box was loaded (its siblings are
/// being loaded too). Only a result that follows an earlier one on the same visit can be
/// news: a first result, or a box that rolled to another visit, tells the others nothing.
pub fn cohort_news(
    previous: Option<&TraceResult>,
    next: &TraceResult,
    policy: &CohortPolicy,
) -> Option<&'static str> {
    if !policy.enabled {
        return None;
    }
    let previous = previous?;
    let (Some(before), Some(now)) = (previous.visit.as_ref(), next.visit.as_ref()) else {
        return None;
    };
    if before.id != now.id {
        return None;
    }
    if before.phase != now.phase && now.phase.is_some() {
        return Some("visit phase changed");
    }
    if let (Some(a), Some(b)) = (before.departure(), now.departure()) {
        let moved = (b - a).abs().to_std().unwrap_or_default();
        if moved >= policy.departure_moved {
            return Some("departure moved");
        }
    }
    if next.status == Status::Loaded && previous.status != Status::Loaded {
        return Some("a box of the visit was loaded");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{VesselVisit, VisitPhase};
    use chrono::{Duration as Span, TimeZone, Utc};

    fn result(status: Status, visit: Option<(&str, Option<VisitPhase>, i64)>) -> TraceResult {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap();
        let mut r = TraceResult::new(status, t);
        r.visit = visit.map(|(id, phase, etd_h)| {
            let mut v = VesselVisit::new(id);
            v.phase = phase;
            v.etd = Some(t + Span::hours(etd_h));
            v
        });
        r
    }

    #[test]
    fn phase_departure_and_loading_are_news_on_the_same_visit_only() {
        let p = CohortPolicy::default();
        let inbound = result(Status::GatedIn, Some(("V1", Some(VisitPhase::Inbound), 48)));
        let working = result(Status::GatedIn, Some(("V1", Some(VisitPhase::Working), 48)));
        assert!(cohort_news(Some(&inbound), &working, &p).is_some());
        assert!(cohort_news(Some(&working), &working, &p).is_none());
        assert!(cohort_news(None, &working, &p).is_none(), "a first result");

        let later = result(Status::GatedIn, Some(("V1", Some(VisitPhase::Inbound), 51)));
        let slightly = result(Status::GatedIn, Some(("V1", Some(VisitPhase::Inbound), 49)));
        assert!(cohort_news(Some(&inbound), &later, &p).is_some());
        assert!(cohort_news(Some(&inbound), &slightly, &p).is_none());

        let loaded = result(Status::Loaded, Some(("V1", Some(VisitPhase::Working), 48)));
        assert!(cohort_news(Some(&working), &loaded, &p).is_some());

        let rolled = result(
            Status::GatedIn,
            Some(("V2", Some(VisitPhase::Working), 200)),
        );
        assert!(cohort_news(Some(&inbound), &rolled, &p).is_none());
        let off = CohortPolicy {
            enabled: false,
            ..p
        };
        assert!(cohort_news(Some(&inbound), &working, &off).is_none());
    }
}
