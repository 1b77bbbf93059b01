//! What the writer does to outbox entries: claims, acks, retries, fan-out, burial,
//! replay and purge.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::batch::{decode, unavailable, Batch};
use super::Writer;
use crate::model::{Fenced, JobId, Lease};
use crate::store::sled::keys;
use crate::store::{EventSeq, OutboxClaim, OutboxEntry, Settlement, StoreResult, Verdict};

/// The `until` of a lease that has ended (released, buried): the entry keeps its token,
/// so that the next claim's is higher, but no holder has it. PostgreSQL marks the same
/// with `lease_until = NULL`.
const ENDED: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;

/// Ends the entry's lease now, keeping its token.
fn end_lease(entry: &mut OutboxEntry) {
    entry.lease = entry.lease.map(|l| Lease {
        token: l.token,
        until: ENDED,
    });
}

/// The claim a holder may still act on: none once the lease has ended or the entry died.
pub(in crate::store::sled) fn held_lease(entry: &OutboxEntry) -> Option<Lease> {
    entry.lease.filter(|l| !entry.dead && l.until != ENDED)
}

impl Writer {
    pub(super) fn claim_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        now: DateTime<Utc>,
        limit: usize,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboxClaim>> {
        let mut claimed = Vec::new();
        // Jobs with an older entry waiting or in flight: their later entries wait too.
        let mut blocked: HashSet<JobId> = HashSet::new();
        for entry in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            if claimed.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(unavailable)?;
            let mut entry: OutboxEntry = match decode(&value) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(key = ?key, error = %e, "skipping an outbox entry that cannot be decoded");
                    continue;
                }
            };
            if entry.dead || !blocked.insert(entry.job_id) {
                continue;
            }
            let leased = entry.lease.is_some_and(|l| l.until > now);
            if leased || entry.available_at > now {
                continue;
            }
            let token = entry.lease.map_or(1, |l| l.token + 1);
            entry.lease = Some(Lease { token, until });
            batch.put_json(&key, &entry)?;
            claimed.push(OutboxClaim { entry, token });
        }
        Ok(claimed)
    }

    pub(super) fn load_outbox(
        &self,
        batch: &Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
    ) -> StoreResult<OutboxEntry> {
        let entry: OutboxEntry = batch
            .get_json(&keys::outbox(queue, seq.0))?
            .ok_or(Fenced::Missing)?;
        if held_lease(&entry).map(|l| l.token) != Some(token) {
            return Err(Fenced::LeaseLost.into());
        }
        Ok(entry)
    }

    pub(super) fn ack_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
    ) -> StoreResult<()> {
        self.load_outbox(batch, queue, seq, token)?;
        batch.remove(&keys::outbox(queue, seq.0));
        Ok(())
    }

    pub(super) fn retry_outbox(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        not_before: DateTime<Utc>,
        error: Option<String>,
    ) -> StoreResult<()> {
        let mut entry = self.load_outbox(batch, queue, seq, token)?;
        entry.attempts += 1;
        entry.available_at = not_before;
        entry.last_error = error;
        // The lease keeps its token (the next claim's is higher) and ends when the
        // entry is available again.
        entry.lease = entry.lease.map(|l| Lease {
            token: l.token,
            until: not_before,
        });
        batch.put_json(&keys::outbox(queue, seq.0), &entry)
    }

    pub(super) fn fan_out(
        &mut self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        to: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let entry = self.load_outbox(batch, queue, seq, token)?;
        let seqs = to
            .iter()
            .map(|_| self.next_id())
            .collect::<StoreResult<Vec<u64>>>()?;
        batch.remove(&keys::outbox(queue, seq.0));
        for (target, copy_seq) in to.iter().zip(seqs) {
            let copy = OutboxEntry {
                seq: EventSeq(copy_seq),
                queue: target.clone(),
                job_id: entry.job_id,
                event: entry.event.clone(),
                attempts: 0,
                available_at: now,
                lease: None,
                dead: false,
                last_error: None,
            };
            batch.put_json(&keys::outbox(target, copy_seq), &copy)?;
        }
        Ok(())
    }

    pub(super) fn bury(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        seq: EventSeq,
        token: u64,
        error: String,
    ) -> StoreResult<()> {
        let mut entry = self.load_outbox(batch, queue, seq, token)?;
        entry.dead = true;
        // The claim after a replay gets a higher token: a deliverer whose lease lapsed
        // long ago must not ack the replayed entry.
        end_lease(&mut entry);
        entry.last_error = Some(error);
        batch.put_json(&keys::outbox(queue, seq.0), &entry)
    }

    /// Applies one verdict of a settle ([`crate::store::Outbox::settle`]).
    pub(super) fn settle(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        s: Settlement,
    ) -> StoreResult<()> {
        match s.verdict {
            Verdict::Ack => self.ack_outbox(batch, queue, s.seq, s.token),
            Verdict::Retry { not_before, error } => {
                self.retry_outbox(batch, queue, s.seq, s.token, not_before, error)
            }
            Verdict::Bury { error } => self.bury(batch, queue, s.seq, s.token, error),
            Verdict::Release => {
                // Claimable again at once, and no longer the releasing holder's to ack,
                // retry or fan out.
                let mut entry = self.load_outbox(batch, queue, s.seq, s.token)?;
                end_lease(&mut entry);
                batch.put_json(&keys::outbox(queue, s.seq.0), &entry)
            }
        }
    }

    pub(super) fn replay(
        &self,
        batch: &mut Batch<'_>,
        queue: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut revived = 0;
        for item in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            let (key, value) = item.map_err(unavailable)?;
            let mut entry = match decode::<OutboxEntry>(&value) {
                Ok(entry) => entry,
                Err(e) => {
                    // Left as it is for an operator; a claim skips it too.
                    tracing::error!(queue, key = ?key, error = %e, "not replaying an outbox entry that cannot be decoded");
                    continue;
                }
            };
            if entry.dead {
                entry.dead = false;
                entry.attempts = 0;
                entry.available_at = now;
                batch.put_json(&key, &entry)?;
                revived += 1;
            }
        }
        Ok(revived)
    }

    pub(super) fn purge(&self, batch: &mut Batch<'_>, queue: &str) -> StoreResult<usize> {
        let mut removed = 0;
        for item in self.tree.scan_prefix(keys::outbox_prefix(queue)) {
            let (key, _) = item.map_err(unavailable)?;
            batch.remove(&key);
            removed += 1;
        }
        Ok(removed)
    }
}
