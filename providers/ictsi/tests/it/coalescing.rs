//! Coalescing across tenants through the real engine and the fake ICTSI server on loopback
//! (issue 13, item 3): tenants that trace one box under different bookings each get only
//! what was obtained with their own booking; tenants with the same booking share one
//! request.

use boxtrace::{JobKey, ManualClock, Policy, Status, Tenant, TraceKind};
use serde_json::{json, Value};

use crate::lifecycle::drain_outbox;
use crate::support::fake::{FakeIctsi, DETAILS};
use crate::support::{engine, t0, BOOKING, CONTAINER};

/// Another booking: the box is not under it.
const OTHER: &str = "OTHER55021";

fn publish(org: &str, booking: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "orgId": org, "svcId": "tms", "type": "CONTAINER",
        "action": "TRACE_EXPORT_REQUESTED", "origin": "test",
        "payload": { "id": CONTAINER, "providerId": "ictsi",
                     "data": { "locationCode": "MICT", "bookingNumber": booking } }
    }))
    .expect("serializable")
}

fn key(org: &str) -> JobKey {
    JobKey {
        tenant: Tenant::new(org, "tms"),
        kind: TraceKind::Export,
        provider_id: "ictsi".into(),
        container: CONTAINER.into(),
    }
}

#[tokio::test]
async fn tenants_get_only_what_their_own_booking_obtained() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    // The box is in the yard under BOOKING, on hold, with its details and vessel.
    fake.containers("export_hold.json")
        .events("events_hold.json")
        .vessels("vessel_visit.json");
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(t0());
    let engine = engine(&fake, &clock, &dir, Policy::default(), json!({}))?;
    // Two tenants under the box's booking, one under another booking, all due now.
    for (org, booking) in [("org-a", BOOKING), ("org-b", OTHER), ("org-c", BOOKING)] {
        engine.handle_event(&publish(org, booking)).await?;
    }
    assert_eq!(engine.run_due().await?, 3);

    // One request per booking: A and C shared theirs, B's went alone.
    let calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.call == DETAILS)
        .collect();
    let mut unmasked: Vec<&str> = calls
        .iter()
        .map(|c| c.query["ms-booking"].as_str())
        .collect();
    unmasked.sort_unstable();
    assert_eq!(unmasked, vec![OTHER, BOOKING], "{calls:?}");
    assert!(calls
        .iter()
        .all(|c| c.query["container-number"] == CONTAINER));

    let a = engine.get(&key("org-a")).await?.and_then(|j| j.last_result);
    let b = engine.get(&key("org-b")).await?.and_then(|j| j.last_result);
    let c = engine.get(&key("org-c")).await?.and_then(|j| j.last_result);
    let (a, b, c) = (
        a.expect("A traced"),
        b.expect("B traced"),
        c.expect("C traced"),
    );
    // The booking's owners see the unmasked record: status, holds, booking, destination.
    assert_eq!(a.status, Status::OnHold);
    assert!(!a.holds.is_empty());
    assert_eq!(a.booking_reference.as_deref(), Some(BOOKING));
    assert!(a.destination.is_some());
    assert!(a.same_content(&c), "one lookup, one answer for both");
    // B sees that the box is under another booking, and nothing of that booking's.
    assert_eq!(b.status, Status::BookingMismatch);
    assert!(b.holds.is_empty());
    assert_eq!(b.booking_reference, None);
    assert_eq!(b.destination, None);
    assert_eq!(b.key_dates, boxtrace::KeyDates::default());
    assert!(b.visit.is_none() && b.appointment.is_none());
    let shown = serde_json::to_string(&b)?;
    assert!(!shown.contains(BOOKING), "{shown}");

    // Each tenant's web-hook carries its own result.
    let events = drain_outbox(&engine).await?;
    let by_org = |org: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e.org_id == org)
            .map(|e| serde_json::to_value(&e.payload).unwrap_or_default())
            .collect()
    };
    assert_eq!(by_org("org-a").len(), 1);
    assert_eq!(by_org("org-c").len(), 1);
    let b_events = by_org("org-b");
    assert_eq!(b_events.len(), 1);
    assert_eq!(b_events[0]["status"], json!("BOOKING_MISMATCH"));
    assert!(
        !b_events[0].to_string().contains(BOOKING),
        "{}",
        b_events[0]
    );
    Ok(())
}
