//! Which visit a trace is about: booking mismatches, several visits, masked records.

use anyhow::Context;
use boxtrace::{ManualClock, Policy, Status, TraceError, TraceKind, TraceResult};
use serde_json::json;

use crate::lifecycle::{drain_outbox, trace_next};
use crate::support::fake::{FakeIctsi, DETAILS, EVENTS, VESSEL};
use crate::support::{credentials, engine, event, export_data, request, t0, tracer, CONTAINER};

async fn trace_export(
    fake: &FakeIctsi,
    data: serde_json::Value,
) -> Result<TraceResult, TraceError> {
    let clock = ManualClock::new(t0());
    tracer(fake, &clock, json!({}))
        .trace(&request(TraceKind::Export, CONTAINER, data), &credentials())
        .await
}

#[tokio::test]
async fn a_box_under_another_booking_is_a_mismatch_not_a_gate_in() -> anyhow::Result<()> {
    // ICTSI masks the other booking's record: the mismatch is read from the mask.
    let fake = FakeIctsi::start().await;
    fake.containers("export_other_booking.json")
        .vessels("vessel_visit.json");
    let result = trace_export(&fake, export_data()).await?;
    assert_eq!(result.status, Status::BookingMismatch);
    assert_eq!(result.booking_reference, None, "masked: unknown");
    assert!(result.holds.is_empty() && result.key_dates.is_empty());
    assert_eq!(
        fake.calls(VESSEL) + fake.calls(EVENTS),
        0,
        "not our box: no more calls"
    );

    // Where ICTSI shows the other booking, it is reported.
    fake.without_masking();
    let result = trace_export(&fake, export_data()).await?;
    assert_eq!(result.status, Status::BookingMismatch);
    assert_eq!(result.booking_reference.as_deref(), Some("MNLA000999"));

    // The booking is asked for without filtering on it, so the mismatch can be seen.
    let asked = fake.requests();
    let query = &asked.first().context("a call")?.query;
    assert_eq!(
        query.get("ms-booking").map(String::as_str),
        Some("TASF883714")
    );
    assert!(!query.contains_key("booking-number"));
    Ok(())
}

#[tokio::test]
async fn the_engine_reports_a_mismatch_and_keeps_tracing() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.containers("export_other_booking.json");
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    let key = engine
        .handle_event(&event("EXPORT", CONTAINER, export_data()))
        .await?
        .key;
    trace_next(&engine, &clock, &key).await?;
    let events = drain_outbox(&engine).await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload.status, Some(Status::BookingMismatch));
    let job = engine.get(&key).await?.context("the job")?;
    assert!(job.state.is_active(), "the booking may still be corrected");
    Ok(())
}

#[tokio::test]
async fn a_lower_case_booking_still_unmasks_its_record() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.containers("export_hold.json")
        .events("events_hold.json")
        .vessels("vessel_visit.json");
    let data = json!({ "locationCode": "MICT", "bookingNumber": "tasf883714" });
    let result = trace_export(&fake, data).await?;
    assert_eq!(
        result.status,
        Status::OnHold,
        "holds are visible only unmasked"
    );
    let asked = fake.requests();
    let query = &asked.first().context("a call")?.query;
    assert_eq!(
        query.get("ms-booking").map(String::as_str),
        Some("tasf883714,TASF883714")
    );
    Ok(())
}

#[tokio::test]
async fn of_several_visits_the_active_one_under_the_booking_is_current() -> anyhow::Result<()> {
    // An earlier trip under another booking (departed), a retired visit under the traced
    // booking that changed last, the active visit, and a pre-advice under another booking.
    let fake = FakeIctsi::start().await;
    fake.containers("export_visits.json")
        .vessels("vessel_visit.json");
    let result = trace_export(&fake, export_data()).await?;
    assert_eq!(result.status, Status::GatedIn);
    assert_eq!(result.observed_at, "2026-03-03T02:20:00Z".parse().ok());
    assert_eq!(result.events.len(), 1);
    assert_eq!(
        result.events[0].event_at,
        "2026-03-03T02:15:00Z".parse::<chrono::DateTime<chrono::Utc>>()?
    );
    Ok(())
}

#[tokio::test]
async fn earlier_trips_under_other_bookings_are_not_a_mismatch() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let earlier: Vec<_> = crate::support::fake::records("export_visits.json")
        .into_iter()
        .filter(|r| r["booking_number"] == "MNLA000111")
        .collect();
    assert_eq!(earlier.len(), 1);
    fake.set_containers(earlier);
    let answer = trace_export(&fake, export_data()).await;
    assert_eq!(answer, Err(TraceError::NotFound));
    assert_eq!(fake.calls(DETAILS), 1);
    Ok(())
}

#[tokio::test]
async fn an_export_that_left_by_road_is_no_longer_found() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    fake.containers("export_left_by_truck.json")
        .without_masking();
    assert_eq!(
        trace_export(&fake, export_data()).await,
        Err(TraceError::NotFound)
    );
    Ok(())
}

#[tokio::test]
async fn masked_and_blank_fields_do_not_break_the_mapping() -> anyhow::Result<()> {
    // A record as ICTSI masks it, served as is: Java "null"s in every sensitive field.
    let fake = FakeIctsi::start().await;
    fake.containers("export_masked.json")
        .vessels("vessel_visit.json")
        .without_masking();
    let result = trace_export(&fake, export_data()).await?;
    assert_eq!(
        result.status,
        Status::BookingMismatch,
        "masked: not our booking"
    );
    assert!(result.holds.is_empty(), "\"null\" stops are no holds");
    assert_eq!(result.destination, None, "\"null\" is no port");
    assert_eq!(result.events.len(), 1, "gate-in time is not masked");
    let shown = serde_json::to_string(&result)?;
    assert!(!shown.contains("null"), "{shown}");

    // Our own record with blank sensitive fields (not masked): still mapped as ours.
    fake.containers("export_blank_fields.json");
    let result = trace_export(&fake, export_data()).await?;
    assert_eq!(result.status, Status::GatedIn);
    assert_eq!(result.booking_reference, None);
    assert_eq!(result.key_dates.last_free_day, None);
    assert!(result.key_dates.cargo_cutoff.is_some());
    Ok(())
}
