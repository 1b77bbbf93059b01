//! The demo's clock: it stands at its start while the server, the receiver and the API
//! client are set up, then runs `speed` times faster than real time. Without the wait, a
//! fast demo loses simulated hours to its own start-up, and a replayed file's first
//! boxes would be published hours after their `publishedAt`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use boxtrace::{Clock, Sleep};
use chrono::{DateTime, Duration, Utc};

/// Stands at `start` until [`DemoClock::go`], then runs `speed` times faster than real
/// time.
#[derive(Debug, Clone)]
pub(super) struct DemoClock {
    start: DateTime<Utc>,
    speed: f64,
    origin: Arc<OnceLock<Instant>>,
}

impl DemoClock {
    /// A clock standing at `start`, to run `speed` (at least 1) times faster than real
    /// time once started.
    pub(super) fn new(start: DateTime<Utc>, speed: f64) -> Self {
        Self {
            start,
            speed: speed.max(1.0),
            origin: Arc::new(OnceLock::new()),
        }
    }

    /// Starts the clock (once; later calls change nothing).
    pub(super) fn go(&self) {
        let _ = self.origin.set(Instant::now());
    }

    /// Real time until the clock reaches `at`, once it runs (zero if it has).
    pub(super) fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        (at - self.now())
            .to_std()
            .map(|left| left.div_f64(self.speed))
            .unwrap_or_default()
    }
}

impl Clock for DemoClock {
    fn now(&self) -> DateTime<Utc> {
        let Some(origin) = self.origin.get() else {
            return self.start;
        };
        let run = origin.elapsed().as_secs_f64() * self.speed;
        self.start + Duration::microseconds((run * 1e6) as i64)
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let clock = self.clone();
        Box::pin(async move {
            // Short naps: the clock may start (and so speed up) while this one waits.
            while clock.now() < deadline {
                let nap = clock.real_until(deadline);
                tokio::time::sleep(nap.clamp(
                    std::time::Duration::from_millis(1),
                    std::time::Duration::from_millis(250),
                ))
                .await;
            }
        })
    }

    fn elapsed_during(&self, real: std::time::Duration) -> Duration {
        Duration::from_std(real.mul_f64(self.speed)).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stands_still_until_started_then_runs_fast() {
        let start: DateTime<Utc> = "2026-03-02T06:00:00Z".parse().unwrap();
        let clock = DemoClock::new(start, 3600.0);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(clock.now(), start, "not started yet");
        clock.go();
        clock.sleep_until(start + Duration::seconds(36)).await;
        assert!(clock.now() >= start + Duration::seconds(36));
        assert_eq!(
            clock.elapsed_during(std::time::Duration::from_secs(1)),
            Duration::hours(1)
        );
    }
}
