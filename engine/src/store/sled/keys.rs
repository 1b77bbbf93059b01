//! Key layout of the sled store: one tree, key spaces told apart by a one-byte prefix.
//!
//! | prefix | key                                   | value                            |
//! |--------|---------------------------------------|----------------------------------|
//! | `m`    | name                                  | metadata                         |
//! | `k`    | tenant, kind, provider, container     | job id (8 B)                     |
//! | `j`    | job id                                | job body (JSON, `record.rs`)     |
//! | `s`    | job id                                | job schedule (binary, `record.rs`) |
//! | `d`    | due time (ms, rounded up), job id     | empty                            |
//! | `o`    | queue, outbox sequence                | entry (JSON)                     |
//! | `h`    | job id, outbox sequence               | event (JSON)                     |
//! | `r`    | record kind, record key               | record (JSON)                    |
//! | `c`    | provider, cohort, job id              | empty                            |
//! | `f`    | tenant, outbox sequence               | job id (8 B): the results feed   |
//! | `e`    | finish time (ms, rounded down), job id | empty: finished jobs (retention) |
//!
//! Integers are big-endian so that byte order is numeric order: the due index is a range
//! scan from its start, and a tenant's jobs are one prefix.

use chrono::{DateTime, Utc};

use crate::model::{JobId, JobKey, Tenant, TraceKind};
use crate::store::{StoreError, StoreResult};

pub(super) const META: u8 = b'm';
pub(super) const JOB_KEY: u8 = b'k';
pub(super) const JOB: u8 = b'j';
pub(super) const SCHEDULE: u8 = b's';
pub(super) const DUE: u8 = b'd';
pub(super) const OUTBOX: u8 = b'o';
pub(super) const HISTORY: u8 = b'h';
pub(super) const RECORD: u8 = b'r';
pub(super) const COHORT: u8 = b'c';
pub(super) const FEED: u8 = b'f';
pub(super) const FINISHED: u8 = b'e';

pub(super) fn meta(name: &str) -> Vec<u8> {
    let mut key = vec![META];
    key.extend_from_slice(name.as_bytes());
    key
}

fn push_str(key: &mut Vec<u8>, s: &str) {
    // Values are bounded far below 64 KiB by event validation; clamp rather than fail.
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    key.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    key.extend_from_slice(bytes);
}

pub(super) fn tenant_prefix(tenant: &Tenant) -> Vec<u8> {
    let mut key = vec![JOB_KEY];
    push_str(&mut key, &tenant.org_id);
    push_str(&mut key, &tenant.svc_id);
    key
}

pub(super) fn job_key(key: &JobKey) -> Vec<u8> {
    let mut bytes = tenant_prefix(&key.tenant);
    bytes.push(match key.kind {
        TraceKind::Export => b'x',
        TraceKind::Empty => b'e',
    });
    push_str(&mut bytes, &key.provider_id);
    push_str(&mut bytes, &key.container);
    bytes
}

pub(super) fn job(id: JobId) -> [u8; 9] {
    let mut key = [JOB; 9];
    key[1..].copy_from_slice(&id.0.to_be_bytes());
    key
}

pub(super) fn schedule(id: JobId) -> [u8; 9] {
    let mut key = [SCHEDULE; 9];
    key[1..].copy_from_slice(&id.0.to_be_bytes());
    key
}

/// Milliseconds since the epoch, rounded up, so that a due key's time is never before
/// the job's due time: when the clock reaches the key, the job is due.
pub(super) fn due_millis(at: DateTime<Utc>) -> u64 {
    let ms = at.timestamp_millis();
    let rounded = if at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms + 1
    };
    rounded.max(0) as u64
}

pub(super) fn due(at: DateTime<Utc>, id: JobId) -> [u8; 17] {
    due_at_millis(due_millis(at), id.0)
}

