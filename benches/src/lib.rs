//! Shared fixtures for boxtrace's benchmarks: sample events and requests.

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
