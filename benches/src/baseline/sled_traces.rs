//! The dispatch scenario's baseline: part of what a first trace writes, done with bare sled
//! by one writer, without the engine.
//!
//! It first loads `n` jobs as a publish leaves them (unmeasured): the job-key index entry
//! (96-byte key, 8-byte id), the job body without a result, the schedule record and the
//! due key, in large batches. Then, measured, it gives every job its first trace in id
//! order, in batches of [`BATCH`] with one flush per batch, each trace writing the four
//! things the issue names:
//!
//! 1. the job body (`j` + id), rewritten with a result: [`BODY_TRACED`] bytes;
//! 2. the schedule record (`s` + id): [`SCHEDULE`] bytes;
//! 3. the due-index key replaced: the old `d` + due time + id removed, a new one inserted;
//! 4. one history entry (`h` + id + sequence) holding the event: [`EVENT`] bytes.
//!
//! Key shapes follow `engine/src/store/sled/keys.rs`. The value sizes are estimates, not
//! measured on a store: round figures for the `sim` provider's first result, from the
//! layouts of `engine/src/store/sled/record.rs` (by which the schedule record of a job
//! after its first trace is 129 to 141 bytes) and the JSON of a job body and an event; the
//! contents are not byte-identical either.
//!
//! So it is a subset of the engine's work per first trace, those four writes and no more.
//! The engine first claims the job, in a writer operation of its own: a range read of the
//! due index, a read of the job's body and schedule record, and a write of the schedule
//! record with the lease and of the due key moved to the lease's end. Its commit then also
//! writes a results-feed key (8-byte value), an outbox entry (the event again, with its
//! delivery state) and, when the result names a vessel visit, a cohort-index entry.

use std::path::Path;
use std::time::{Duration, Instant};

/// Traces per batch, one flush each.
pub const BATCH: usize = 100;
/// Job body after a publish (request, no result), bytes.
pub const BODY_PUBLISHED: usize = 330;
/// Job body after the first trace (request and result), bytes.
pub const BODY_TRACED: usize = 1_100;
/// Schedule record, bytes.
pub const SCHEDULE: usize = 150;
/// The result event as JSON, bytes.
pub const EVENT: usize = 800;
/// Jobs per batch while loading (not measured).
const LOAD_BATCH: u64 = 1_000;

/// What the baseline measured.
#[derive(Debug, Clone, Copy)]
pub struct FirstTraces {
    /// Jobs traced (all of them).
    pub traces: u64,
    /// Time for the traces, flushes included.
    pub elapsed: Duration,
    /// Time to load the jobs before (not part of the figure).
    pub loaded_in: Duration,
}

impl FirstTraces {
    /// Traces per second.
    pub fn per_second(&self) -> f64 {
        self.traces as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs the baseline for `n` jobs in a new sled database in `dir`, with the engine's
/// settings (`cache_capacity`, a background flush every 500 ms). Blocking: run it on a
/// blocking thread.
pub fn run(dir: &Path, n: u64, cache_capacity: u64) -> anyhow::Result<FirstTraces> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_capacity)
        .flush_every_ms(Some(500))
        .open()?;
    let tree = db.open_tree("boxtrace")?;
    let published_due = 1_800_000_000_000u64;
    let traced_due = published_due + 1;

    let started = Instant::now();
    let mut id = 0;
    while id < n {
        let mut batch = sled::Batch::default();
        for id in id..(id + LOAD_BATCH).min(n) {
            batch.insert(job_index_key(id), id.to_be_bytes().to_vec());
            batch.insert(&key(b'j', id)[..], value(BODY_PUBLISHED, id));
            batch.insert(&key(b's', id)[..], value(SCHEDULE, id));
            batch.insert(&due_key(published_due, id)[..], Vec::new());
        }
        tree.apply_batch(batch)?;
        id += LOAD_BATCH;
    }
    db.flush()?;
    let loaded_in = started.elapsed();

    let started = Instant::now();
    let mut seq = 0u64;
    let mut id = 0;
    while id < n {
        let mut batch = sled::Batch::default();
        for id in id..(id + BATCH as u64).min(n) {
            seq += 1;
            batch.insert(&key(b'j', id)[..], value(BODY_TRACED, id));
            batch.insert(&key(b's', id)[..], value(SCHEDULE, id));
            batch.remove(&due_key(published_due, id)[..]);
            batch.insert(&due_key(traced_due, id)[..], Vec::new());
            let mut history = key(b'h', id).to_vec();
            history.extend_from_slice(&seq.to_be_bytes());
            batch.insert(history, value(EVENT, seq));
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        id += BATCH as u64;
    }
    let elapsed = started.elapsed();
    Ok(FirstTraces {
        traces: n,
        elapsed,
        loaded_in,
    })
}

/// A one-byte prefix and a big-endian id, as the store's `j`, `s` and `h` keys.
fn key(prefix: u8, id: u64) -> [u8; 9] {
    let mut key = [prefix; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `d`, due time in milliseconds, id.
fn due_key(ms: u64, id: u64) -> [u8; 17] {
    let mut key = [b'd'; 17];
    key[1..9].copy_from_slice(&ms.to_be_bytes());
    key[9..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `k`, tenant (two 36-byte ids), kind, provider `sim`, container: 96 bytes.
fn job_index_key(id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(96);
    key.push(b'k');
    for part in [crate::server::ORG, crate::server::SVC] {
        key.extend_from_slice(&(part.len() as u16).to_be_bytes());
        key.extend_from_slice(part.as_bytes());
    }
    key.push(b'x');
    for part in ["sim", crate::bench_container(id).as_str()] {
        key.extend_from_slice(&(part.len() as u16).to_be_bytes());
        key.extend_from_slice(part.as_bytes());
    }
    key
}

/// A value of `len` bytes that differs between ids (sled does not compress by default,
/// so the content matters little).
fn value(len: usize, id: u64) -> Vec<u8> {
    let mut value = vec![b'x'; len];
    let tag = id.to_be_bytes();
    let n = tag.len().min(len);
    value[..n].copy_from_slice(&tag[..n]);
    value
}
