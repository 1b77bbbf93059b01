//! The writer's operations: what a caller queues, and how the writer runs each one into
//! its batch.

use chrono::{DateTime, Utc};

use super::batch::{unavailable, Batch};
use super::{pending, PendingReply, Reply, Writer};
use crate::model::{Job, JobId, JobKey, PublishOutcome, ResultEvent};
use crate::store::sled::prepare::{PreparedCommit, PreparedPublish};
use crate::store::{
    Claimed, Committed, DueClaim, EventSeq, OutboxClaim, Settlement, StoreError, StoreResult,
    Verdict,
};

/// A write operation, with the channel its result goes back on.
pub(in crate::store::sled) enum Op {
    Publish {
        prepared: Box<PreparedPublish>,
        reply: Reply<(Job, PublishOutcome)>,
    },
    Cancel {
        key: JobKey,
        now: DateTime<Utc>,
        reply: Reply<Option<ResultEvent>>,
    },
    ClaimDue {
        claim: DueClaim,
        reply: Reply<Vec<Claimed>>,
    },
    /// A renewal, or with `hand_back` a release ([`Job::release`]).
    Renew {
        job: JobId,
        token: u64,
        until: DateTime<Utc>,
        hand_back: bool,
        reply: Reply<()>,
    },
    Complete {
        prepared: Box<PreparedCommit>,
        reply: Reply<Committed>,
    },
    ClaimOutbox {
        queue: String,
        now: DateTime<Utc>,
        limit: usize,
        until: DateTime<Utc>,
        reply: Reply<Vec<OutboxClaim>>,
    },
    AckOutbox {
        queue: String,
        seq: EventSeq,
        token: u64,
        reply: Reply<()>,
    },
    RetryOutbox {
        queue: String,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
        reply: Reply<()>,
    },
    FanOut {
        queue: String,
        seq: EventSeq,
        token: u64,
        to: Vec<String>,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    Bury {
        queue: String,
        seq: EventSeq,
        token: u64,
        error: String,
        reply: Reply<()>,
    },
    /// Verdicts on several claimed entries of one queue ([`crate::store::Outbox::settle`]).
    Settle {
        queue: String,
        settlements: Vec<Settlement>,
        reply: Reply<Vec<StoreResult<()>>>,
    },
    Replay {
        queue: String,
        now: DateTime<Utc>,
        reply: Reply<usize>,
    },
    Purge {
        queue: String,
        reply: Reply<usize>,
    },
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: Reply<()>,
    },
    DeleteRecord {
        key: Vec<u8>,
        reply: Reply<bool>,
    },
    ExpediteCohort {
        provider: String,
        cohort: String,
        at: DateTime<Utc>,
        seen: DateTime<Utc>,
        reply: Reply<usize>,
    },
    /// Removes finished jobs ([`crate::JobStore::purge_finished`]).
    PurgeFinished {
        before: DateTime<Utc>,
        limit: usize,
        reply: Reply<usize>,
    },
    Flush {
        reply: Reply<()>,
    },
}

