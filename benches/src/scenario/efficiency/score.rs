//! Scoring: the changes a box went through at the terminal (ground truth, from its
//! lifecycle) against the result events its client heard, by kind of change.

use std::collections::BTreeMap;
use std::time::Duration;

use boxtrace::{ChangeKind, Status, TrackingState};
use boxtrace_sim::BoxLife;
use chrono::{DateTime, Utc};

use crate::stats::Samples;

/// One change at the terminal that a client should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Milestone {
    pub(super) at: DateTime<Utc>,
    pub(super) kind: ChangeKind,
    /// For `ROLLED`: the visit the box rolled to.
    pub(super) visit: Option<String>,
    /// For `HOLD_PLACED`: when the hold was released (a hold no event saw before then
    /// came and went unseen).
    pub(super) until: Option<DateTime<Utc>>,
}

/// The changes of `life`, in order, with what it takes to see each.
pub(super) fn milestones(life: &BoxLife) -> Vec<Milestone> {
    let mut out: Vec<Milestone> = Vec::new();
    for (at, kind) in life.milestones() {
        let mut milestone = Milestone {
            at,
            kind,
            visit: None,
            until: None,
        };
        if kind == ChangeKind::Rolled {
            milestone.visit = life
                .changes
                .iter()
                .find(|c| c.at == at && c.visit.is_some())
                .and_then(|c| c.visit.clone());
        }
        if kind == ChangeKind::HoldReleased {
            if let Some(placed) = out
                .iter_mut()
                .rev()
                .find(|m| m.kind == ChangeKind::HoldPlaced && m.until.is_none())
            {
                placed.until = Some(at);
            }
        }
        out.push(milestone);
    }
    out
}

/// What a client heard: one result event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Heard {
    pub(super) at: DateTime<Utc>,
    pub(super) status: Option<Status>,
    pub(super) visit: Option<String>,
    pub(super) state: TrackingState,
}

/// How far an export has come, as [`ChangeKind::between`] ranks it.
fn rank(status: Status) -> u8 {
    match status {
        Status::BookingNotFound | Status::BookingMismatch => 0,
        Status::NotFound => 1,
        Status::Expected => 2,
        Status::GatedIn | Status::OnHold => 3,
        Status::Loaded => 4,
        Status::Departed => 5,
        _ => 0,
    }
}

/// Whether `heard` shows that `milestone` happened.
fn shows(milestone: &Milestone, heard: &Heard) -> bool {
    let Some(status) = heard.status else {
        return false;
    };
    match milestone.kind {
        ChangeKind::BookingKnown => rank(status) >= 1,
        ChangeKind::PreAdvised => rank(status) >= 2,
        ChangeKind::GatedIn => rank(status) >= 3,
        ChangeKind::HoldPlaced => status == Status::OnHold,
        ChangeKind::HoldReleased => rank(status) >= 3 && status != Status::OnHold,
        ChangeKind::Loaded => rank(status) >= 4,
        ChangeKind::Departed => rank(status) >= 5,
        ChangeKind::Rolled => heard.visit.is_some() && heard.visit == milestone.visit,
        ChangeKind::Returned => status == Status::Returned,
        _ => false,
    }
}

/// How the changes of one kind fared over a fleet.
#[derive(Debug, Default, Clone)]
pub(super) struct KindScore {
    /// Changes while the box was tracked.
    pub(super) count: usize,
    /// Delays from the change to the first event that showed it.
    pub(super) delays: Samples,
    /// Came and went unseen (holds), or never shown while tracked.
    pub(super) missed: usize,
}

/// How a fleet's changes fared, by kind.
#[derive(Debug, Default, Clone)]
pub(super) struct Score {
    pub(super) kinds: BTreeMap<ChangeKind, KindScore>,
    /// Changes after tracking completed (a departure after the loading that completed it).
    pub(super) after_completion: usize,
    /// Changes after tracking expired or failed.
    pub(super) after_expiry: usize,
    /// Changes after the last trace of a job still active when the run ended.
    pub(super) unobserved: usize,
}

