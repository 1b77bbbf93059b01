//! The provider is selectable by id, refuses bad configuration and bad `data`, and tells
//! the engine its polite limits.

use std::time::Duration;

use boxtrace::{
    Engine, JobKey, ManualClock, ProviderContext, ProviderLimits, SledStore, Tenant, TraceKind,
    Workflow,
};
use boxtrace_ictsi::{IctsiConfig, IctsiTracer, Terminal};
use serde_json::json;

use crate::support::fake::FakeIctsi;
use crate::support::{data, event, static_credentials, t0, CONTAINER};

#[test]
fn ictsi_is_registered_and_built_by_id() {
    let ids: Vec<_> = boxtrace::registered_providers()
        .iter()
        .map(|r| r.id())
        .collect();
    assert!(ids.contains(&"ictsi"), "{ids:?}");
    let tracer = boxtrace::build_provider("ictsi", ProviderContext::new()).expect("defaults build");
    assert_eq!(tracer.id(), "ictsi");
    assert_eq!(tracer.workflow(), Workflow::RealTime);
    let limits = tracer.limits();
    assert_eq!(limits.concurrency, 4);
    assert_eq!(limits.rate_per_second, Some(5));
    assert_eq!(limits.burst, 5);
    assert!(
        limits.trace_timeout < Duration::from_secs(60),
        "shorter than the engine's lease"
    );
}

#[test]
fn bad_configuration_names_the_field() {
    for (config, field) in [
        (json!({ "baseUrl": "api.ictsi.net" }), "baseUrl"),
        (
            json!({ "limits": { "concurrency": 0 } }),
            "limits.concurrency",
        ),
        (json!({ "requestTimeout": "soon" }), "requestTimeout"),
    ] {
        let cx = ProviderContext::new().with_config(config);
        let err = boxtrace::build_provider("ictsi", cx)
            .expect_err("refused")
            .to_string();
        assert!(err.contains(field), "{err}");
    }
    let config = IctsiConfig {
        base_url: "https://user:s3cret@api.ictsi.net/".into(),
        ..IctsiConfig::default()
    };
    let err = IctsiTracer::new(config, &ProviderContext::new()).expect_err("refused");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test]
async fn the_engine_refuses_bad_data_at_publish_and_stores_nothing() -> anyhow::Result<()> {
    let fake = FakeIctsi::start().await;
    let dir = tempfile::tempdir()?;
    let engine = crate::support::engine(
        &fake,
        &ManualClock::new(t0()),
        &dir,
        boxtrace::Policy::default(),
        json!({}),
    )?;
    for (kind, data, field, message) in [
        (
            "EMPTY",
            json!({}),
            "payload.data.locationCode",
            "must be one of MICT, SBITC",
        ),
        (
            "EMPTY",
            json!({ "locationCode": "MNL" }),
            "payload.data.locationCode",
            "must be one of MICT, SBITC",
        ),
        (
            "EXPORT",
            json!({ "locationCode": "MICT" }),
            "payload.data.bookingNumber",
            "",
        ),
    ] {
        let err = engine
            .handle_event(&event(kind, CONTAINER, data))
            .await
            .expect_err("refused")
            .to_string();
        assert!(err.contains(field) && err.contains(message), "{err}");
    }
    let key = |kind| JobKey {
        tenant: Tenant::new("org", "svc"),
        kind,
        provider_id: "ictsi".into(),
        container: CONTAINER.into(),
    };
    assert!(engine.get(&key(TraceKind::Empty)).await?.is_none());
    assert!(engine.get(&key(TraceKind::Export)).await?.is_none());
    assert_eq!(fake.requests().len(), 0, "validation makes no call");

    // Unknown keys are tolerated; SBITC is accepted.
    let data_value = json!({ "locationCode": "SBITC", "bookingNumber": "B1", "vesselHint": "x" });
    engine
        .handle_event(&event("EXPORT", CONTAINER, data_value))
        .await?;
    Ok(())
}

#[tokio::test]
async fn configured_limits_reach_the_engine() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::builder()
        .store(SledStore::open_path(dir.path())?)
        .registered_provider(
            "ictsi",
            json!({ "limits": { "concurrency": 1, "traceTimeout": "5s" } }),
        )
        .provider_limits("ictsi", ProviderLimits::default().with_concurrency(2))
        .credentials(static_credentials())
        .build()?;
    assert_eq!(engine.providers(), ["ictsi"]);
    let direct = IctsiTracer::new(
        serde_json::from_value(json!({ "limits": { "concurrency": 1 } }))?,
        &ProviderContext::new(),
    )?;
    assert_eq!(boxtrace::Tracer::limits(&direct).concurrency, 1);
    assert_eq!(boxtrace::Tracer::limits(&direct).rate_per_second, Some(5));
    let _ = data(json!({}));
    assert_eq!(Terminal::Sbitc.un_locode(), "PHSFS");
    Ok(())
}