impl Writer {
    /// Runs one operation into `batch`. An error that spoils the whole batch (I/O while
    /// applying earlier writes) comes back with the operation's reply. `early` is set when
    /// the reply need not wait for the batch's flush (it may go once the batch is applied).
    #[allow(clippy::type_complexity)]
    pub(super) fn execute(
        &mut self,
        op: Op,
        batch: &mut Batch<'_>,
        durable: &mut bool,
        early: &mut bool,
    ) -> Result<PendingReply, (PendingReply, StoreError)> {
        match op {
            Op::Publish { prepared, reply } => {
                *durable = true;
                Ok(pending(reply, self.publish(batch, *prepared)))
            }
            Op::Cancel { key, now, reply } => {
                *durable = true;
                Ok(pending(reply, self.cancel(batch, &key, now)))
            }
            Op::Complete { prepared, reply } => {
                let result = self.complete(batch, *prepared);
                if self.durable_reschedules || matches!(&result, Ok(c) if c.event.is_some()) {
                    *durable = true;
                } else {
                    *early = result.is_ok();
                }
                Ok(pending(reply, result))
            }
            Op::Renew {
                job,
                token,
                until,
                hand_back,
                reply,
            } => Ok(pending(
                reply,
                self.renew(batch, job, token, until, hand_back),
            )),
            Op::ClaimDue { claim, reply } => {
                let reply = apply_first(batch, reply)?;
                *early = true;
                Ok(pending(reply, self.claim_due(batch, claim)))
            }
            Op::ExpediteCohort {
                provider,
                cohort,
                at,
                seen,
                reply,
            } => {
                let reply = apply_first(batch, reply)?;
                // Losing it in a crash only leaves the boxes on their own schedule.
                *early = true;
                let result = self.expedite_cohort(batch, &provider, &cohort, at, seen);
                Ok(pending(reply, result))
            }
            Op::ClaimOutbox {
                queue,
                now,
                limit,
                until,
                reply,
            } => {
                // A deliverer must only see events that are on disk: an event delivered
                // and then lost in a crash would be notified twice.
                let ready = batch.apply().and_then(|()| {
                    if *durable {
                        self.db.flush().map_err(unavailable)?;
                        self.flushed();
                        *durable = false;
                    }
                    Ok(())
                });
                if ready.is_err() {
                    self.unflushed = true;
                }
                if let Err(e) = ready {
                    return Err((pending(reply, Ok(Vec::new())), e));
                }
                Ok(pending(
                    reply,
                    self.claim_outbox(batch, &queue, now, limit, until),
                ))
            }
            Op::AckOutbox {
                queue,
                seq,
                token,
                reply,
            } => Ok(pending(reply, self.ack_outbox(batch, &queue, seq, token))),
            Op::RetryOutbox {
                queue,
                seq,
                token,
                not_before,
                error,
                reply,
            } => Ok(pending(
                reply,
                self.retry_outbox(batch, &queue, seq, token, not_before, error),
            )),
            Op::FanOut {
                queue,
                seq,
                token,
                to,
                now,
                reply,
            } => {
                *durable = true;
                Ok(pending(
                    reply,
                    self.fan_out(batch, &queue, seq, token, &to, now),
                ))
            }
            Op::Bury {
                queue,
                seq,
                token,
                error,
                reply,
            } => {
                *durable = true;
                Ok(pending(reply, self.bury(batch, &queue, seq, token, error)))
            }
            Op::Settle {
                queue,
                settlements,
                reply,
            } => {
                // A burial is durable as `Bury` is; acks and retries are not (losing one
                // redelivers), so a batch of them answers before the flush.
                if settlements
                    .iter()
                    .any(|s| matches!(s.verdict, Verdict::Bury { .. }))
                {
                    *durable = true;
                } else {
                    *early = true;
                }
                let results = settlements
                    .into_iter()
                    .map(|s| self.settle(batch, &queue, s))
                    .collect();
                Ok(pending(reply, Ok(results)))
            }
            Op::Replay { queue, now, reply } => {
                *durable = true;
                let reply = apply_first(batch, reply)?;
                Ok(pending(reply, self.replay(batch, &queue, now)))
            }
            Op::Purge { queue, reply } => {
                *durable = true;
                let reply = apply_first(batch, reply)?;
                Ok(pending(reply, self.purge(batch, &queue)))
            }
            Op::PutRecord { key, value, reply } => {
                *durable = true;
                batch.insert(&key, value);
                Ok(pending(reply, Ok(())))
            }
            Op::DeleteRecord { key, reply } => {
                *durable = true;
                let existed = batch.get(&key).map(|v| v.is_some());
                batch.remove(&key);
                Ok(pending(reply, existed))
            }
            Op::PurgeFinished {
                before,
                limit,
                reply,
            } => {
                // Not flushed: a purge lost in a crash is simply done again.
                let reply = apply_first(batch, reply)?;
                Ok(pending(reply, self.purge_finished(batch, before, limit)))
            }
            Op::Flush { reply } => {
                *durable = true;
                Ok(pending(reply, Ok(())))
            }
        }
    }
}

/// For an operation that scans the tree: the batch's earlier writes are applied first, so
/// that the scan sees them. If that fails, the operation is answered with the failure, and
/// so is the rest of the batch.
fn apply_first<T: Send + 'static>(
    batch: &mut Batch<'_>,
    reply: Reply<T>,
) -> Result<Reply<T>, (PendingReply, StoreError)> {
    match batch.apply() {
        Ok(()) => Ok(reply),
        Err(e) => Err((
            pending(reply, Err(StoreError::Unavailable(e.to_string()))),
            e,
        )),
    }
}

/// The reply of an operation that was not run because its batch already failed.
pub(super) fn reject(op: Op) -> PendingReply {
    fn fail<T: Send + 'static>(reply: Reply<T>) -> PendingReply {
        Box::new(move |_| {
            let _ = reply.send(Err(StoreError::Unavailable(
                "an earlier write in the same batch failed".into(),
            )));
        })
    }
    match op {
        Op::Publish { reply, .. } => fail(reply),
        Op::Cancel { reply, .. } => fail(reply),
        Op::ClaimDue { reply, .. } => fail(reply),
        Op::Renew { reply, .. } => fail(reply),
        Op::Complete { reply, .. } => fail(reply),
        Op::ClaimOutbox { reply, .. } => fail(reply),
        Op::AckOutbox { reply, .. } => fail(reply),
        Op::RetryOutbox { reply, .. } => fail(reply),
        Op::FanOut { reply, .. } => fail(reply),
        Op::Bury { reply, .. } => fail(reply),
        Op::Settle { reply, .. } => fail(reply),
        Op::Replay { reply, .. } => fail(reply),
        Op::Purge { reply, .. } => fail(reply),
        Op::PutRecord { reply, .. } => fail(reply),
        Op::DeleteRecord { reply, .. } => fail(reply),
        Op::ExpediteCohort { reply, .. } => fail(reply),
        Op::PurgeFinished { reply, .. } => fail(reply),
        Op::Flush { reply } => fail(reply),
    }
}