impl Score {
    /// Scores one box: each change after `published` is seen by the first event at or
    /// after it that shows it (a hold only before its release).
    pub(super) fn add(
        &mut self,
        milestones: &[Milestone],
        published: DateTime<Utc>,
        heard: &[Heard],
        last_trace: Option<DateTime<Utc>>,
    ) {
        let stopped = heard
            .iter()
            .find(|h| !h.state.is_active())
            .map(|h| (h.at, h.state));
        for m in milestones.iter().filter(|m| m.at > published) {
            if let Some((_, state)) = stopped.filter(|(end, _)| *end <= m.at) {
                if state == TrackingState::Completed {
                    self.after_completion += 1;
                } else {
                    self.after_expiry += 1;
                }
                continue;
            }
            let seen = heard
                .iter()
                .find(|h| h.at >= m.at && m.until.is_none_or(|u| h.at < u) && shows(m, h));
            let score = self.kinds.entry(m.kind).or_default();
            match seen {
                Some(h) => {
                    score.count += 1;
                    score
                        .delays
                        .push((h.at - m.at).to_std().unwrap_or_default());
                }
                None if stopped.is_none() && last_trace.is_none_or(|l| l < m.at) => {
                    self.unobserved += 1;
                }
                None => {
                    score.count += 1;
                    score.missed += 1;
                }
            }
        }
    }

    /// The delays of the kinds a TMS acts on, pooled.
    pub(super) fn actionable(&self) -> Samples {
        let mut pooled = Samples::default();
        for (kind, score) in &self.kinds {
            if kind.is_actionable() {
                pooled.extend(score.delays.clone());
            }
        }
        pooled
    }

    /// Changes counted, all kinds.
    #[cfg(test)]
    pub(super) fn changes(&self) -> usize {
        self.kinds.values().map(|k| k.count).sum()
    }

    /// Changes missed, all kinds.
    pub(super) fn missed(&self) -> usize {
        self.kinds.values().map(|k| k.missed).sum()
    }
}

/// A delay in minutes.
pub(super) fn minutes(d: Duration) -> f64 {
    d.as_secs_f64() / 60.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::TraceKind;
    use boxtrace_sim::Change;

    fn t(min: i64) -> DateTime<Utc> {
        boxtrace::testing::t0() + chrono::Duration::minutes(min)
    }

    fn heard(at: i64, status: Status, visit: &str, state: TrackingState) -> Heard {
        Heard {
            at: t(at),
            status: Some(status),
            visit: Some(visit.into()),
            state,
        }
    }

    #[test]
    fn each_change_is_seen_by_the_first_event_that_shows_it() {
        let mut roll = Change::status(t(900), Status::GatedIn);
        roll.status = None;
        roll.visit = Some("V2".into());
        let life = BoxLife {
            container: "SIMU0000001".into(),
            kind: TraceKind::Export,
            terminal: "MICT".into(),
            booking: Some("B".into()),
            published_at: t(0),
            changes: vec![
                Change {
                    visit: Some("V1".into()),
                    ..Change::status(t(60), Status::Expected)
                },
                Change::status(t(600), Status::GatedIn),
                Change::status(t(700), Status::OnHold),
                Change::status(t(800), Status::GatedIn),
                roll,
                Change::status(t(2000), Status::Loaded),
                Change::status(t(2300), Status::Departed),
            ],
        };
        let ms = milestones(&life);
        let kinds: Vec<_> = ms.iter().map(|m| m.kind).collect();
        use ChangeKind::*;
        assert_eq!(
            kinds,
            [
                BookingKnown,
                PreAdvised,
                GatedIn,
                HoldPlaced,
                HoldReleased,
                Rolled,
                Loaded,
                Departed
            ]
        );
        assert_eq!(ms[3].until, Some(t(800)));
        assert_eq!(ms[5].visit.as_deref(), Some("V2"));
        let active = TrackingState::Active;
        let events = [
            heard(5, Status::BookingNotFound, "", active),
            heard(70, Status::Expected, "V1", active),
            heard(640, Status::GatedIn, "V1", active),
            // The hold came and went between two traces.
            heard(820, Status::GatedIn, "V1", active),
            heard(930, Status::GatedIn, "V2", active),
            heard(2015, Status::Loaded, "V2", TrackingState::Completed),
        ];
        let mut score = Score::default();
        score.add(&ms, t(0), &events, Some(t(2015)));
        let delay = |k: ChangeKind| {
            let mut s = score.kinds[&k].delays.clone();
            minutes(s.quantile(0.5))
        };
        assert_eq!(delay(BookingKnown), 10.0, "shown by the pre-advice event");
        assert_eq!(delay(GatedIn), 40.0);
        assert_eq!(delay(HoldReleased), 20.0);
        assert_eq!(delay(Rolled), 30.0);
        assert_eq!(delay(Loaded), 15.0);
        assert_eq!(score.kinds[&HoldPlaced].missed, 1);
        assert_eq!(
            score.after_completion, 1,
            "the departure after loading completed it"
        );
        assert_eq!(score.changes(), 7);
        assert_eq!(score.missed(), 1);
        assert_eq!(
            score.actionable().len(),
            3,
            "gate-in, release and loading were seen"
        );
    }
}
