//! The `vessels` model as a terminal API: batch lookups and visit lookups counted by kind,
//! the lag, bookings, appointments, and lifecycle files replayed through the registry.

use std::io::Write;
use std::sync::Arc;

use boxtrace::{
    build_provider, ManualClock, PermanentReason, ProviderContext, ProviderCredentials, Status,
    TraceError, TraceKind, Tracer, VisitPhase,
};
use boxtrace_sim::{Lifecycles, SimConfig, SimTracer};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::support::{data, request, sim_with, t0};

/// A terminal's history: one call at MICT, an export under booking TASF883714 on it, and
/// an empty returned in a booked slot.
const HISTORY: &str = r#"{"visit": "V0001", "terminal": "MICT", "vessel": "ONE APUS", "voyage": "042E", "schedule": [{"at": "2026-02-25T00:00:00Z", "beginReceive": "2026-03-02T00:00:00Z", "cutoff": "2026-03-06T00:00:00Z", "eta": "2026-03-07T00:00:00Z", "etd": "2026-03-08T00:00:00Z"}, {"at": "2026-03-04T00:00:00Z", "eta": "2026-03-07T06:00:00Z", "cutoff": "2026-03-06T06:00:00Z"}], "phases": [{"at": "2026-03-07T06:00:00Z", "phase": "ARRIVED"}, {"at": "2026-03-07T08:00:00Z", "phase": "WORKING"}, {"at": "2026-03-08T04:00:00Z", "phase": "DEPARTED"}]}
{"container": "CSQU3054383", "kind": "export", "terminal": "MICT", "booking": "TASF883714", "publishedAt": "2026-03-02T06:00:00Z", "changes": [{"at": "2026-03-02T08:00:00Z", "status": "EXPECTED", "visit": "V0001"}, {"at": "2026-03-04T06:00:00Z", "appointment": {"start": "2026-03-05T08:00:00Z", "end": "2026-03-05T10:00:00Z"}}, {"at": "2026-03-05T09:00:00Z", "status": "GATED_IN"}, {"at": "2026-03-05T09:20:00Z", "status": "ON_HOLD", "holds": ["CUSTOMS"]}, {"at": "2026-03-05T21:00:00Z", "status": "GATED_IN"}, {"at": "2026-03-07T12:00:00Z", "status": "LOADED"}, {"at": "2026-03-08T04:00:00Z", "status": "DEPARTED"}]}
{"container": "MSKU7750846", "kind": "empty", "terminal": "MICT", "publishedAt": "2026-03-02T06:00:00Z", "changes": [{"at": "2026-03-03T10:00:00Z", "appointment": {"start": "2026-03-04T10:00:00Z", "end": "2026-03-04T12:00:00Z"}}, {"at": "2026-03-04T11:00:00Z", "status": "RETURNED"}]}
"#;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn replaying(config: SimConfig) -> (SimTracer, ManualClock) {
    let lifecycles = Lifecycles::read("history", HISTORY.as_bytes()).unwrap();
    let clock = ManualClock::new(t0());
    (
        SimTracer::with_lifecycles(config, Arc::new(clock.clone()), lifecycles),
        clock,
    )
}

fn export(booking: &str) -> boxtrace::TraceRequest {
    request(
        TraceKind::Export,
        "CSQU3054383",
        data(json!({ "bookingNumber": booking, "locationCode": "MICT" })),
    )
}

