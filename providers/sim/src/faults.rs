//! Seeded faults: whether one trace fails, and how, drawn from the seed, the box, the
//! trace kind and the clock's time, so that a re-run of the same clock fails the same way.

use boxtrace::TraceKind;
use chrono::{DateTime, Utc};

use crate::config::FaultConfig;
use crate::seed::Key;

/// How a simulated trace fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A transient error, like a 5xx.
    Transient,
    /// No answer: the trace hangs until the engine gives up on it.
    Timeout,
    /// A rate-limit answer, like a 429.
    RateLimited,
}

/// The fault, if any, of the trace of `container`'s `kind` at `at`. One draw in
/// `[0, 1)` is split into the three rates, in the order transient, timeout, rate limited.
pub(crate) fn draw(
    faults: &FaultConfig,
    seed: u64,
    kind: TraceKind,
    container: &str,
    at: DateTime<Utc>,
) -> Option<Fault> {
    let total = faults.transient + faults.timeout + faults.rate_limited;
    if total <= 0.0 {
        return None;
    }
    let u = Key::new("fault", seed)
        .str(container)
        .str(kind.as_str())
        .u64(at.timestamp_millis() as u64)
        .draws()
        .unit();
    if u < faults.transient {
        Some(Fault::Transient)
    } else if u < faults.transient + faults.timeout {
        Some(Fault::Timeout)
    } else if u < total {
        Some(Fault::RateLimited)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn each_rate_gets_its_share() {
        let faults = FaultConfig {
            transient: 0.1,
            timeout: 0.2,
            rate_limited: 0.3,
            ..FaultConfig::default()
        };
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap();
        let mut counts = [0u32; 4];
        for i in 0..10_000 {
            let at = t0 + Duration::seconds(i);
            let slot = match draw(&faults, 1, TraceKind::Export, "CSQU3054383", at) {
                Some(Fault::Transient) => 0,
                Some(Fault::Timeout) => 1,
                Some(Fault::RateLimited) => 2,
                None => 3,
            };
            counts[slot] += 1;
        }
        // Expected 1,000 / 2,000 / 3,000 / 4,000; the bounds are loose on purpose.
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((1750..2250).contains(&counts[1]), "{counts:?}");
        assert!((2700..3300).contains(&counts[2]), "{counts:?}");
        assert!((3700..4300).contains(&counts[3]), "{counts:?}");
    }

    #[test]
    fn the_same_trace_fails_the_same_way() {
        let faults = FaultConfig {
            transient: 0.5,
            ..FaultConfig::default()
        };
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap();
        let first = draw(&faults, 5, TraceKind::Empty, "X", at);
        for _ in 0..10 {
            assert_eq!(draw(&faults, 5, TraceKind::Empty, "X", at), first);
        }
    }
}
