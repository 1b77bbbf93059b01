//! Test support for embedders and provider authors (feature `testing`): a scripted tracer,
//! request builders, the store conformance suites ([`store_conformance`]) and
//! [`MemoryJobStore`], a job store in memory that runs the engine on its own.

mod memory;
pub mod provider_contract;
mod scripted;
pub mod store_conformance;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

pub use memory::MemoryJobStore;
pub use scripted::ScriptedTracer;

use crate::model::{ContainerId, ContainerNumber, JobKey, Tenant, TraceKind, TraceRequest};

/// A fixed instant to start test clocks at: 2026-03-02 06:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// A valid ISO 6346 container number derived from `n` (owner code `TSTU`); distinct `n`
/// below 100,000 give distinct numbers.
pub fn container(n: u32) -> ContainerNumber {
    // Each n owns ten serials; stepping to the next serial moves the check value by 6
    // (mod 11), so at most one of the ten has check value 10, which is skipped: its check
    // digit would be 0, accepted for old boxes but ambiguous with check value 0.
    let mut serial = (n % 100_000) * 10;
    loop {
        let prefix = format!("TSTU{serial:06}");
        let check = crate::model::check_value(prefix.as_bytes());
        if check != 10 {
            if let Ok(number) = ContainerNumber::parse(&format!("{prefix}{check}")) {
                return number;
            }
        }
        serial = (serial + 1) % 1_000_000;
    }
}

/// A publish request for `container` at `provider`, with `bookingNumber` for exports.
pub fn request(
    tenant: &Tenant,
    kind: TraceKind,
    provider: &str,
    container: &ContainerNumber,
) -> TraceRequest {
    let mut data = Map::new();
    if kind == TraceKind::Export {
        data.insert("bookingNumber".into(), Value::String("BKG0001".into()));
    }
    TraceRequest {
        key: JobKey {
            tenant: tenant.clone(),
            kind,
            provider_id: provider.to_owned(),
            container: container.as_str().to_owned(),
        },
        container: ContainerId::Validated(container.clone()),
        data,
        origin: Some("test".into()),
    }
}
