//! Strict patterns at publish: every value that goes into ICTSI's query (the container id,
//! even with `data.normalize = false`, the booking, the terminal) is checked before
//! anything is stored or sent, with an error that names the field and what is accepted.

use boxtrace::{JobKey, ManualClock, Policy, Tenant, TraceKind};
use serde_json::{json, Value};

use crate::support::fake::FakeIctsi;
use crate::support::{engine, t0};

fn publish(kind: &str, id: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "orgId": "org", "svcId": "svc", "type": "CONTAINER",
        "action": format!("TRACE_{kind}_REQUESTED"), "origin": "test",
        "payload": { "id": id, "providerId": "ictsi", "data": data }
    }))
    .expect("serializable")
}

#[tokio::test]
async fn values_that_break_a_pattern_are_refused_at_publish() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let dir = tempfile::tempdir()?;
    let engine = engine(
        &fake,
        &ManualClock::new(t0()),
        &dir,
        Policy::default(),
        json!({}),
    )?;
    let raw = |extra: Value| {
        let mut data = json!({ "locationCode": "MICT", "normalize": false });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        data
    };
    for (kind, id, data, field, accepted) in [
        (
            "EMPTY",
            "CSQU3054383,MSKU9070323",
            raw(json!({})),
            "payload.id",
            "upper-case letters and digits",
        ),
        (
            "EMPTY",
            "csqu3054383",
            raw(json!({})),
            "payload.id",
            "upper-case letters and digits",
        ),
        (
            "EMPTY",
            "CSQU'3054383",
            raw(json!({})),
            "payload.id",
            "upper-case letters and digits",
        ),
        (
            "EXPORT",
            "CSQU3054383",
            json!({ "locationCode": "MICT", "bookingNumber": "B1,B2" }),
            "payload.data.bookingNumber",
            "commas, quotes or spaces",
        ),
        (
            "EXPORT",
            "CSQU3054383",
            json!({ "locationCode": "MICT", "bookingNumber": "B1' OR '1'='1" }),
            "payload.data.bookingNumber",
            "commas, quotes or spaces",
        ),
        (
            "EMPTY",
            "CSQU3054383",
            json!({ "locationCode": "MICT,SBITC" }),
            "payload.data.locationCode",
            "must be one of MICT, SBITC",
        ),
    ] {
        let err = engine
            .handle_event(&publish(kind, id, data))
            .await
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("{field}: ")) && err.contains(accepted),
            "{err}"
        );
    }
    assert!(fake.requests().is_empty(), "nothing sent");

    // An id that is not ISO 6346 but matches the pattern is traced as given.
    engine
        .handle_event(&publish("EMPTY", "TEST1234", raw(json!({}))))
        .await?;
    let key = JobKey {
        tenant: Tenant::new("org", "svc"),
        kind: TraceKind::Empty,
        provider_id: "ictsi".into(),
        container: "TEST1234".into(),
    };
    assert!(engine.get(&key).await?.is_some());
    Ok(())
}