#[tokio::test]
async fn a_replayed_life_answers_with_its_visit_appointment_holds_and_lag() {
    let (sim, clock) = replaying(SimConfig::default());
    let none = ProviderCredentials::new();
    let trace = |when: &str| {
        clock.set(at(when));
        let sim = sim.clone();
        async move {
            sim.trace(&export("TASF883714"), &ProviderCredentials::new())
                .await
        }
    };

    let booked = trace("2026-03-04T07:00:00Z").await.unwrap();
    assert_eq!(booked.status, Status::Expected);
    let slot = booked
        .appointment
        .expect("the appointment is in the record");
    assert_eq!(slot.start, at("2026-03-05T08:00:00Z"));
    let visit = booked.visit.expect("the visit lookup answered");
    assert_eq!(visit.id, "V0001");
    assert_eq!(visit.phase, Some(VisitPhase::Inbound));
    assert_eq!(
        visit.eta,
        Some(at("2026-03-07T06:00:00Z")),
        "the revised estimate"
    );
    assert_eq!(
        booked.key_dates.cargo_cutoff,
        Some(at("2026-03-06T06:00:00Z"))
    );
    assert_eq!(
        booked.key_dates.earliest_receiving,
        Some(at("2026-03-02T00:00:00Z"))
    );
    assert_eq!(
        booked.vessel.and_then(|v| v.name).as_deref(),
        Some("ONE APUS")
    );

    // The gate-in at 09:00 reaches the API after the 2-minute lag.
    assert_eq!(
        trace("2026-03-05T09:01:00Z").await.unwrap().status,
        Status::Expected
    );
    let gated = trace("2026-03-05T09:02:00Z").await.unwrap();
    assert_eq!(gated.status, Status::GatedIn);
    assert_eq!(gated.appointment, None, "a used appointment is history");
    let held = trace("2026-03-05T12:00:00Z").await.unwrap();
    assert_eq!(held.status, Status::OnHold);
    assert_eq!(held.holds[0].code, "CUSTOMS");
    let working = trace("2026-03-07T09:00:00Z").await.unwrap();
    assert_eq!(
        working.visit.and_then(|v| v.phase),
        Some(VisitPhase::Working)
    );
    let loaded = trace("2026-03-07T13:00:00Z").await.unwrap();
    assert_eq!(loaded.status, Status::Loaded);

    // A box the file does not hold is unknown to the terminal.
    let stranger = request(
        TraceKind::Export,
        "MSCU1234566",
        data(json!({ "bookingNumber": "X1", "locationCode": "MICT" })),
    );
    assert_eq!(sim.trace(&stranger, &none).await, Err(TraceError::NotFound));
}

#[tokio::test]
async fn an_empty_is_not_found_until_returned_its_slot_visible_before() {
    let (sim, clock) = replaying(SimConfig::default());
    let none = ProviderCredentials::new();
    let empty = request(
        TraceKind::Empty,
        "MSKU7750846",
        data(json!({ "locationCode": "MICT" })),
    );
    clock.set(at("2026-03-03T09:00:00Z"));
    assert_eq!(sim.trace(&empty, &none).await.unwrap().appointment, None);
    clock.set(at("2026-03-03T12:00:00Z"));
    let waiting = sim.trace(&empty, &none).await.unwrap();
    assert_eq!(waiting.status, Status::NotFound);
    assert_eq!(
        waiting.appointment.map(|a| a.start),
        Some(at("2026-03-04T10:00:00Z"))
    );
    clock.set(at("2026-03-04T11:05:00Z"));
    let back = sim.trace(&empty, &none).await.unwrap();
    assert_eq!(back.status, Status::Returned);
    assert_eq!(back.events.len(), 1, "the gate-in of an empty");
}

#[tokio::test]
async fn another_booking_sees_only_that_the_box_is_under_another() {
    let (sim, clock) = replaying(SimConfig::default());
    clock.set(at("2026-03-06T00:00:00Z"));
    let none = ProviderCredentials::new();
    let owner = sim.trace(&export("tasf883714"), &none).await.unwrap();
    assert_eq!(
        owner.status,
        Status::GatedIn,
        "bookings compare without case"
    );
    assert!(owner.vessel.is_some() && owner.visit.is_some());
    let other = sim.trace(&export("OTHER123"), &none).await.unwrap();
    assert_eq!(other.status, Status::BookingMismatch);
    assert!(other.vessel.is_none() && other.visit.is_none() && other.booking_reference.is_none());
    assert!(other.holds.is_empty() && other.events.is_empty());
    assert_ne!(
        sim.lookup_key(&export("TASF883714")),
        sim.lookup_key(&export("OTHER123"))
    );
    assert_eq!(
        sim.lookup_key(&export("TASF883714")),
        sim.lookup_key(&export("tasf883714"))
    );
}

