//! Batch lookups against the fake ICTSI server: one container details call for the boxes
//! of one terminal, container type and booking, one outcome per box, bookings never
//! mixed in one call, long answers paged, cut answers failing only the boxes they cut.

use boxtrace::{ContainerId, ManualClock, Status, TraceError, TraceKind, TraceRequest};
use serde_json::{json, Value};

use crate::support::fake::{records, FakeIctsi, DETAILS};
use crate::support::{credentials, export_data, request, t0, tracer, BOOKING};

/// Box `i`'s number (a valid ISO 6346 number).
fn number(i: u32) -> String {
    boxtrace::testing::container(i).as_str().to_owned()
}

/// The yard fixture's record moved to box `i`, visit `visit` (older visits came in
/// earlier and have departed).
fn yard_record(i: u32, visit: u32) -> Value {
    let mut record = records("export_yard.json").remove(0);
    record["container_nbr"] = json!(number(i));
    record["unique_key"] = json!(format!("ICTSI/PH/MICT/{}", 40_000_000 + i * 10 + visit));
    if visit > 0 {
        record["visit_state"] = json!("3DEPARTED");
        record["transit_state"] = json!("S70_DEPARTED");
        record["time_in"] = json!(format!("2026-01-{:02}T00:00:00Z", 10 + visit));
        record["time_out"] = json!(format!("2026-01-{:02}T12:00:00Z", 10 + visit));
    }
    record
}

fn export(i: u32) -> TraceRequest {
    request(TraceKind::Export, &number(i), export_data())
}

fn details_calls(fake: &FakeIctsi) -> Vec<crate::support::fake::Request> {
    fake.requests()
        .into_iter()
        .filter(|r| r.call == DETAILS)
        .collect()
}

#[tokio::test]
async fn a_batch_is_one_call_and_each_box_gets_its_own_outcome() {
    let fake = FakeIctsi::start().await;
    // Box 0 is in the yard, box 1 unknown, box 2's record has an unknown shape.
    let broken = json!({
        "container_nbr": number(2), "facility_id": "MICT", "category": "EXPRT",
        "something": "else"
    });
    fake.set_containers(vec![yard_record(0, 0), broken])
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let ictsi = tracer(&fake, &clock, json!({}));
    let batch = [export(0), export(1), export(2)];
    let keys: Vec<_> = batch.iter().map(|r| ictsi.batch_key(r)).collect();
    assert!(keys[0].is_some() && keys.iter().all(|k| *k == keys[0]));
    let outcomes = ictsi.trace_batch(&batch, &credentials()).await;
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].as_ref().map(|r| r.status), Ok(Status::GatedIn));
    assert_eq!(outcomes[1], Err(TraceError::NotFound));
    assert!(
        matches!(&outcomes[2], Err(TraceError::Transient { message, .. }) if message.contains("unknown shape")),
        "{:?}",
        outcomes[2]
    );
    let calls = details_calls(&fake);
    assert_eq!(calls.len(), 1, "one call for the three boxes");
    assert_eq!(
        calls[0].query["container-number"],
        format!("{},{},{}", number(0), number(1), number(2))
    );
    assert_eq!(calls[0].query["ms-booking"], BOOKING);
    assert_eq!(calls[0].body, json!({ "offset": 0, "limit": 250 }));

    // Alone, box 0 reads the same: the batch changes nothing in a box's result.
    let alone = ictsi.trace(&export(0), &credentials()).await.unwrap();
    assert!(alone.same_content(outcomes[0].as_ref().unwrap()));
}

#[tokio::test]
async fn boxes_under_different_bookings_never_share_a_call() {
    let fake = FakeIctsi::start().await;
    fake.set_containers(vec![yard_record(0, 0), yard_record(1, 0)])
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let ictsi = tracer(&fake, &clock, json!({}));
    let other = json!({ "locationCode": "MICT", "bookingNumber": "OTHER123" });
    let ours = export(0);
    let theirs = request(TraceKind::Export, &number(0), other);
    let sibling = export(1);
    assert_ne!(ictsi.batch_key(&ours), ictsi.batch_key(&theirs));
    assert_ne!(ictsi.lookup_key(&ours), ictsi.lookup_key(&theirs));
    assert_eq!(ictsi.batch_key(&ours), ictsi.batch_key(&sibling));

    // Even handed to one batch call, the bookings go in separate calls.
    let outcomes = ictsi
        .trace_batch(&[ours, theirs, sibling], &credentials())
        .await;
    let mut asked: Vec<(String, String)> = details_calls(&fake)
        .into_iter()
        .map(|c| {
            (
                c.query["ms-booking"].clone(),
                c.query["container-number"].clone(),
            )
        })
        .collect();
    asked.sort();
    assert_eq!(
        asked,
        vec![
            ("OTHER123".to_owned(), number(0)),
            (BOOKING.to_owned(), format!("{},{}", number(0), number(1))),
        ]
    );
    let mine = outcomes[0].as_ref().unwrap();
    assert_eq!(mine.status, Status::GatedIn);
    assert_eq!(mine.booking_reference.as_deref(), Some(BOOKING));
    let not_mine = outcomes[1].as_ref().unwrap();
    assert_eq!(not_mine.status, Status::BookingMismatch);
    assert_eq!(
        not_mine.booking_reference, None,
        "masked for another booking"
    );
    assert_eq!(not_mine.destination, None, "masked for another booking");
    assert!(not_mine.holds.is_empty() && not_mine.visit.is_none());
    assert_eq!(outcomes[2].as_ref().map(|r| r.status), Ok(Status::GatedIn));
}