pub(super) fn due_at_millis(ms: u64, id: u64) -> [u8; 17] {
    let mut key = [DUE; 17];
    key[1..9].copy_from_slice(&ms.to_be_bytes());
    key[9..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The job id and time of a due key.
pub(super) fn parse_due(key: &[u8]) -> Option<(u64, JobId)> {
    let ms = u64::from_be_bytes(key.get(1..9)?.try_into().ok()?);
    let id = u64::from_be_bytes(key.get(9..17)?.try_into().ok()?);
    Some((ms, JobId(id)))
}

pub(super) fn outbox_prefix(queue: &str) -> Vec<u8> {
    let mut key = vec![OUTBOX];
    push_str(&mut key, queue);
    key
}

pub(super) fn outbox(queue: &str, seq: u64) -> Vec<u8> {
    let mut key = outbox_prefix(queue);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The prefix of `kind`'s records whose keys start with `key_prefix` (or the record's
/// key, when `key_prefix` is a whole key).
pub(super) fn record(kind: &str, key_prefix: &str) -> Vec<u8> {
    let mut key = vec![RECORD];
    push_str(&mut key, kind);
    key.extend_from_slice(key_prefix.as_bytes());
    key
}

/// The record key inside a record's full key.
pub(super) fn record_key<'a>(kind: &str, full: &'a [u8]) -> Option<&'a str> {
    let skip = 1 + 2 + kind.len().min(usize::from(u16::MAX));
    std::str::from_utf8(full.get(skip..)?).ok()
}

/// The prefix of the active jobs of `provider` whose box is in `cohort` (its vessel visit).
pub(super) fn cohort_prefix(provider: &str, cohort: &str) -> Vec<u8> {
    let mut key = vec![COHORT];
    push_str(&mut key, provider);
    push_str(&mut key, cohort);
    key
}

pub(super) fn cohort(provider: &str, cohort: &str, id: JobId) -> Vec<u8> {
    let mut key = cohort_prefix(provider, cohort);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// The job id at the end of a cohort key.
pub(super) fn cohort_job(key: &[u8]) -> Option<JobId> {
    let id = key.get(key.len().checked_sub(8)?..)?;
    Some(JobId(u64::from_be_bytes(id.try_into().ok()?)))
}

pub(super) fn history_prefix(id: JobId) -> [u8; 9] {
    let mut key = [HISTORY; 9];
    key[1..].copy_from_slice(&id.0.to_be_bytes());
    key
}

pub(super) fn history(id: JobId, seq: u64) -> [u8; 17] {
    let mut key = [HISTORY; 17];
    key[1..9].copy_from_slice(&id.0.to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// A finished job's entry in the retention index: when it finished (its `updated_at`),
/// in milliseconds rounded down, so that every job finished before a cutoff sorts at or
/// before the cutoff's key.
pub(super) fn finished(at: DateTime<Utc>, id: JobId) -> [u8; 17] {
    let mut key = [FINISHED; 17];
    key[1..9].copy_from_slice(&(at.timestamp_millis().max(0) as u64).to_be_bytes());
    key[9..].copy_from_slice(&id.0.to_be_bytes());
    key
}

/// The job id of a retention index key.
pub(super) fn finished_job(key: &[u8]) -> Option<JobId> {
    let id = key.get(9..17)?;
    Some(JobId(u64::from_be_bytes(id.try_into().ok()?)))
}

/// The prefix of a tenant's results feed: its events in sequence order.
pub(super) fn feed_prefix(tenant: &Tenant) -> Vec<u8> {
    let mut key = vec![FEED];
    push_str(&mut key, &tenant.org_id);
    push_str(&mut key, &tenant.svc_id);
    key
}

pub(super) fn feed(tenant: &Tenant, seq: u64) -> Vec<u8> {
    let mut key = feed_prefix(tenant);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The sequence number at the end of a feed key.
pub(super) fn feed_seq(key: &[u8]) -> Option<u64> {
    let seq = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(seq.try_into().ok()?))
}

/// The job id a key index (`k`) entry holds.
pub(super) fn indexed_id(value: &[u8]) -> StoreResult<JobId> {
    id_from_value(value).ok_or_else(|| StoreError::Corrupt("job index entry is not an id".into()))
}

pub(super) fn id_from_value(value: &[u8]) -> Option<JobId> {
    Some(JobId(u64::from_be_bytes(value.try_into().ok()?)))
}

pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn due_keys_sort_by_time_and_round_up() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let a = due(t, JobId(9));
        let b = due(t + chrono::Duration::microseconds(10), JobId(1));
        assert!(a < b, "a later time sorts later whatever the id");
        assert_eq!(parse_due(&b), Some((due_millis(t) + 1, JobId(1))));
        assert_eq!(from_hex(&to_hex(&a)).as_deref(), Some(&a[..]));
    }

    #[test]
    fn tenant_keys_do_not_collide() {
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            tenant_prefix(&Tenant::new("ab", "c")),
            tenant_prefix(&Tenant::new("a", "bc"))
        );
    }
}
