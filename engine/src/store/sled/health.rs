//! Whether the sled store can still write: the writer's failures and a watchdog that
//! notices a writer that stopped making progress.
//!
//! sled 0.34 keeps the first I/O error of its log for good (its "global error"): after a
//! full disk, every later write fails even once space is back, until the database is
//! opened again. And sled 0.34.7 can deadlock (upstream issue #1412). Neither can be
//! mended from inside the process, so the store says it has failed, readiness turns off,
//! and the process is expected to end so that a supervisor restarts it. The store is
//! crash-safe: nothing acknowledged is lost by ending it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::StoreError;

/// The store's write health, shared by the store, its writer and its watchdog.
#[derive(Debug)]
pub(super) struct Health {
    /// Why the store cannot write any more; set once.
    failed: OnceLock<String>,
    /// Told when `failed` is set.
    changed: watch::Sender<bool>,
    /// When the current batch started, in ms since `epoch` plus one; 0 while idle.
    busy_since: AtomicU64,
    epoch: Instant,
    /// Whether the writer is stuck (then nobody waits for it to stop).
    stuck: std::sync::atomic::AtomicBool,
    /// Test hooks: a batch that hangs until released, a write or an id allocation that
    /// fails.
    #[cfg(feature = "testing")]
    pub(super) hooks: Hooks,
}

/// Faults a test can inject into the writer.
#[cfg(feature = "testing")]
#[derive(Debug, Default)]
pub(super) struct Hooks {
    /// The next batch waits on this until the sender is dropped.
    pub(super) hang: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// The next batch fails as an I/O error would.
    pub(super) fail_write: std::sync::atomic::AtomicBool,
    /// The writer's next id allocation fails as an I/O error would.
    pub(super) fail_id: std::sync::atomic::AtomicBool,
}

impl Health {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            failed: OnceLock::new(),
            changed: watch::Sender::new(false),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
            stuck: std::sync::atomic::AtomicBool::new(false),
            #[cfg(feature = "testing")]
            hooks: Hooks::default(),
        })
    }

    /// Records that the store cannot write again in this process, and why (the first
    /// reason wins), with a log line an operator can act on.
    pub(super) fn fail(&self, reason: String) {
        if self.failed.set(reason.clone()).is_ok() {
            tracing::error!(
                %reason,
                "the sled store cannot write any more; readiness is off and the process should be restarted (nothing acknowledged is lost)"
            );
            self.changed.send_replace(true);
        }
    }

    /// `Err` once the store has failed.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        match self.failed.get() {
            Some(reason) => Err(StoreError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    /// Resolves with the reason once the store has failed.
    pub(super) async fn wait_failed(&self) -> StoreError {
        let mut changed = self.changed.subscribe();
        // The sender lives as long as `self`; a closed channel cannot happen here.
        let _ = changed.wait_for(|failed| *failed).await;
        match self.check() {
            Err(e) => e,
            Ok(()) => StoreError::Closed,
        }
    }

    /// Whether the writer is stuck: dropping the store must not wait for it.
    pub(super) fn is_stuck(&self) -> bool {
        self.stuck.load(Ordering::Relaxed)
    }

    /// The writer starts a batch.
    pub(super) fn batch_started(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.busy_since.store(ms + 1, Ordering::Relaxed);
        #[cfg(feature = "testing")]
        {
            let hang = self
                .hooks
                .hang
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(hang) = hang {
                // Blocks until the test drops its end, as a deadlock inside sled would.
                let _ = hang.recv();
            }
        }
    }

    /// The writer finished a batch.
    pub(super) fn batch_finished(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the current batch has run, if one is running.
    fn busy_for(&self) -> Option<Duration> {
        let since = self.busy_since.load(Ordering::Relaxed);
        let since = since.checked_sub(1)?;
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(now.saturating_sub(since)))
    }

    /// An injected write failure, taken once.
    #[cfg(feature = "testing")]
    pub(super) fn take_injected_failure(&self) -> bool {
        self.hooks.fail_write.swap(false, Ordering::Relaxed)
    }

    #[cfg(not(feature = "testing"))]
    pub(super) fn take_injected_failure(&self) -> bool {
        false
    }

    /// An injected id allocation failure, taken once.
    #[cfg(feature = "testing")]
    pub(super) fn take_injected_id_failure(&self) -> bool {
        self.hooks.fail_id.swap(false, Ordering::Relaxed)
    }

    #[cfg(not(feature = "testing"))]
    pub(super) fn take_injected_id_failure(&self) -> bool {
        false
    }
}

/// Starts the watchdog: a thread that fails the store when one batch has run longer than
/// `limit`. It holds only a weak reference, so it ends with the store.
pub(super) fn watch(health: &Arc<Health>, limit: Duration) -> std::io::Result<()> {
    let weak = Arc::downgrade(health);
    let period = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    std::thread::Builder::new()
        .name("boxtrace-sled-watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(period);
            let Some(health) = weak.upgrade() else {
                return;
            };
            if health.failed.get().is_some() {
                return;
            }
            if let Some(busy) = health.busy_for().filter(|busy| *busy > limit) {
                health.stuck.store(true, Ordering::Relaxed);
                health.fail(format!(
                    "the sled writer has made no progress for {busy:?} (limit {limit:?}): sled \
                     is stuck (sled 0.34.7 can deadlock, upstream issue #1412); restart the \
                     process"
                ));
                return;
            }
        })
        .map(drop)
}

/// Keeps a test's hang of the writer; dropping it lets the writer go on.
#[cfg(feature = "testing")]
#[derive(Debug)]
pub struct WriterHang {
    _release: std::sync::mpsc::Sender<()>,
}

#[cfg(feature = "testing")]
impl Health {
    pub(super) fn hang_next_batch(&self) -> WriterHang {
        let (release, hang) = std::sync::mpsc::channel();
        *self
            .hooks
            .hang
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(hang);
        WriterHang { _release: release }
    }
}
