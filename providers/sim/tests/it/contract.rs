//! The provider contract, run against the simulated terminal: `data.scenario` and the fault
//! configuration put it in every situation it can be in; the two it cannot be in are
//! skipped, with the reason.

use std::sync::Arc;

use boxtrace::testing::provider_contract::{Arrangement, ContractCase, Situation, RETRY_AFTER};
use boxtrace::{TraceKind, Tracer};
use boxtrace_sim::{FaultConfig, SimConfig, SimTracer};
use chrono::Duration;
use serde_json::json;

use crate::support::{sim_with, t0};

// Paused time: the slow situation waits out the sim's 10 s trace timeout instantly.
#[tokio::test(start_paused = true)]
async fn the_simulated_terminal_keeps_the_provider_contract() {
    let config = SimConfig {
        seed: 7,
        ..SimConfig::default()
    };
    let (sim, clock) = sim_with(config.clone());
    // The sim draws faults from its configuration: a situation with a fault gets a terminal
    // that always fails that way, with the same seed, epoch and clock.
    let failing = |faults: FaultConfig| -> Arc<dyn Tracer> {
        let config = SimConfig {
            faults,
            epoch: Some(t0()),
            ..config.clone()
        };
        Arc::new(SimTracer::new(config, Arc::new(clock.clone())))
    };
    let report = ContractCase::new(Arc::new(sim))
        .registered()
        .container("CSQU3054383")
        .valid_data(TraceKind::Export, json!({ "bookingNumber": "TASF883714" }))
        .valid_data(TraceKind::Empty, json!({}))
        .invalid_data(
            TraceKind::Export,
            json!({ "bookingNumber": "TASF883714", "scenario": "later" }),
            "scenario",
        )
        .invalid_data(TraceKind::Empty, json!({ "scenario": 3 }), "scenario")
        // A batch of one terminal: a box the terminal has, one it does not know, and one
        // it refuses (the scenarios steer the simulated terminal box by box).
        .batch(
            TraceKind::Export,
            Arrangement::default(),
            Arrangement::default()
                .with_container("MSKU9070323")
                .with_data("scenario", json!("not-found")),
            Arrangement::default()
                .with_container("TGHU1234567")
                .with_data("scenario", json!("rejected")),
        )
        .skip(
            Situation::CredentialsRejected,
            "the simulated terminal takes no credentials",
        )
        .skip(
            Situation::MalformedBody,
            "the simulated terminal has no wire format to break",
        )
        .run(|situation: Situation, _kind: TraceKind| {
            // A month in, every box is known to the terminal: an export loaded and gone
            // with its vessel, an empty returned (generated returns come within 30 days).
            clock.set(t0() + Duration::days(31));
            let always = FaultConfig::default();
            match situation {
                Situation::Found => Arrangement::default(),
                Situation::NotFound => {
                    Arrangement::default().with_data("scenario", json!("not-found"))
                }
                Situation::RateLimited => {
                    Arrangement::default().with_tracer(failing(FaultConfig {
                        rate_limited: 1.0,
                        retry_after: RETRY_AFTER,
                        ..always
                    }))
                }
                Situation::ServerError => {
                    Arrangement::default().with_tracer(failing(FaultConfig {
                        transient: 1.0,
                        ..always
                    }))
                }
                Situation::Slow => Arrangement::default().with_tracer(failing(FaultConfig {
                    timeout: 1.0,
                    ..always
                })),
                Situation::CredentialsRejected | Situation::MalformedBody => {
                    unreachable!("skipped: {situation}")
                }
            }
        })
        .await;
    assert_eq!(report.skipped().len(), 2, "{report}");
}
