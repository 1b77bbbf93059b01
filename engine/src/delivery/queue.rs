//! One destination's worker: claims ahead, delivers within the destination's
//! concurrency, and settles the verdicts in batches.
//!
//! At most one claim and one settle call are in flight at a time: while one runs, the
//! next batch gathers, so batches grow with load. Order per container holds because the
//! outbox never hands out an entry while an older live entry of its job is in its queue:
//! an entry delivered but not yet settled is still there, leased, and holds its job's
//! next entry back until its ack (or retry, or burial) is written.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::task::{self, JoinSet};
use tokio_util::sync::CancellationToken;

use super::retry::Next;
use super::{Delivery, DestinationId, Shared};
use crate::store::{OutboxClaim, Settlement, StoreError, StoreResult, Verdict};

/// What a task of the worker came back with.
enum Done {
    Delivered(Box<OutboxClaim>, Delivery),
    Claimed(usize, StoreResult<Vec<OutboxClaim>>),
    Settled(Vec<Settlement>, Vec<StoreResult<()>>),
}

pub(super) struct Worker {
    shared: Arc<Shared>,
    to: DestinationId,
    concurrency: usize,
    ahead: usize,
}

impl Worker {
    pub(super) fn new(shared: Arc<Shared>, to: DestinationId, concurrency: usize) -> Self {
        let ahead = shared.config.claim_ahead.unwrap_or(concurrency);
        Self {
            shared,
            to,
            concurrency,
            ahead,
        }
    }

    /// Delivers until `stop`, or until the destination is gone; then finishes the
    /// deliveries in flight and settles them.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut queued = self.shared.queued.subscribe();
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut buffer: VecDeque<OutboxClaim> = VecDeque::new();
        let mut verdicts: Vec<Settlement> = Vec::new();
        let mut in_flight = 0usize;
        // The claim and the settle call in flight, if any.
        let (mut claiming, mut settling): (Option<task::Id>, Option<task::Id>) = (None, None);
        // Whether the queue may hold more for us than the last claim found.
        let mut look = true;
        let mut ending = false;
        loop {
            if !ending {
                while in_flight < self.concurrency {
                    let Some(claim) = buffer.pop_front() else {
                        break;
                    };
                    if !self.time_left(&claim) {
                        // Too little of its lease is left for a delivery: hand it back
                        // (refused harmlessly if the lease lapsed and another took it).
                        verdicts.push(release(&claim));
                        continue;
                    }
                    in_flight += 1;
                    let (destinations, to) = (self.shared.destinations.clone(), self.to.clone());
                    // The engine bounds a delivery itself: one that outlived its lease
                    // could overlap another process's delivery of the same entry, or
                    // of the job's next one, and break the order per container.
                    let limit = self.shared.config.delivery_bound();
                    tasks.spawn(async move {
                        let delivery = match tokio::time::timeout(
                            limit,
                            destinations.deliver(&to, &claim.entry),
                        )
                        .await
                        {
                            Ok(delivery) => delivery,
                            Err(_) => Delivery::Failed {
                                reason: format!("no answer within {limit:?}"),
                                retry_after: None,
                            },
                        };
                        Done::Delivered(Box::new(claim), delivery)
                    });
                }
                let room = (self.concurrency + self.ahead).saturating_sub(in_flight + buffer.len());
                // Claims wait for half the buffer to be free, so that each takes several
                // entries: a claim reads past every entry in flight at its queue's head.
                if look && claiming.is_none() && room >= self.ahead.div_ceil(2).max(1) {
                    look = false;
                    let (outbox, queue) = (self.shared.outbox.clone(), self.to.0.clone());
                    let clock = self.shared.engine.clock();
                    let now = clock.now();
                    let until =
                        crate::clock::after(now, clock.elapsed_during(self.shared.config.lease()));
                    let task = tasks.spawn(async move {
                        let claims = outbox.claim_outbox(&queue, now, room, until).await;
                        Done::Claimed(room, claims)
                    });
                    claiming = Some(task.id());
                }
            }
            if settling.is_none() && !verdicts.is_empty() {
                let batch = std::mem::take(&mut verdicts);
                let (outbox, queue) = (self.shared.outbox.clone(), self.to.0.clone());
                let task = tasks.spawn(async move {
                    let results = outbox.settle(&queue, &batch).await;
                    Done::Settled(batch, results)
                });
                settling = Some(task.id());
            }
            if ending && tasks.is_empty() {
                return;
            }
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => match done {
                    Ok((_, Done::Delivered(claim, delivery))) => {
                        in_flight -= 1;
                        if matches!(delivery, Delivery::Gone { .. }) && !ending {
                            tracing::warn!(destination = %self.to, "the destination is gone; its worker stops and its pending events wait for a replay");
                            ending = true;
                            hand_back(&mut buffer, &mut verdicts);
                        }
                        verdicts.push(self.verdict(&claim, delivery));
                    }
                    Ok((_, Done::Claimed(asked, claims))) => {
                        claiming = None;
                        match claims {
                            Ok(claims) => {
                                // A full claim may have left more behind.
                                look |= claims.len() == asked;
                                if ending {
                                    verdicts.extend(claims.iter().map(release));
                                } else {
                                    buffer.extend(claims);
                                }
                            }
                            Err(e) => tracing::warn!(destination = %self.to, error = %e, "claiming deliveries failed; retrying"),
                        }
                    }
                    Ok((_, Done::Settled(batch, results))) => {
                        settling = None;
                        // An ack or burial frees its job's next entry.
                        look = true;
                        for (settlement, result) in batch.iter().zip(results) {
                            match result {
                                Ok(()) => {}
                                // The lease lapsed and another took the entry (or a
                                // release found it gone): expected now and then.
                                Err(e @ StoreError::Fenced(_)) => tracing::debug!(destination = %self.to, seq = settlement.seq.0, error = %e, "a delivery outcome was refused: the lease was lost"),
                                Err(e) => tracing::warn!(destination = %self.to, seq = settlement.seq.0, error = %e, "recording a delivery outcome failed; the delivery is retried when its lease lapses"),
                            }
                        }
                    }
                    Err(e) => {
                        // A task that panicked: what it held comes back when its leases
                        // lapse.
                        tracing::error!(destination = %self.to, error = %e, "a delivery task failed");
                        if claiming == Some(e.id()) {
                            claiming = None;
                        } else if settling == Some(e.id()) {
                            settling = None;
                        } else {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                },
                changed = queued.changed(), if !ending => {
                    if changed.is_err() {
                        ending = true;
                    }
                    look = true;
                }
                _ = tokio::time::sleep(self.shared.config.poll_interval), if !ending => look = true,
                _ = stop.cancelled(), if !ending => {
                    ending = true;
                    hand_back(&mut buffer, &mut verdicts);
                }
            }
        }
    }

