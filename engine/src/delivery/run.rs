//! The deliverer's run loop: the fan-out task, and one worker per active destination,
//! started and stopped as destinations come and go.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{self, JoinSet};
use tokio_util::sync::CancellationToken;

use super::config::SETTLE_ALLOWANCE;
use super::{fan_out, queue, DestinationId, DestinationsError, Shared};

/// A running worker: its stop signal, its concurrency, and which start it was (a worker
/// stopped for a new concurrency may end after its successor started).
struct Running {
    stop: CancellationToken,
    concurrency: usize,
    generation: u64,
}

/// What a task of the run loop is.
enum Task {
    FanOut,
    /// A destination's worker, and which start it was.
    Worker(DestinationId, u64),
}

pub(super) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    if shared.running.swap(true, Ordering::SeqCst) {
        tracing::warn!("the deliverer is running already; a second run does nothing");
        return;
    }
    let mut tasks = JoinSet::new();
    // Which task is which, by task id: a task that panicked comes back as a bare error.
    let mut spawned: HashMap<task::Id, Task> = HashMap::new();
    let first = tasks.spawn(fan_out::run(
        shared.clone(),
        shutdown.clone(),
        Duration::ZERO,
    ));
    spawned.insert(first.id(), Task::FanOut);
    let mut workers: HashMap<DestinationId, Running> = HashMap::new();
    // Destinations whose worker panicked, and when it may start again: one poll interval
    // later, so that a worker that panics at every start does not spin.
    let mut held_back: HashMap<DestinationId, tokio::time::Instant> = HashMap::new();
    let mut generation = 0u64;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Raced against shutdown (a store that hangs must not hold it), and in a task of
        // its own, so that a panic in the adapter's code is a failed read, not the end of
        // delivery.
        let reading = tokio::spawn({
            let destinations = shared.destinations.clone();
            async move { destinations.active().await }
        });
        let abort = reading.abort_handle();
        let read = tokio::select! {
            read = reading => read,
            _ = shutdown.cancelled() => {
                abort.abort();
                break;
            }
        };
        let read = read.unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the delivery destinations failed");
            Err(DestinationsError::new(
                "the destinations' `active` panicked",
            ))
        });
        match read {
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
                let now = tokio::time::Instant::now();
                held_back.retain(|_, until| *until > now);
                for (id, concurrency) in wanted {
                    if workers.contains_key(&id) || held_back.contains_key(&id) {
                        continue;
                    }
                    generation += 1;
                    let stop = shutdown.child_token();
                    let worker = queue::Worker::new(shared.clone(), id.clone(), concurrency);
                    let started = tasks.spawn(worker.run(stop.clone()));
                    spawned.insert(started.id(), Task::Worker(id.clone(), generation));
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
            // First: at shutdown, a task that ended with it is not started again.
            biased;
            _ = shutdown.cancelled() => break,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            Some(done) = tasks.join_next_with_id() => {
                let (id, failed) = match done {
                    Ok((id, ())) => (id, None),
                    Err(e) => (e.id(), Some(e)),
                };
                match spawned.remove(&id) {
                    Some(Task::FanOut) => {
                        // It ends by itself only at shutdown; anything else is a panic
                        // (in the destinations' `route`, say), and without it no event
                        // would reach a destination's queue again. Its claimed batch
                        // comes back when the lease lapses; it starts again after a poll
                        // interval, so that a panic on every batch does not spin.
                        match failed {
                            Some(e) => tracing::error!(error = %e, "the delivery fan-out failed; it starts again"),
                            None => tracing::error!("the delivery fan-out ended; it starts again"),
                        }
                        let again = tasks.spawn(fan_out::run(
                            shared.clone(),
                            shutdown.clone(),
                            shared.config.poll_interval,
                        ));
                        spawned.insert(again.id(), Task::FanOut);
                    }
                    Some(Task::Worker(destination, started)) => {
                        // A worker ends by itself when its destination is gone; one that
                        // panicked is logged. Either way it is forgotten, so that it
                        // starts again if the destination is still (or again) active: at
                        // once after an end, a poll interval after a panic. What it held
                        // comes back when its leases lapse.
                        if let Some(e) = failed {
                            tracing::error!(%destination, error = %e, "a delivery worker failed; it starts again after a poll interval");
                            held_back.insert(
                                destination.clone(),
                                tokio::time::Instant::now() + shared.config.poll_interval,
                            );
                        }
                        if workers.get(&destination).is_some_and(|w| w.generation == started) {
                            workers.remove(&destination);
                        }
                    }
                    None => {}
                }
            }
        }
    }
    // Deliveries in flight end within their bound; then their outcomes are written.
    let grace = shared
        .config
        .delivery_bound()
        .saturating_add(SETTLE_ALLOWANCE);
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