#[tokio::test]
async fn long_answers_are_paged() {
    let fake = FakeIctsi::start().await;
    // 100 boxes with four visits each: 400 rows, two pages.
    let rows = (0..100)
        .flat_map(|i| (0..4).map(move |v| yard_record(i, v)))
        .collect();
    fake.set_containers(rows).vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let ictsi = tracer(&fake, &clock, json!({ "limits": { "batchSize": 100 } }));
    let batch: Vec<_> = (0..100).map(export).collect();
    let outcomes = ictsi.trace_batch(&batch, &credentials()).await;
    assert!(
        outcomes
            .iter()
            .all(|o| o.as_ref().map(|r| r.status) == Ok(Status::GatedIn)),
        "every box's current visit, whatever page it came on"
    );
    let offsets: Vec<_> = details_calls(&fake)
        .iter()
        .map(|c| c.body["offset"].clone())
        .collect();
    assert_eq!(offsets, vec![json!(0), json!(250)]);
}

#[tokio::test]
async fn an_answer_cut_by_a_backend_that_ignores_paging_fails_only_the_boxes_it_cut() {
    let fake = FakeIctsi::start().await;
    // 20 boxes with three visits each: the backend's 50 rows end inside box 16.
    let rows = (0..20)
        .flat_map(|i| (0..3).map(move |v| yard_record(i, v)))
        .collect();
    fake.set_containers(rows)
        .vessels("vessel_visit.json")
        .ignoring_paging();
    let clock = ManualClock::new(t0());
    let ictsi = tracer(&fake, &clock, json!({}));
    let batch: Vec<_> = (0..20).map(export).collect();
    let outcomes = ictsi.trace_batch(&batch, &credentials()).await;
    // The fake orders rows by container number, as the backend does.
    let mut numbers: Vec<(String, usize)> = (0..20).map(|i| (number(i), i as usize)).collect();
    numbers.sort();
    for (rank, (_, i)) in numbers.iter().enumerate() {
        let outcome = &outcomes[*i];
        if rank < 16 {
            assert_eq!(outcome.as_ref().map(|r| r.status), Ok(Status::GatedIn));
        } else {
            assert!(
                matches!(outcome, Err(TraceError::Transient { message, .. }) if message.contains("cut")),
                "box ranked {rank}: {outcome:?}"
            );
        }
    }
    assert_eq!(
        details_calls(&fake).len(),
        2,
        "the repeated page stops paging"
    );
}

#[tokio::test]
async fn a_value_that_breaks_a_pattern_fails_its_box_alone_and_is_never_sent() {
    let fake = FakeIctsi::start().await;
    fake.set_containers(vec![yard_record(0, 0)])
        .vessels("vessel_visit.json");
    let clock = ManualClock::new(t0());
    let ictsi = tracer(&fake, &clock, json!({}));
    // Stored before the rules: an unvalidated id with a comma, and a booking with a quote.
    let mut smuggled = export(1);
    smuggled.container = ContainerId::Unvalidated(format!("{},{}", number(1), number(0)));
    let quoted = request(
        TraceKind::Export,
        &number(2),
        json!({ "locationCode": "MICT", "bookingNumber": "B1' OR '1'='1" }),
    );
    let outcomes = ictsi
        .trace_batch(&[export(0), smuggled, quoted], &credentials())
        .await;
    assert_eq!(outcomes[0].as_ref().map(|r| r.status), Ok(Status::GatedIn));
    for outcome in &outcomes[1..] {
        assert_eq!(
            outcome.as_ref().map_err(TraceError::class).err(),
            Some("permanent")
        );
    }
    let calls = details_calls(&fake);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].query["container-number"], number(0));
    assert_eq!(calls[0].query["ms-booking"], BOOKING);
}
