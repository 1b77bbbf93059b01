//! `validate` and the scenarios that end every trace the same way.

use boxtrace::{DataError, PermanentReason, ProviderCredentials, TraceError, TraceKind, Tracer};
use serde_json::json;

use crate::support::{data, export_data, request, sim};

const KINDS: [TraceKind; 2] = [TraceKind::Export, TraceKind::Empty];

#[test]
fn accepts_every_scenario_absent_scenario_and_unknown_keys() {
    let (sim, _) = sim(1);
    for kind in KINDS {
        assert_eq!(sim.validate(kind, &serde_json::Map::new()), Ok(()));
        assert_eq!(
            sim.validate(kind, &data(json!({ "whatever": [1, 2] }))),
            Ok(())
        );
        for scenario in ["standard", "hold", "no-hold", "not-found", "rejected"] {
            let d = data(json!({ "bookingNumber": "B1", "scenario": scenario, "x": 1 }));
            assert_eq!(sim.validate(kind, &d), Ok(()), "{scenario}");
        }
    }
}

#[test]
fn refuses_an_unknown_or_non_string_scenario_naming_the_accepted_ones() {
    let (sim, _) = sim(1);
    let expected = DataError {
        field: "scenario".into(),
        message: "must be one of standard, hold, no-hold, not-found, rejected".into(),
    };
    for kind in KINDS {
        for bad in [
            json!("Hold"),
            json!(""),
            json!("delayed"),
            json!(1),
            json!(true),
            json!(null),
            json!({}),
        ] {
            let d = data(json!({ "scenario": bad }));
            assert_eq!(sim.validate(kind, &d), Err(expected.clone()), "{bad}");
        }
    }
}

#[tokio::test]
async fn not_found_and_rejected_answer_every_trace_alike() {
    let (sim, clock) = sim(1);
    let credentials = ProviderCredentials::new();
    for kind in KINDS {
        let lost = request(kind, "CSQU3054383", export_data(Some("not-found")));
        let refused = request(kind, "CSQU3054383", export_data(Some("rejected")));
        assert!(sim.timeline(kind, "CSQU3054383", &refused.data).is_empty());
        for _ in 0..5 {
            assert_eq!(
                sim.trace(&lost, &credentials).await,
                Err(TraceError::NotFound)
            );
            let err = sim.trace(&refused, &credentials).await.unwrap_err();
            assert!(matches!(
                err,
                TraceError::Permanent {
                    reason: PermanentReason::RequestRejected,
                    ..
                }
            ));
            clock.advance(chrono::Duration::days(3));
        }
    }
}
