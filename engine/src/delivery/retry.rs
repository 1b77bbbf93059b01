//! When a failed delivery is tried again: the schedule's step with jitter drawn from a
//! seedable source, never sooner than the destination asked, up to the longest step.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::DeliveryConfig;

/// What to do after the `attempt`-th failure (0 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Try again after this long.
    RetryAfter(Duration),
    /// The schedule is spent: bury.
    Bury,
}

/// The retry schedule with its random source.
#[derive(Debug)]
pub(super) struct Retries {
    schedule: Vec<Duration>,
    longest: Duration,
    jitter: f64,
    rng: Mutex<StdRng>,
}

impl Retries {
    pub(super) fn new(config: &DeliveryConfig) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            schedule: config.retry_schedule.clone(),
            longest: config.longest_step(),
            jitter: config.jitter(),
            rng: Mutex::new(rng),
        }
    }

    /// The wait after failure number `attempt` (0-based), given the destination's hint.
    pub(super) fn next(&self, attempt: u32, asked: Option<Duration>) -> Next {
        let Some(step) = self.schedule.get(attempt as usize) else {
            return Next::Bury;
        };
        let draw: f64 = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0.0..=self.jitter);
        Next::RetryAfter(delay(*step, 1.0 - draw, asked, self.longest))
    }
}

/// The delay before the next attempt: the schedule's `step` scaled by `spread` (the
/// jitter draw), and never sooner than a destination asked, up to the schedule's
/// `longest` step so that a destination cannot park an event for longer than the
/// schedule would.
pub(super) fn delay(
    step: Duration,
    spread: f64,
    asked: Option<Duration>,
    longest: Duration,
) -> Duration {
    let scheduled = step.mul_f64(spread);
    match asked {
        Some(asked) => scheduled.max(asked.min(longest)),
        None => scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_asked_wait_is_honoured_up_to_the_longest_step() {
        let longest = s(3600);
        assert_eq!(delay(s(5), 0.9, None, longest), s(5).mul_f64(0.9));
        assert_eq!(delay(s(5), 1.0, Some(s(7)), longest), s(7));
        // A destination that asks for less than the schedule still waits the schedule.
        assert_eq!(delay(s(300), 1.0, Some(s(7)), longest), s(300));
        // A destination cannot park an event past the schedule's longest step.
        assert_eq!(delay(s(5), 1.0, Some(s(86_400)), longest), longest);
    }

    #[test]
    fn draws_stay_within_the_jitter_and_repeat_with_the_seed() {
        let config = DeliveryConfig {
            retry_schedule: vec![s(100), s(1000)],
            jitter: 0.2,
            seed: Some(7),
            ..DeliveryConfig::default()
        };
        let (a, b) = (Retries::new(&config), Retries::new(&config));
        for _ in 0..200 {
            let Next::RetryAfter(d) = a.next(0, None) else {
                panic!("the first step retries");
            };
            assert!(d >= s(80) && d <= s(100), "{d:?}");
            assert_eq!(
                b.next(0, None),
                Next::RetryAfter(d),
                "same seed, same draws"
            );
        }
        assert!(matches!(a.next(1, None), Next::RetryAfter(d) if d >= s(800)));
        assert_eq!(a.next(2, None), Next::Bury, "the schedule is spent");
        let wild = DeliveryConfig {
            jitter: f64::NAN,
            seed: Some(1),
            ..config
        };
        assert_eq!(Retries::new(&wild).next(0, None), Next::RetryAfter(s(100)));
    }
}