    /// Whether `claim`'s lease leaves time for one delivery, to its bound, and for
    /// writing its outcome.
    fn time_left(&self, claim: &OutboxClaim) -> bool {
        let clock = self.shared.engine.clock();
        let needed = clock.elapsed_during(self.shared.config.lease_needed());
        let Some(lease) = claim.entry.lease else {
            return false;
        };
        // Saturating, both sides: with a timeout too long to add, the lease is the
        // latest time too, and that leaves time enough.
        crate::clock::after(clock.now(), needed) <= lease.until
    }

    /// What to write for a delivery's outcome.
    fn verdict(&self, claim: &OutboxClaim, delivery: Delivery) -> Settlement {
        let entry = &claim.entry;
        let event = &entry.event.id;
        let verdict = match delivery {
            Delivery::Delivered => Verdict::Ack,
            Delivery::Gone { reason } => Verdict::Bury { error: reason },
            Delivery::NotAttempted => Verdict::Release,
            Delivery::Failed {
                reason,
                retry_after,
            } => match self.shared.retries.next(entry.attempts, retry_after) {
                Next::RetryAfter(delay) => {
                    let clock = self.shared.engine.clock();
                    let at = crate::clock::after(clock.now(), clock.elapsed_during(delay));
                    tracing::info!(destination = %self.to, %event, attempt = entry.attempts + 1, %reason, retry_at = %at, "delivery failed; will retry");
                    Verdict::Retry {
                        not_before: at,
                        error: Some(reason),
                    }
                }
                Next::Bury => {
                    tracing::warn!(destination = %self.to, %event, attempts = entry.attempts + 1, %reason, "delivery failed for good; the event is dead until replayed");
                    Verdict::Bury { error: reason }
                }
            },
        };
        Settlement {
            seq: entry.seq,
            token: claim.token,
            verdict,
        }
    }
}

/// Hands every entry claimed ahead back untried, for whoever delivers next: the worker
/// ends, and they were not started.
fn hand_back(buffer: &mut VecDeque<OutboxClaim>, verdicts: &mut Vec<Settlement>) {
    verdicts.extend(buffer.drain(..).map(|c| release(&c)));
}

/// Hands a claimed entry back untried.
fn release(claim: &OutboxClaim) -> Settlement {
    Settlement {
        seq: claim.entry.seq,
        token: claim.token,
        verdict: Verdict::Release,
    }
}
