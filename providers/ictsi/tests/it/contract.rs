//! The provider contract, run against the ICTSI tracer and the fake ICTSI server: every
//! situation is one the fake can be switched to, so nothing is skipped; batches included.

use std::time::Duration;

use boxtrace::testing::provider_contract::{Arrangement, ContractCase, Situation, RETRY_AFTER};
use boxtrace::{ManualClock, TraceKind};
use serde_json::json;

use crate::support::fake::{records, FakeIctsi, Fault, DETAILS, KEY, SUBSCRIPTION_ID};
use crate::support::{empty_data, export_data, t0, tracer, BOOKING, CONTAINER};

#[tokio::test]
async fn the_ictsi_provider_keeps_the_provider_contract() {
    let fake = FakeIctsi::start().await;
    let clock = ManualClock::new(t0());
    // A request timeout well under the slow answer's delay: the provider gives up first.
    let ictsi = tracer(&fake, &clock, json!({ "requestTimeout": "500ms" }));
    let unknown = boxtrace::testing::container(5).as_str().to_owned();
    let unreadable = boxtrace::testing::container(6).as_str().to_owned();
    let report = ContractCase::new(ictsi)
        .registered()
        .credential("subscriptionKey", KEY)
        .credential("subscriptionId", SUBSCRIPTION_ID)
        .container(CONTAINER)
        .valid_data(TraceKind::Export, export_data())
        .valid_data(TraceKind::Empty, empty_data())
        .invalid_data(
            TraceKind::Export,
            json!({ "bookingNumber": BOOKING }),
            "locationCode",
        )
        .invalid_data(
            TraceKind::Export,
            json!({ "locationCode": "MNL", "bookingNumber": BOOKING }),
            "locationCode",
        )
        .invalid_data(
            TraceKind::Export,
            json!({ "locationCode": "MICT" }),
            "bookingNumber",
        )
        .invalid_data(
            TraceKind::Export,
            json!({ "locationCode": "MICT", "bookingNumber": " " }),
            "bookingNumber",
        )
        .invalid_data(TraceKind::Empty, json!({}), "locationCode")
        .invalid_data(
            TraceKind::Empty,
            json!({ "locationCode": "mict" }),
            "locationCode",
        )
        // A batch: the box in the yard, a box ICTSI does not know, and a box whose record
        // has an unknown shape (a format error for that box alone).
        .batch(
            TraceKind::Export,
            Arrangement::default(),
            Arrangement::default().with_container(&unknown),
            Arrangement::default().with_container(&unreadable),
        )
        .run(|situation: Situation, _kind: TraceKind| {
            // The box's export visit in the yard and its empty return, with its vessel; the
            // fake picks the visit by container type.
            let mut visits = records("export_yard.json");
            visits.extend(records("empty_returned.json"));
            visits.push(json!({
                "container_nbr": unreadable, "facility_id": "MICT", "category": "EXPRT",
                "state": "which one?"
            }));
            fake.heal()
                .set_containers(visits)
                .vessels("vessel_visit.json");
            match situation {
                Situation::Found => {}
                Situation::NotFound => {
                    fake.set_containers(Vec::new());
                }
                Situation::CredentialsRejected => {
                    fake.fail(DETAILS, Fault::status(401));
                }
                Situation::RateLimited => {
                    let seconds = RETRY_AFTER.as_secs().to_string();
                    fake.fail(DETAILS, Fault::status(429).header("Retry-After", &seconds));
                }
                Situation::ServerError => {
                    fake.fail(DETAILS, Fault::status(500));
                }
                Situation::MalformedBody => {
                    fake.fail(
                        DETAILS,
                        Fault::body("<html><body>Bad gateway</body></html>"),
                    );
                }
                Situation::Slow => {
                    fake.fail(DETAILS, Fault::delay(Duration::from_secs(2)));
                }
            }
            Arrangement::default()
        })
        .await;
    assert!(report.skipped().is_empty(), "{report}");
}
