//! The provider registry: linking the crate registers `sim`, and its factory reads the
//! configuration and the context's clock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use boxtrace::{
    build_provider, registered_providers, ManualClock, ProviderBuildError, ProviderContext,
    ProviderCredentials, Status, TraceKind, Workflow,
};
use chrono::Duration;
use serde_json::json;

use crate::support::{export_data, request, t0};

#[test]
fn linking_the_crate_registers_sim() {
    let sim = registered_providers()
        .into_iter()
        .find(|r| r.id() == "sim")
        .expect("sim is registered");
    assert_eq!(
        sim.description(),
        "Simulated terminal: seeded realistic lifecycles, latency and faults"
    );
}

#[test]
fn builds_from_configuration() {
    let tracer = build_provider(
        "sim",
        ProviderContext::new().with_config(json!({ "seed": 7 })),
    )
    .expect("builds");
    assert_eq!(tracer.id(), "sim");
    assert_eq!(tracer.workflow(), Workflow::RealTime);
    let limits = tracer.limits();
    assert_eq!(limits.concurrency, 1024);
    assert_eq!(limits.rate_per_second, None);
    assert_eq!(limits.trace_timeout, StdDuration::from_secs(10));

    let tracer = build_provider(
        "sim",
        ProviderContext::new().with_config(json!({
            "workflow": "providerDriven",
            "limits": { "concurrency": 4, "ratePerSecond": 10, "burst": 5, "traceTimeout": "2s" }
        })),
    )
    .expect("builds");
    assert_eq!(tracer.workflow(), Workflow::ProviderDriven);
    assert_eq!(tracer.limits().concurrency, 4);
    assert_eq!(tracer.limits().trace_timeout, StdDuration::from_secs(2));
    assert!(
        build_provider("sim", ProviderContext::new()).is_ok(),
        "no configuration"
    );
}

#[test]
fn refuses_bad_configuration() {
    for config in [
        json!({ "seed": "seven" }),
        json!({ "latency": "soon" }),
        json!({ "faults": { "transient": 1.5 } }),
        json!({ "faults": { "timeout": -0.1 } }),
        json!({ "faults": { "transient": 0.5, "timeout": 0.3, "rateLimited": 0.3 } }),
    ] {
        let err = build_provider("sim", ProviderContext::new().with_config(config.clone()))
            .expect_err("refused");
        assert!(
            matches!(err, ProviderBuildError::Config(_)),
            "{config}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_epoch_defaults_to_the_context_clock_at_build() {
    let clock = ManualClock::new(t0());
    let cx = ProviderContext::new()
        .with_clock(Arc::new(clock.clone()))
        .with_config(json!({ "seed": 7 }));
    let tracer = build_provider("sim", cx).expect("builds");
    let request = request(TraceKind::Export, "CSQU3054383", export_data(None));
    let credentials = ProviderCredentials::new();
    let first = tracer.trace(&request, &credentials).await.expect("answers");
    assert_eq!(first.status, Status::BookingNotFound);
    clock.advance(Duration::days(10));
    let last = tracer.trace(&request, &credentials).await.expect("answers");
    assert_eq!(last.status, Status::Departed);
}

#[test]
fn unknown_keys_are_refused_with_the_accepted_ones() {
    for (config, key, accepted) in [
        (json!({ "sed": 7 }), "sed", "seed"),
        (
            json!({ "faults": { "transiant": 0.1 } }),
            "transiant",
            "transient",
        ),
        (
            json!({ "limits": { "concurency": 2 } }),
            "concurency",
            "concurrency",
        ),
    ] {
        let err = build_provider("sim", ProviderContext::new().with_config(config.clone()))
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{config}: {err}"
        );
        assert!(
            err.contains(&format!("`{accepted}`")),
            "lists the accepted keys: {err}"
        );
    }
}
