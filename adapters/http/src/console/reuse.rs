//! A computed result the console reuses for a while: its pages poll, and what they show
//! (job counts, queue sizes, delays) costs store reads that grow with the store.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a result that took `took` to compute is reused: at least `floor`, and ten
/// times what computing took, so that an open console keeps the store busy a tenth of the
/// time at most, however much there is to read (a count of 100 000 jobs that takes 3 s
/// is reused for 30 s, not read again every 4 s).
pub(super) fn reuse_for(took: Duration, floor: Duration) -> Duration {
    floor.max(took.saturating_mul(10))
}

/// The last result, when it was made and how long it is reused. One computation at a
/// time: callers that arrive meanwhile wait for it and share it.
#[derive(Debug)]
pub(super) struct Reused<T> {
    last: tokio::sync::Mutex<Option<(Instant, Duration, Arc<T>)>>,
}

impl<T> Default for Reused<T> {
    fn default() -> Self {
        Self {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T> Reused<T> {
    /// The last result if it is still fresh (see [`reuse_for`] with `floor`), else a new
    /// one from `compute`. A failed computation is not kept.
    pub(super) async fn get<E, F>(&self, floor: Duration, compute: F) -> Result<Arc<T>, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, ttl, value)) = last.as_ref() {
            if at.elapsed() < *ttl {
                return Ok(value.clone());
            }
        }
        let started = Instant::now();
        let value = Arc::new(compute.await?);
        *last = Some((
            Instant::now(),
            reuse_for(started.elapsed(), floor),
            value.clone(),
        ));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_result_is_reused_longer() {
        let floor = Duration::from_secs(4);
        assert_eq!(reuse_for(Duration::from_millis(20), floor), floor);
        assert_eq!(
            reuse_for(Duration::from_secs(3), floor),
            Duration::from_secs(30)
        );
        assert_eq!(reuse_for(Duration::MAX, floor), Duration::MAX);
    }

    #[tokio::test]
    async fn a_fresh_result_is_not_computed_again() {
        let reused = Reused::<u32>::default();
        let floor = Duration::from_secs(60);
        let first = reused.get(floor, async { Ok::<_, ()>(1) }).await.unwrap();
        let second = reused.get(floor, async { Ok::<_, ()>(2) }).await.unwrap();
        assert_eq!((*first, *second), (1, 1));
        // With no floor, an instant computation is stale (ten times nothing) soon after.
        let stale = Reused::<u32>::default();
        stale
            .get(Duration::ZERO, async { Ok::<_, ()>(1) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = stale
            .get(Duration::ZERO, async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!(*again, 2);
        let failing = Reused::<u32>::default();
        assert!(failing
            .get(floor, async { Err::<u32, _>("down") })
            .await
            .is_err());
        let after = failing.get(floor, async { Ok::<_, ()>(3) }).await.unwrap();
        assert_eq!(*after, 3, "a failure is not kept");
    }
}
