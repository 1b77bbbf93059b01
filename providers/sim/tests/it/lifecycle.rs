//! Lifecycles: determinism, realistic order and timing, holds, empties, and the agreement
//! between `timeline` and `result_at`.

use boxtrace::{
    EmptyIndicator, EquipmentEventCode, EventClassifier, Status, TraceError, TraceKind,
};
use chrono::Duration;
use proptest::prelude::*;
use serde_json::Map;

use crate::support::{boxes, export_data, sim, sim_with, status_of, t0, timeline_status_at};
use boxtrace_sim::SimConfig;

/// The export statuses a change may lead to from each status.
fn export_successors(status: Status) -> &'static [Status] {
    match status {
        Status::BookingNotFound => &[Status::Expected],
        Status::Expected => &[Status::GatedIn],
        Status::GatedIn => &[Status::OnHold, Status::Loaded],
        Status::OnHold => &[Status::GatedIn],
        Status::Loaded => &[Status::Departed],
        _ => &[],
    }
}

#[test]
fn the_same_seed_gives_the_same_timelines() {
    let (a, _) = sim(11);
    let (b, _) = sim(11);
    for kind in [TraceKind::Export, TraceKind::Empty] {
        for id in boxes(200) {
            let data = export_data(None);
            assert_eq!(a.timeline(kind, &id, &data), b.timeline(kind, &id, &data));
        }
    }
}

#[test]
fn another_seed_gives_other_timelines_for_most_boxes() {
    let (a, _) = sim(11);
    let (b, _) = sim(12);
    for kind in [TraceKind::Export, TraceKind::Empty] {
        let differ = boxes(200)
            .filter(|id| {
                let data = export_data(None);
                a.timeline(kind, id, &data) != b.timeline(kind, id, &data)
            })
            .count();
        assert!(
            differ >= 190,
            "{kind}: only {differ} of 200 timelines differ"
        );
    }
}

#[test]
fn export_boxes_progress_in_order_and_depart_within_ten_days() {
    let (sim, _) = sim(3);
    let data = export_data(None);
    let mut held = 0;
    for id in boxes(500) {
        let timeline = sim.timeline(TraceKind::Export, &id, &data);
        assert_eq!(timeline.first(), Some(&(t0(), Status::BookingNotFound)));
        for pair in timeline.windows(2) {
            let ((t1, s1), (t2, s2)) = (pair[0], pair[1]);
            assert!(t1 < t2, "{id}: changes out of time order");
            assert!(export_successors(s1).contains(&s2), "{id}: {s1} -> {s2}");
        }
        let (departed_at, last) = *timeline.last().unwrap();
        assert_eq!(last, Status::Departed, "{id}");
        assert!(departed_at - t0() <= Duration::days(10), "{id}");
        held += usize::from(timeline.iter().any(|(_, s)| *s == Status::OnHold));
    }
    assert!((100..250).contains(&held), "{held} of 500 boxes met a hold");
}

#[test]
fn events_accumulate_oldest_first_as_actuals() {
    let (sim, _) = sim(5);
    for kind in [TraceKind::Export, TraceKind::Empty] {
        for id in boxes(100) {
            let data = export_data(Some("hold"));
            let mut seen = 0;
            for (at, _) in sim.timeline(kind, &id, &data) {
                let Ok(result) = sim.result_at(kind, &id, &data, at) else {
                    continue;
                };
                let events = &result.events;
                assert!(events.len() >= seen, "{id}: an event disappeared");
                seen = events.len();
                assert!(events.windows(2).all(|w| w[0].event_at <= w[1].event_at));
                assert!(events.iter().all(|e| e.event_at <= at));
                assert!(events.iter().all(|e| e.classifier == EventClassifier::Act));
                assert_eq!(result.observed_at, Some(at));
            }
        }
    }
}

#[test]
fn the_result_at_each_change_is_the_timeline_status() {
    let (sim, _) = sim(8);
    for kind in [TraceKind::Export, TraceKind::Empty] {
        for id in boxes(100) {
            let data = export_data(None);
            let timeline = sim.timeline(kind, &id, &data);
            let mut before = None;
            for &(at, status) in &timeline {
                let answer = sim.result_at(kind, &id, &data, at);
                assert_eq!(status_of(&answer), Some(status), "{id} at {at}");
                // A millisecond earlier the box was still as before the change.
                let earlier = sim.result_at(kind, &id, &data, at - Duration::milliseconds(1));
                assert_eq!(
                    status_of(&earlier),
                    before.or(Some(status)),
                    "{id} before {at}"
                );
                before = Some(status);
            }
        }
    }
}

