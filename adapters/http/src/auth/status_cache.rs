//! What the token check needs of a client (its tenant, if it is active), kept in memory
//! for a bounded time so that an authenticated request does not read the store.
//!
//! Bounds: an entry is trusted for `ttl` after the store read that filled it, so a
//! revocation written by another process (a second server on PostgreSQL, the CLI on
//! the database) takes effect within `ttl`; a revocation through this process removes
//! the entry at once. At most `capacity` entries are kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use boxtrace::Tenant;
use tokio::time::Instant;

/// How long a client's status is trusted without a store read, by default.
pub const DEFAULT_CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Most clients whose status is kept. Clients are created by the operator, so this is
/// far above what a deployment has; it only stops memory growing without limit.
pub const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// A client's status as last read: `Some(tenant)` while active, `None` when revoked
/// or unknown.
pub type Status = Option<Tenant>;

#[derive(Debug)]
struct Entry {
    status: Status,
    read_at: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    by_client: HashMap<String, Entry>,
    /// Bumped by every invalidation, so that a store read that began before a
    /// revocation cannot put the old status back after the revocation removed it.
    generation: u64,
}

/// Client statuses by client id, each trusted for `ttl`.
#[derive(Debug)]
pub struct StatusCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

/// Where a store read that fills the cache began; see [`StatusCache::fill`].
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket {
    generation: u64,
    started: Instant,
}

impl StatusCache {
    /// A cache trusting each status for `ttl` (zero: never, every check reads the
    /// store) and keeping at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The status of `client_id` if it was read less than `ttl` ago; otherwise a ticket
    /// to hand to [`fill`](Self::fill) with what the store says.
    pub fn lookup(&self, client_id: &str) -> Result<Status, ReadTicket> {
        let now = Instant::now();
        let entries = self.lock();
        if let Some(entry) = entries.by_client.get(client_id) {
            if now.duration_since(entry.read_at) < self.ttl {
                return Ok(entry.status.clone());
            }
        }
        Err(ReadTicket {
            generation: entries.generation,
            started: now,
        })
    }

    /// Keeps `status`, read from the store after `ticket` was issued, unless a client
    /// was invalidated meanwhile (the read may predate that revocation).
    pub fn fill(&self, client_id: &str, ticket: ReadTicket, status: Status) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.generation != ticket.generation {
            return;
        }
        if entries.by_client.len() >= self.capacity && !entries.by_client.contains_key(client_id) {
            // Drop what has lapsed; if that does not free half, drop everything. Either
            // way the next sweep is at least capacity/2 inserts away, so the sweep costs
            // O(1) per insert even under a flood of distinct clients.
            let ttl = self.ttl;
            let now = Instant::now();
            entries
                .by_client
                .retain(|_, e| now.duration_since(e.read_at) < ttl);
            if entries.by_client.len() > self.capacity / 2 {
                entries.by_client.clear();
            }
        }
        // The entry's age counts from before the read, so the bound holds from the
        // moment the store answered at the latest.
        entries.by_client.insert(
            client_id.to_owned(),
            Entry {
                status,
                read_at: ticket.started,
            },
        );
    }

    /// Forgets `client_id`: its next check reads the store.
    pub fn invalidate(&self, client_id: &str) {
        let mut entries = self.lock();
        entries.generation = entries.generation.wrapping_add(1);
        entries.by_client.remove(client_id);
    }

    /// How many statuses are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().by_client.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is only a cache and every critical section leaves it consistent, so
        // a panic elsewhere while it was held does not make it unusable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Status {
        Some(Tenant::new("o", "s"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_status_is_trusted_for_the_ttl_and_then_read_again() {
        let cache = StatusCache::new(Duration::from_secs(5), 10);
        let ticket = cache.lookup("c").unwrap_err();
        cache.fill("c", ticket, tenant());
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert_eq!(cache.lookup("c").unwrap(), tenant());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(cache.lookup("c").is_err(), "lapsed after the ttl");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_begun_before_an_invalidation_is_not_kept() {
        let cache = StatusCache::new(Duration::from_secs(5), 10);
        let ticket = cache.lookup("c").unwrap_err();
        cache.invalidate("c");
        cache.fill("c", ticket, tenant());
        assert!(cache.lookup("c").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_keeps_nothing() {
        let cache = StatusCache::new(Duration::ZERO, 10);
        let ticket = cache.lookup("c").unwrap_err();
        cache.fill("c", ticket, tenant());
        assert_eq!(cache.len(), 0);
        assert!(cache.lookup("c").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_clients_never_grow_it_past_its_capacity() {
        let cache = StatusCache::new(Duration::from_secs(5), 100);
        for i in 0..10_000 {
            let id = format!("c{i}");
            let ticket = cache.lookup(&id).unwrap_err();
            cache.fill(&id, ticket, tenant());
            assert!(cache.len() <= 100);
        }
        // The newest is kept.
        assert_eq!(cache.lookup("c9999").unwrap(), tenant());
    }
}
