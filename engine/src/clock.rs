//! Time, injected: the system clock, a manual clock for tests, an accelerated clock for demos.
//!
//! Everything in the engine that reads the time or waits for it goes through [`Clock`],
//! so that a test or a demo can run days of container life in seconds, deterministically.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// A boxed future that finishes when the clock reaches a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Finishes when [`Clock::now`] reaches `deadline` (at once if it has).
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep;

    /// At most how much clock time passes while `real` wall time does. Leases are clock
    /// time but traces take wall time; the engine sizes leases with this so that a fast
    /// clock cannot let a lease lapse under a running trace. The wall clock and a manual
    /// clock answer `real` itself.
    fn elapsed_during(&self, real: std::time::Duration) -> Duration {
        Duration::from_std(real).unwrap_or(Duration::MAX)
    }
}

/// `at + by`, saturating at the latest representable time instead of overflowing.
pub(crate) fn after(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at + by` for a wall-clock duration, saturating.
pub(crate) fn after_std(at: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    after(at, Duration::from_std(by).unwrap_or(Duration::MAX))
}

/// `at - by` for a wall-clock duration, saturating at the earliest representable time.
pub(crate) fn before_std(at: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    let by = Duration::from_std(by).unwrap_or(Duration::MAX);
    at.checked_sub_signed(by)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The wall clock, with tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to. Sleepers wake when it is advanced past their
/// deadline. Cloning shares the clock.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock forward by `by` (a negative duration is ignored).
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| {
            if by > Duration::zero() {
                *now += by;
            }
        });
    }

    /// Moves the clock to `to`, if that is later than now.
    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_modify(|now| *now = (*now).max(to));
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &*self.now.borrow())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if it is gone, nobody can
            // advance time any more and the sleep never ends, like a real one.
            let _ = rx.wait_for(|now| *now >= deadline).await;
            if rx.has_changed().is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// A clock that runs `factor` times faster than the wall clock from `start`, for demos:
/// with a factor of 3,600 a simulated hour passes every real second.
#[derive(Debug, Clone)]
pub struct AcceleratedClock {
    origin: Instant,
    start: DateTime<Utc>,
    factor: f64,
    offset: Arc<Mutex<Duration>>,
}

impl AcceleratedClock {
    /// Starts at `start` and runs `factor` (at least 1) times faster than real time.
    pub fn new(start: DateTime<Utc>, factor: f64) -> Self {
        Self {
            origin: Instant::now(),
            start,
            factor: factor.max(1.0),
            offset: Arc::new(Mutex::new(Duration::zero())),
        }
    }

    /// Jumps ahead by `by`, as if that much simulated time had passed.
    pub fn skip(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += by.max(Duration::zero());
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.origin.elapsed().as_secs_f64() * self.factor;
        let offset = *self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        self.start + Duration::microseconds((real * 1e6) as i64) + offset
    }

    fn elapsed_during(&self, real: std::time::Duration) -> Duration {
        Duration::from_std(real.mul_f64(self.factor)).unwrap_or(Duration::MAX)
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let clock = self.clone();
        Box::pin(async move {
            // Re-check after each wake-up: a skip may have moved the deadline closer.
            loop {
                let left = deadline - clock.now();
                if left <= Duration::zero() {
                    return;
                }
                let real = left.to_std().unwrap_or_default().div_f64(clock.factor);
                tokio::time::sleep(real.min(std::time::Duration::from_millis(250))).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let sleeper = tokio::spawn(clock.sleep_until(start + Duration::hours(2)));
        clock.advance(Duration::hours(1));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::hours(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), start + Duration::hours(2));
    }

    #[tokio::test]
    async fn accelerated_clock_runs_fast() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = AcceleratedClock::new(start, 3600.0);
        clock.sleep_until(start + Duration::seconds(36)).await;
        assert!(clock.now() >= start + Duration::seconds(36));
    }
}