#[test]
fn the_hold_scenario_holds_and_releases_every_box() {
    let (sim, _) = sim(21);
    let data = export_data(Some("hold"));
    let mut customs = 0;
    for id in boxes(100) {
        let timeline = sim.timeline(TraceKind::Export, &id, &data);
        let on_hold = timeline.iter().position(|(_, s)| *s == Status::OnHold);
        let Some(i) = on_hold else {
            panic!("{id} never went on hold: {timeline:?}");
        };
        assert_eq!(
            timeline[i + 1].1,
            Status::GatedIn,
            "{id} left the hold for the yard"
        );
        let held = sim
            .result_at(TraceKind::Export, &id, &data, timeline[i].0)
            .unwrap();
        assert_eq!(held.holds.len(), 1);
        assert_eq!(held.empty_indicator, Some(EmptyIndicator::Laden));
        let released = sim
            .result_at(TraceKind::Export, &id, &data, timeline[i + 1].0)
            .unwrap();
        assert!(released.holds.is_empty());
        // A customs hold ends with an inspection; a documents hold leaves no event.
        let release_event = released
            .events
            .last()
            .filter(|e| e.event_at == timeline[i + 1].0);
        match held.holds[0].code.as_str() {
            "CUSTOMS" => {
                customs += 1;
                let code = release_event.map(|e| e.code);
                assert_eq!(code, Some(EquipmentEventCode::Insp), "{id}");
            }
            "DOCUMENTS" => assert_eq!(release_event, None, "{id}"),
            other => panic!("{id}: unexpected hold {other}"),
        }
    }
    assert!(
        (20..80).contains(&customs),
        "{customs} of 100 holds were customs holds"
    );
    let free = export_data(Some("no-hold"));
    for id in boxes(100) {
        let timeline = sim.timeline(TraceKind::Export, &id, &free);
        assert!(timeline.iter().all(|(_, s)| *s != Status::OnHold), "{id}");
    }
}

#[test]
fn an_export_box_carries_booking_vessel_destination_and_key_dates() {
    let (sim, _) = sim(4);
    let data = export_data(None);
    let id = "CSQU3054383";
    let before = sim.result_at(TraceKind::Export, id, &data, t0()).unwrap();
    assert_eq!(before.status, Status::BookingNotFound);
    assert_eq!(before.booking_reference, None);
    let gone = sim
        .result_at(TraceKind::Export, id, &data, t0() + Duration::days(30))
        .unwrap();
    assert_eq!(gone.status, Status::Departed);
    assert_eq!(gone.booking_reference.as_deref(), Some("BKG0001"));
    let vessel = gone.vessel.unwrap();
    assert!(vessel.name.is_some() && vessel.voyage.is_some() && vessel.line.is_some());
    let destination = gone.destination.unwrap();
    assert_ne!(destination.un_locode.as_deref(), Some("PHMNL"));
    assert_eq!(gone.location.unwrap().un_locode.as_deref(), Some("PHMNL"));
    let k = gone.key_dates;
    assert!(k.earliest_receiving < k.cargo_cutoff && k.cargo_cutoff < k.vessel_departure);
    let gate_in = &gone.events[0];
    assert_eq!(gate_in.code, EquipmentEventCode::Gtin);
    assert_eq!(gate_in.empty_indicator, Some(EmptyIndicator::Laden));
    assert!(gate_in.location.is_some());
}

#[test]
fn empties_become_receivable_and_end_returned() {
    let (sim, _) = sim(9);
    for id in boxes(200) {
        let timeline = sim.timeline(TraceKind::Empty, &id, &Map::new());
        let statuses: Vec<_> = timeline.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            statuses,
            [
                Status::NotFound,
                Status::NotReceivable,
                Status::Receivable,
                Status::Returned
            ]
        );
        assert_eq!(
            sim.result_at(TraceKind::Empty, &id, &Map::new(), t0()),
            Err(TraceError::NotFound)
        );
        let (returned_at, _) = timeline[3];
        assert!(returned_at - t0() <= Duration::days(4));
        let returned = sim
            .result_at(TraceKind::Empty, &id, &Map::new(), returned_at)
            .unwrap();
        assert_eq!(returned.empty_indicator, Some(EmptyIndicator::Empty));
        let codes: Vec<_> = returned.events.iter().map(|e| e.code).collect();
        assert_eq!(codes, [EquipmentEventCode::Gtin]);
        assert_eq!(
            returned.events[0].empty_indicator,
            Some(EmptyIndicator::Empty)
        );
    }
}

#[test]
fn a_configured_epoch_anchors_every_lifecycle() {
    let epoch = t0() - Duration::days(100);
    let (anchored, _) = sim_with(SimConfig {
        epoch: Some(epoch),
        ..SimConfig::default()
    });
    assert_eq!(anchored.epoch(), epoch);
    let timeline = anchored.timeline(TraceKind::Export, "CSQU3054383", &export_data(None));
    assert_eq!(timeline.first().map(|c| c.0), Some(epoch));
    let (default_epoch, _) = sim(1);
    assert_eq!(default_epoch.epoch(), t0());
}

proptest! {
    #[test]
    fn statuses_apply_to_their_kind_and_match_the_timeline(
        seed in any::<u64>(),
        id in "[A-Z]{4}[0-9]{7}",
        export in any::<bool>(),
        scenario in prop::sample::select(vec!["standard", "hold", "no-hold", "not-found"]),
        offset_minutes in -2_000i64..20_000,
    ) {
        let kind = if export { TraceKind::Export } else { TraceKind::Empty };
        let (sim, _) = sim(seed);
        let data = export_data(Some(scenario));
        let timeline = sim.timeline(kind, &id, &data);
        prop_assert!(!timeline.is_empty());
        prop_assert!(timeline.iter().all(|(_, s)| s.applies_to(kind)));
        let at = t0() + Duration::minutes(offset_minutes);
        let answer = sim.result_at(kind, &id, &data, at);
        prop_assert_eq!(status_of(&answer), Some(timeline_status_at(&timeline, at)));
        if let Ok(result) = answer {
            prop_assert_eq!(result.traced_at, at);
            prop_assert!(result.observed_at.is_none_or(|o| o <= at));
        }
    }
}
