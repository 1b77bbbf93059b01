//! Shared set-up: a fixed epoch, a manual clock, simulated tracers and trace requests.

use std::sync::Arc;

use boxtrace::{
    ContainerId, ContainerNumber, JobKey, ManualClock, Status, Tenant, TraceError, TraceKind,
    TraceRequest, TraceResult,
};
use boxtrace_sim::{SimConfig, SimModel, SimTracer};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// The epoch of every test terminal: 2026-03-02 06:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

/// A terminal of the `independent` model (the lifecycles of 2026-11) with `seed`, its
/// epoch at [`t0`], and the manual clock it reads.
pub fn sim(seed: u64) -> (SimTracer, ManualClock) {
    sim_with(SimConfig {
        seed,
        model: SimModel::Independent,
        ..SimConfig::default()
    })
}

/// A terminal with `config`, on a manual clock standing at [`t0`] (its default epoch).
pub fn sim_with(config: SimConfig) -> (SimTracer, ManualClock) {
    let clock = ManualClock::new(t0());
    (SimTracer::new(config, Arc::new(clock.clone())), clock)
}

/// `value` as request data.
pub fn data(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// Export data with a booking and, when given, a scenario.
pub fn export_data(scenario: Option<&str>) -> Map<String, Value> {
    let mut data = data(serde_json::json!({ "bookingNumber": "BKG0001" }));
    if let Some(scenario) = scenario {
        data.insert("scenario".into(), Value::String(scenario.into()));
    }
    data
}

/// Container ids for bulk checks. The terminal does not validate them.
pub fn boxes(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!("SIMU{i:06}"))
}

/// A trace request for a valid container number.
pub fn request(kind: TraceKind, container: &str, data: Map<String, Value>) -> TraceRequest {
    let number = ContainerNumber::parse(container).expect("a valid container number");
    TraceRequest {
        key: JobKey {
            tenant: Tenant::new("org", "svc"),
            kind,
            provider_id: "sim".into(),
            container: number.as_str().to_owned(),
        },
        container: ContainerId::Validated(number),
        data,
        origin: Some("test".into()),
    }
}

/// The status a trace answer stands for: a `NotFound` error is `Status::NotFound`, as
/// the engine records it.
pub fn status_of(answer: &Result<TraceResult, TraceError>) -> Option<Status> {
    match answer {
        Ok(result) => Some(result.status),
        Err(TraceError::NotFound) => Some(Status::NotFound),
        Err(_) => None,
    }
}

/// The timeline's status at `at`: the last change at or before it (the first before
/// the timeline starts).
pub fn timeline_status_at(timeline: &[(DateTime<Utc>, Status)], at: DateTime<Utc>) -> Status {
    timeline
        .iter()
        .take_while(|(t, _)| *t <= at)
        .last()
        .or(timeline.first())
        .map(|(_, s)| *s)
        .expect("a non-empty timeline")
}
