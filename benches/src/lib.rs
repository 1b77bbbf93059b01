//! boxtrace's benchmarks: the macro harness (`boxtrace-bench`, one module per scenario),
//! and fixtures shared with the criterion micro-benchmarks.
//!
//! `benches/README.md` says how to run each figure; `benches/RESULTS.md` holds them.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod baseline;
pub mod disk;
pub mod lifecycles;
pub mod load;
pub mod options;
pub mod postgres_schema;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;

use boxtrace::testing::request;
use boxtrace::{check_value, ContainerNumber, Tenant, TraceKind, TraceRequest};

/// A distinct valid container number for every `n` below 17,576 million: owner code from
/// `n / 1,000,000`, serial `n % 1,000,000`. Where category `U` would need the reserved
/// check value 10, `J` is used (it moves the check value by 3), so no `n` is skipped.
pub fn bench_container(n: u64) -> ContainerNumber {
    let mut owner = n / 1_000_000;
    let mut letters = [b'A'; 3];
    for slot in letters.iter_mut().rev() {
        *slot = b'A' + (owner % 26) as u8;
        owner /= 26;
    }
    let serial = n % 1_000_000;
    for category in [b'U', b'J'] {
        let mut prefix = format!(
            "{}{}{serial:06}",
            String::from_utf8_lossy(&letters),
            category as char
        );
        let check = check_value(prefix.as_bytes());
        if check < 10 {
            prefix.push(char::from(b'0' + check as u8));
            if let Ok(number) = ContainerNumber::parse(&prefix) {
                return number;
            }
        }
    }
    unreachable!("category J always gives a usable check value where U does not")
}

/// An export request event as a client sends it, for container `n`.
pub fn export_event(n: u64) -> Vec<u8> {
    let body = serde_json::json!({
        "orgId": server::ORG,
        "svcId": server::SVC,
        "type": "CONTAINER",
        "action": "TRACE_EXPORT_REQUESTED",
        "origin": "bench",
        "payload": {
            "id": bench_container(n).as_str(),
            "providerId": "sim",
            "data": { "locationCode": "MICT", "bookingNumber": "TASF883714" }
        }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A validated export request for container `n` at provider `sim`.
pub fn export_request(n: u64) -> TraceRequest {
    request(
        &Tenant::new(server::ORG, server::SVC),
        TraceKind::Export,
        "sim",
        &bench_container(n),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_containers_are_distinct_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for n in (0..30_000u64)
            .chain(999_990..1_000_010)
            .chain([17_575_999_999])
        {
            assert!(
                seen.insert(bench_container(n).as_str().to_owned()),
                "{n} repeats"
            );
        }
    }
}