#[tokio::test]
async fn a_batch_is_one_lookup_and_a_visit_is_asked_once_per_ttl() {
    let (sim, clock) = sim_with(SimConfig {
        seed: 3,
        batch_size: 4,
        ..SimConfig::default()
    });
    clock.set(t0() + Duration::days(3));
    let none = ProviderCredentials::new();
    let numbers = [
        "CSQU3054383",
        "MSCU1234566",
        "TGHU1234567",
        "MSKU7750846",
        "OOLU1234567",
        "HLXU1234561",
    ];
    let requests: Vec<_> = numbers
        .iter()
        .map(|n| {
            request(
                TraceKind::Export,
                n,
                data(json!({ "bookingNumber": "B1", "locationCode": "MICT" })),
            )
        })
        .collect();
    assert_eq!(sim.batch_key(&requests[0]).as_deref(), Some("MICT"));
    let answers = sim.trace_batch(&requests, &none).await;
    assert_eq!(answers.len(), 6);
    let counts = sim.requests();
    assert_eq!(counts.container_lookups, 2, "six boxes in lookups of four");
    assert_eq!(counts.containers, 6);
    let visits: std::collections::HashSet<_> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok()?.visit.as_ref().map(|v| v.id.clone()))
        .collect();
    assert!(!visits.is_empty());
    assert_eq!(
        counts.visit_lookups,
        visits.len() as u64,
        "one lookup per visit"
    );
    sim.trace_batch(&requests, &none).await;
    assert_eq!(
        sim.requests().visit_lookups,
        visits.len() as u64,
        "answered within the TTL"
    );
    let ttl = Duration::from_std(boxtrace_sim::SimConfig::default().visit_ttl).unwrap();
    clock.set(t0() + Duration::days(3) + ttl + Duration::minutes(1));
    sim.trace_batch(&requests[..1], &none).await;
    assert_eq!(sim.requests().container_lookups, 5);
    assert!(
        sim.requests().visit_lookups > visits.len() as u64,
        "asked again after the TTL"
    );
    assert_eq!(
        sim.requests().total(),
        sim.requests().container_lookups + sim.requests().visit_lookups
    );
}

#[tokio::test]
async fn one_refused_box_never_fails_the_others_of_its_batch() {
    let (sim, clock) = sim_with(SimConfig::default());
    clock.set(t0() + Duration::days(3));
    let fine = request(
        TraceKind::Export,
        "CSQU3054383",
        data(json!({ "bookingNumber": "B1" })),
    );
    let refused = request(
        TraceKind::Export,
        "MSCU1234566",
        data(json!({ "bookingNumber": "B1", "scenario": "rejected" })),
    );
    let unknown = request(
        TraceKind::Export,
        "TGHU1234567",
        data(json!({ "bookingNumber": "B1", "scenario": "not-found" })),
    );
    let answers = sim
        .trace_batch(&[fine, refused, unknown], &ProviderCredentials::new())
        .await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(matches!(
        answers[1],
        Err(TraceError::Permanent {
            reason: PermanentReason::RequestRejected,
            ..
        })
    ));
    assert_eq!(answers[2], Err(TraceError::NotFound));
}

#[test]
fn a_lifecycle_file_replays_through_the_registry_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("history.jsonl");
    std::fs::write(&good, HISTORY).unwrap();
    let clock = ManualClock::new(at("2026-03-06T00:00:00Z"));
    let cx = |path: &std::path::Path| {
        ProviderContext::new()
            .with_clock(Arc::new(clock.clone()))
            .with_config(json!({ "lifecycles": path }))
    };
    let tracer = build_provider("sim", cx(&good)).expect("a good file builds");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let answer = runtime.block_on(tracer.trace(&export("TASF883714"), &ProviderCredentials::new()));
    assert_eq!(answer.unwrap().status, Status::GatedIn);

    let bad = dir.path().join("bad.jsonl");
    let mut file = std::fs::File::create(&bad).unwrap();
    writeln!(file, "{}", HISTORY.lines().next().unwrap()).unwrap();
    writeln!(
        file,
        "{}",
        HISTORY
            .lines()
            .nth(1)
            .unwrap()
            .replace("LOADED", "ON_BOARD")
    )
    .unwrap();
    let error = build_provider("sim", cx(&bad)).unwrap_err().to_string();
    assert!(error.contains("bad.jsonl:2"), "{error}");
    assert!(error.contains("unknown status 'ON_BOARD'"), "{error}");
    let missing = build_provider("sim", cx(&dir.path().join("none.jsonl"))).unwrap_err();
    assert!(missing.to_string().contains("none.jsonl"), "{missing}");
}
