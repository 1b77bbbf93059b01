//! boxtrace's benchmarks: the macro harness (`boxtrace-bench`, one module per scenario),
//! and fixtures shared with the criterion micro-benchmarks.
//!
//! `benches/README.md` says how to run each figure; `benches/RESULTS.md` holds them.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod load;
pub mod options;
pub mod postgres_schema;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;

use boxtrace::testing::{container, request};
use boxtrace::{Tenant, TraceKind, TraceRequest};

/// An export request event as a client sends it, for container `n`.
pub fn export_event(n: u32) -> Vec<u8> {
    let body = serde_json::json!({
        "orgId": "3b42ff39-d731-43f6-a8a2-1b257f87469e",
        "svcId": "7cd437c3-f25a-4e22-b221-47b6485f140d",
        "type": "CONTAINER",
        "action": "TRACE_EXPORT_REQUESTED",
        "origin": "bench",
        "payload": {
            "id": container(n).as_str(),
            "providerId": "sim",
            "data": { "locationCode": "MICT", "bookingNumber": "TASF883714" }
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A validated export request for container `n` at provider `sim`.
pub fn export_request(n: u32) -> TraceRequest {
    request(
        &Tenant::new("bench-org", "bench-svc"),
        TraceKind::Export,
        "sim",
        &container(n),
    )
}

/// Resident memory of this process (`VmRSS`), in MiB; `None` off Linux.
pub fn rss_mib() -> Option<f64> {
    proc_status_kib(std::process::id(), "VmRSS:").map(|kib| kib as f64 / 1024.0)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`); `None` off Linux.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
