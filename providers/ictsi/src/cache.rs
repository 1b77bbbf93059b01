//! The vessel visit cache: one call per vessel visit per TTL, however many boxes ride on it.
//!
//! Each visit has a slot behind an async lock, so that when many traces of boxes on one
//! vessel run at once, the first asks ICTSI and the others wait for its answer instead of
//! asking too. An answer of "no such visit" is cached as well. A failed call leaves the
//! slot as it was; a stale answer is then used rather than failing the trace, because
//! cut-offs change rarely and a container's status does not depend on them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use boxtrace::{Clock, TraceError};
use chrono::{DateTime, Utc};

use crate::wire::VesselVisit;

/// Above this many slots, expired ones are dropped when a new visit is added. Slots that
/// are fresh are bounded by the visits traced within one TTL.
const PRUNE_ABOVE: usize = 4096;

/// (terminal code, vessel visit id).
type Key = (String, String);

#[derive(Debug, Clone)]
struct Entry {
    fetched_at: DateTime<Utc>,
    visit: Option<VesselVisit>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Vessel visits by terminal and visit id, fresh for a TTL on the engine's clock.
pub(crate) struct VesselVisitCache {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<Key, Slot>>,
}

impl VesselVisitCache {
    /// A cache whose answers are fresh for `ttl` (zero: never cached).
    pub(crate) fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl,
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The visit `visit_id` at `terminal`, from the cache while fresh, else from `fetch`.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        terminal: &str,
        visit_id: &str,
        fetch: F,
    ) -> Result<Option<VesselVisit>, TraceError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<VesselVisit>, TraceError>>,
    {
        if self.ttl.is_zero() {
            return fetch().await;
        }
        let slot = self.slot((terminal.to_owned(), visit_id.to_owned()));
        // Held across the call on purpose: concurrent traces of the same visit wait here.
        let mut entry = slot.lock().await;
        if let Some(fresh) = entry.as_ref().filter(|e| self.is_fresh(e)) {
            return Ok(fresh.visit.clone());
        }
        match fetch().await {
            Ok(visit) => {
                *entry = Some(Entry {
                    fetched_at: self.clock.now(),
                    visit: visit.clone(),
                });
                Ok(visit)
            }
            Err(error @ TraceError::Permanent { .. }) => Err(error),
            Err(error) => match entry.as_ref() {
                Some(stale) => {
                    tracing::debug!(terminal, visit_id, %error, "using a stale vessel visit");
                    Ok(stale.visit.clone())
                }
                None => Err(error),
            },
        }
    }

    fn is_fresh(&self, entry: &Entry) -> bool {
        let age = (self.clock.now() - entry.fetched_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        age < self.ttl
    }

    fn slot(&self, key: Key) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if !slots.contains_key(&key) && slots.len() >= PRUNE_ABOVE {
            // A slot that is locked is in use; one that is empty or stale can go.
            slots.retain(|_, slot| {
                slot.try_lock().map_or(true, |entry| {
                    entry.as_ref().is_some_and(|e| self.is_fresh(e))
                })
            });
        }
        slots.entry(key).or_default().clone()
    }

    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl std::fmt::Debug for VesselVisitCache {
    // The size, not the contents: a tracer's `Debug` stays readable with thousands of
    // visits cached.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VesselVisitCache")
            .field("ttl", &self.ttl)
            .field("visits", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxtrace::ManualClock;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn visit(id: &str) -> VesselVisit {
        VesselVisit {
            carrier_visit_id: Some(id.to_owned()),
            ..VesselVisit::default()
        }
    }

    fn cache(ttl_secs: u64) -> (VesselVisitCache, ManualClock) {
        let clock = ManualClock::new(
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 6, 0, 0).unwrap(),
        );
        (
            VesselVisitCache::new(Duration::from_secs(ttl_secs), Arc::new(clock.clone())),
            clock,
        )
    }

    type Fetched =
        std::pin::Pin<Box<dyn Future<Output = Result<Option<VesselVisit>, TraceError>> + Send>>;

    /// A fetch that counts its calls and takes a moment, so that concurrent callers meet.
    fn counted(calls: &Arc<AtomicU32>) -> impl Fn() -> Fetched {
        let calls = calls.clone();
        move || {
            let calls = calls.clone();
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Some(visit("V1")))
            })
        }
    }

    #[tokio::test]
    async fn concurrent_traces_of_one_visit_make_one_call() {
        let (cache, clock) = cache(600);
        let cache = Arc::new(cache);
        let calls = Arc::new(AtomicU32::new(0));
        let mut traces = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (cache, fetch) = (cache.clone(), counted(&calls));
            traces.spawn(async move { cache.get_or_fetch("MICT", "V1", fetch).await });
        }
        while let Some(answer) = traces.join_next().await {
            assert!(answer.unwrap().unwrap().is_some());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        clock.advance(chrono::Duration::seconds(601));
        cache
            .get_or_fetch("MICT", "V1", counted(&calls))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "expired after the TTL");
        cache
            .get_or_fetch("SBITC", "V1", counted(&calls))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "keyed by terminal too");
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_stale_answers_cover_them() {
        let (cache, clock) = cache(60);
        let fail = || async { Err(TraceError::transient("down")) };
        assert!(cache.get_or_fetch("MICT", "V1", fail).await.is_err());
        let ok = || async { Ok(Some(visit("V1"))) };
        assert!(cache
            .get_or_fetch("MICT", "V1", ok)
            .await
            .unwrap()
            .is_some());
        clock.advance(chrono::Duration::seconds(120));
        let stale = cache.get_or_fetch("MICT", "V1", fail).await.unwrap();
        assert_eq!(stale, Some(visit("V1")));
        let refused = || async {
            Err(TraceError::Permanent {
                reason: boxtrace::PermanentReason::CredentialsRejected,
                message: "no".into(),
            })
        };
        assert!(cache.get_or_fetch("MICT", "V1", refused).await.is_err());
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn a_zero_ttl_never_caches() {
        let (cache, _clock) = cache(0);
        let calls = AtomicU32::new(0);
        for _ in 0..3 {
            cache
                .get_or_fetch("MICT", "V1", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(cache.len(), 0);
    }
}
