//! The generator keeps the structure it promises, over many draws.

use boxtrace::{ChangeKind, Status, TraceKind, VisitPhase};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::terminal::{Fleet, Lifecycles, VesselModel};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

fn fleet(boxes: usize, seed: u64) -> Lifecycles {
    Fleet {
        boxes,
        days: 14,
        start: start(),
        seed,
        terminals: vec!["MICT".into(), "SBITC".into()],
        owner: "SIMU".into(),
    }
    .lifecycles(&VesselModel::default())
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

#[test]
fn calls_keep_their_phases_in_order_and_their_schedule_before_arrival() {
    let lifecycles = fleet(300, 1);
    let mut calls = 0;
    for visit in lifecycles.visits() {
        calls += 1;
        let phases: Vec<_> = visit.phases.iter().map(|(_, p)| *p).collect();
        assert_eq!(
            phases,
            [
                VisitPhase::Arrived,
                VisitPhase::Working,
                VisitPhase::Complete,
                VisitPhase::Departed
            ]
        );
        assert!(
            visit.phases.windows(2).all(|w| w[0].0 < w[1].0),
            "{}",
            visit.id
        );
        let first = &visit.schedule[0];
        assert!(first.begin_receive < first.cutoff && first.cutoff < first.eta);
        assert!(visit.schedule.windows(2).all(|w| w[0].at <= w[1].at));
        let (worked, complete) = (visit.phases[1].0, visit.phases[2].0);
        let hours = (complete - worked).num_hours();
        assert!((8..=48).contains(&hours), "{} works {hours} h", visit.id);
    }
    assert!(calls > 100, "{calls} calls");
}

#[test]
fn boxes_share_calls_and_follow_the_export_order() {
    let lifecycles = fleet(1500, 2);
    let exports: Vec<_> = lifecycles
        .boxes()
        .filter(|b| b.kind == TraceKind::Export)
        .collect();
    let empties = lifecycles
        .boxes()
        .filter(|b| b.kind == TraceKind::Empty)
        .count();
    assert!(
        exports.len() >= 900 && empties >= 400,
        "{} exports, {empties} empties",
        exports.len()
    );
    let mut per_call = std::collections::HashMap::new();
    let (mut held, mut rolled, mut late_gate, mut in_last_day) = (0, 0, 0, 0);
    for life in &exports {
        assert!(
            life.changes.windows(2).all(|w| w[0].at <= w[1].at),
            "{}",
            life.container
        );
        assert!(
            life.changes.iter().all(|c| c.at >= life.published_at),
            "{}",
            life.container
        );
        let milestones: Vec<ChangeKind> = life.milestones().into_iter().map(|(_, k)| k).collect();
        let order = |k| milestones.iter().position(|m| *m == k);
        let (Some(gate), Some(load)) = (order(ChangeKind::GatedIn), order(ChangeKind::Loaded))
        else {
            panic!("{} never gates in or loads: {milestones:?}", life.container);
        };
        assert!(order(ChangeKind::PreAdvised).is_some_and(|a| a < gate));
        assert!(gate < load);
        if milestones.contains(&ChangeKind::HoldPlaced) {
            held += 1;
            assert!(
                order(ChangeKind::HoldReleased).is_some_and(|r| r < load),
                "{}",
                life.container
            );
        }
        if milestones.contains(&ChangeKind::Rolled) {
            rolled += 1;
        }
        let visit_id = life
            .changes
            .iter()
            .filter_map(|c| c.visit.clone())
            .next()
            .unwrap();
        *per_call.entry(visit_id.clone()).or_insert(0) += 1;
        // Loaded while its (last) call works.
        let last_visit = life
            .changes
            .iter()
            .rev()
            .find_map(|c| c.visit.clone())
            .unwrap();
        let visit = lifecycles.visit(&life.terminal, &last_visit).unwrap();
        let loaded = life
            .changes
            .iter()
            .find(|c| c.status == Some(Status::Loaded))
            .unwrap()
            .at;
        let state = visit.at(loaded);
        assert_eq!(
            state.visit.phase,
            Some(VisitPhase::Working),
            "{} loaded outside the window",
            life.container
        );
        // Gate-in against the cut-off the terminal shows then, and its appointment.
        let gated = life
            .changes
            .iter()
            .find(|c| c.status == Some(Status::GatedIn))
            .unwrap()
            .at;
        let cutoff = lifecycles
            .visit(&life.terminal, &visit_id)
            .unwrap()
            .at(gated)
            .key_dates
            .cargo_cutoff
            .unwrap();
        if cutoff - gated <= Duration::hours(24) && gated <= cutoff {
            in_last_day += 1;
        }
        let slot = life
            .at(gated)
            .appointment
            .expect("an appointment before gate-in");
        if gated > slot.end {
            late_gate += 1;
        }
    }
    let n = exports.len();
    assert!(
        per_call.values().any(|&k| k >= 5),
        "calls carry several boxes"
    );
    assert!((0.04..0.14).contains(&share(held, n)), "{held} of {n} held");
    assert!(
        (0.01..0.10).contains(&share(rolled, n)),
        "{rolled} of {n} rolled"
    );
    assert!(
        (0.01..0.15).contains(&share(late_gate, n)),
        "{late_gate} of {n} late"
    );
    assert!(
        (0.2..0.55).contains(&share(in_last_day, n)),
        "{in_last_day} of {n} in the last day"
    );
}

#[test]
fn empties_come_back_days_later_some_beyond_a_week() {
    let lifecycles = fleet(1500, 3);
    let mut beyond_week = 0;
    let mut with_appointment = 0;
    let mut n = 0;
    for life in lifecycles.boxes().filter(|b| b.kind == TraceKind::Empty) {
        n += 1;
        let returned = life
            .changes
            .iter()
            .find(|c| c.status == Some(Status::Returned))
            .unwrap()
            .at;
        if returned - life.published_at > Duration::days(7) {
            beyond_week += 1;
        }
        if life.changes.iter().any(|c| c.appointment.is_some()) {
            with_appointment += 1;
        }
        assert_eq!(
            life.at(returned - Duration::minutes(1)).status,
            Status::NotFound
        );
    }
    assert!(
        (0.15..0.35).contains(&share(beyond_week, n)),
        "{beyond_week} of {n} beyond a week"
    );
    assert!(
        (0.7..0.9).contains(&share(with_appointment, n)),
        "{with_appointment} of {n} booked"
    );
}

#[test]
fn the_same_seed_gives_the_same_terminal() {
    assert_eq!(fleet(200, 9), fleet(200, 9));
    assert_ne!(fleet(200, 9), fleet(200, 10));
}

#[test]
fn a_model_that_makes_no_schedule_is_refused() {
    let model = VesselModel {
        hold_rate: 1.5,
        ..VesselModel::default()
    };
    assert!(model.check().unwrap_err().contains("holdRate"));
    let model = VesselModel {
        gate_in_last_day: 0.7,
        ..VesselModel::default()
    };
    assert!(model.check().is_err());
    assert!(VesselModel::default().check().is_ok());
}
