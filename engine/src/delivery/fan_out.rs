//! Fan-out: result events move from the results queue to the queue of each destination
//! that gets them, a claimed batch at a time, in one store call per batch.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::engine::Subscription;
use crate::error::Result;
use crate::store::{FanOutEntry, RESULTS_QUEUE};

/// Events fanned out per store call.
const BATCH: usize = 256;

/// How long a claimed batch of the results queue stays leased to one process. A batch
/// takes milliseconds; this is what the batch of a process that died waits before
/// another process fans it out, so it is short. A lease that lapses mid-batch costs
/// nothing but a retry: a fan-out is conditioned on its lease token.
const LEASE: Duration = Duration::from_secs(10);

/// Fans out until `shutdown`, from `delay` on: at once when the engine commits a result,
/// and every poll interval (events of other processes, and of a batch that failed).
pub(super) async fn run(shared: Arc<Shared>, shutdown: CancellationToken, delay: Duration) {
    let mut results = Some(shared.engine.subscribe());
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.cancelled() => return,
    }
    loop {
        if let Err(e) = fan_out(&shared, &shutdown).await {
            tracing::warn!(error = %e, "fanning result events out to their destinations failed; retrying");
        }
        tokio::select! {
            received = async { results.as_mut()?.recv().await }, if results.is_some() => {
                // One pass takes every event committed so far: the notifications that
                // came meanwhile would only ask for passes that find nothing.
                let gone = match (received, results.as_mut()) {
                    (Some(_), Some(subscription)) => drained(subscription).await,
                    _ => true,
                };
                // The engine is gone: polling still finds what other processes commit.
                if gone {
                    results = None;
                }
            }
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Takes the notifications `results` holds already, without waiting; whether the engine
/// is gone.
async fn drained(results: &mut Subscription) -> bool {
    std::future::poll_fn(|cx| loop {
        match Pin::new(&mut *results).poll_next(cx) {
            Poll::Ready(Some(_)) => continue,
            Poll::Ready(None) => return Poll::Ready(true),
            Poll::Pending => return Poll::Ready(false),
        }
    })
    .await
}

/// Fans out what the results queue holds, batch by batch.
async fn fan_out(shared: &Shared, shutdown: &CancellationToken) -> Result<()> {
    loop {
        // A long backlog (a million first results) must not hold a shutdown: what is
        // left waits in the results queue for the next start.
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let clock = shared.engine.clock();
        let now = clock.now();
        let until = crate::clock::after_std(now, LEASE);
        let claims = shared
            .outbox
            .claim_outbox(RESULTS_QUEUE, now, BATCH, until)
            .await?;
        if claims.is_empty() {
            return Ok(());
        }
        let full = claims.len() == BATCH;
        let events: Vec<_> = claims.iter().map(|c| &c.entry.event).collect();
        let routes = match shared.destinations.route(&events).await {
            Ok(routes) if routes.len() == claims.len() => routes,
            Ok(routes) => {
                // The batch stays leased and comes back when the lease lapses.
                tracing::error!(
                    events = claims.len(),
                    routes = routes.len(),
                    "the destinations answered a route per event for a different number of events; the batch is retried"
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "routing result events failed; the batch is retried when its lease lapses");
                return Ok(());
            }
        };
        let entries: Vec<FanOutEntry> = claims
            .iter()
            .zip(routes)
            .map(|(claim, to)| FanOutEntry {
                seq: claim.entry.seq,
                token: claim.token,
                to: to
                    .into_iter()
                    .map(|d| d.0)
                    .filter(|queue| {
                        let ok = queue != RESULTS_QUEUE;
                        if !ok {
                            tracing::error!(
                                "a destination named like the results queue gets nothing"
                            );
                        }
                        ok
                    })
                    .collect(),
            })
            .collect();
        // The whole batch in one call: the store makes it one durable write.
        let results = shared
            .outbox
            .fan_out_all(RESULTS_QUEUE, &entries, clock.now())
            .await;
        shared.queued();
        if let Some(e) = results.into_iter().find_map(std::result::Result::err) {
            return Err(e.into());
        }
        if !full {
            return Ok(());
        }
    }
}
