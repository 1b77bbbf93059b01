//! The deliverer's run loop: the fan-out task, and one worker per active destination,
//! started and stopped as destinations come and go.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{fan_out, queue, DestinationId, Shared};

/// A running worker: its stop signal, its concurrency, and which start it was (a worker
/// stopped for a new concurrency may end after its successor started).
struct Running {
    stop: CancellationToken,
    concurrency: usize,
    generation: u64,
}

pub(super) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    if shared.running.swap(true, Ordering::SeqCst) {
        tracing::warn!("the deliverer is running already; a second run does nothing");
        return;
    }
    let mut tasks = JoinSet::new();
    tasks.spawn({
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        async move {
            fan_out::run(shared, shutdown).await;
            None
        }
    });
    let mut workers: HashMap<DestinationId, Running> = HashMap::new();
    let mut generation = 0u64;
    loop {
        match shared.destinations.active().await {
            Ok(active) => {
                let mut wanted: HashMap<DestinationId, usize> = HashMap::new();
                for destination in active {
                    let concurrency = destination
                        .concurrency
                        .unwrap_or(shared.config.concurrency)
                        .max(1);
                    wanted.insert(destination.id, concurrency);
                }
                workers.retain(|id, running| {
                    let keep = wanted.get(id) == Some(&running.concurrency);
                    if !keep {
                        running.stop.cancel();
                    }
                    keep
                });
                for (id, concurrency) in wanted {
                    if workers.contains_key(&id) {
                        continue;
                    }
                    generation += 1;
                    let stop = shutdown.child_token();
                    let worker = queue::Worker::new(shared.clone(), id.clone(), concurrency);
                    let (stopped, started) = (stop.clone(), generation);
                    let name = id.clone();
                    tasks.spawn(async move {
                        worker.run(stopped).await;
                        Some((name, started))
                    });
                    workers.insert(
                        id,
                        Running {
                            stop,
                            concurrency,
                            generation,
                        },
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the delivery destinations failed; retrying")
            }
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            Some(done) = tasks.join_next() => {
                // A worker ends by itself when its destination is gone; forget it, so
                // that it starts again if the destination is still (or again) active.
                if let Ok(Some((id, started))) = done {
                    if workers.get(&id).is_some_and(|w| w.generation == started) {
                        workers.remove(&id);
                    }
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
    let grace = shared.config.timeout + Duration::from_secs(1);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(
            "deliveries still in flight at shutdown are retried after their leases lapse"
        );
    }
    shared.running.store(false, Ordering::SeqCst);
}
