//! Shared set-up: the fake ICTSI server, tracers and engines pointed at it, trace
//! requests and events, and log capture.

pub mod fake;
pub mod logs;

use std::sync::Arc;

use boxtrace::{
    ContainerId, ContainerNumber, Engine, JobKey, ManualClock, Policy, ProviderContext,
    ProviderCredentials, SledStore, StaticCredentials, Tenant, TraceKind, TraceRequest, Tracer,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use self::fake::{FakeIctsi, KEY, SUBSCRIPTION_ID};

/// The box most tests trace.
pub const CONTAINER: &str = "CSQU3054383";
/// The booking it is exported under.
pub const BOOKING: &str = "TASF883714";

/// The tests' epoch: 2026-03-02 06:00 UTC.
pub fn t0() -> DateTime<Utc> {
    boxtrace::testing::t0()
}

/// The fake's subscription.
pub fn credentials() -> ProviderCredentials {
    ProviderCredentials::new()
        .with("subscriptionKey", KEY)
        .with("subscriptionId", SUBSCRIPTION_ID)
}

/// A credentials source with the fake's subscription for `ictsi`.
pub fn static_credentials() -> StaticCredentials {
    StaticCredentials::new().with_provider("ictsi", credentials())
}

/// Provider configuration pointing at `fake`, with `extra` fields merged in.
pub fn config(fake: &FakeIctsi, extra: Value) -> Value {
    let mut config =
        json!({ "baseUrl": fake.url(), "requestTimeout": "2s", "connectTimeout": "1s" });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// The registered `ictsi` provider, pointed at `fake`, on `clock`.
pub fn tracer(fake: &FakeIctsi, clock: &ManualClock, extra: Value) -> Arc<dyn Tracer> {
    let cx = ProviderContext::new()
        .with_clock(Arc::new(clock.clone()))
        .with_config(config(fake, extra));
    boxtrace::build_provider("ictsi", cx).expect("the ictsi provider builds")
}

/// `data` for an export of [`BOOKING`] at MICT.
pub fn export_data() -> Value {
    json!({ "locationCode": "MICT", "bookingNumber": BOOKING })
}

/// `data` for an empty return at MICT.
pub fn empty_data() -> Value {
    json!({ "locationCode": "MICT" })
}

/// `value` as request data.
pub fn data(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// A trace request for a valid container number.
pub fn request(kind: TraceKind, container: &str, data_value: Value) -> TraceRequest {
    let number = ContainerNumber::parse(container).expect("a valid container number");
    TraceRequest {
        key: JobKey {
            tenant: Tenant::new("org", "svc"),
            kind,
            provider_id: "ictsi".into(),
            container: number.as_str().to_owned(),
        },
        container: ContainerId::Validated(number),
        data: data(data_value),
        origin: Some("test".into()),
    }
}

/// A publish event for `container` at `ictsi`; `kind` is `EXPORT` or `EMPTY`.
pub fn event(kind: &str, container: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "orgId": "org", "svcId": "svc", "type": "CONTAINER",
        "action": format!("TRACE_{kind}_REQUESTED"), "origin": "test",
        "payload": { "id": container, "providerId": "ictsi", "data": data }
    }))
    .expect("serializable")
}

/// An engine with the registered `ictsi` provider pointed at `fake`, a sled store in
/// `dir`, the fake's credentials and `clock`.
pub fn engine(
    fake: &FakeIctsi,
    clock: &ManualClock,
    dir: &tempfile::TempDir,
    policy: Policy,
    extra: Value,
) -> anyhow::Result<Engine> {
    Ok(Engine::builder()
        .store(SledStore::open_path(dir.path())?)
        .registered_provider("ictsi", config(fake, extra))
        .credentials(static_credentials())
        .clock(clock.clone())
        .policy(policy)
        .seed(7)
        .build()?)
}
