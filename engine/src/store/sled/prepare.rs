//! Writes prepared by the caller, before they reach the writer: keys computed, values
//! encoded, so that the single writer thread only reads what it must, decides, and
//! applies bytes.
//!
//! The writer is the store's one serial part: everything it does per operation limits
//! the whole process (issue 15 measured 53 % of `boxtrace serve`'s samples in it under
//! ingest, most of them JSON encoding and allocation). A publish is prepared as if its
//! key were new (the common case under ingest), a trace commit as if nothing had touched
//! its job since the claim. The writer checks the assumption against the stored job and
//! encodes again itself only when it does not hold. It draws every id and sequence
//! number itself (a new job's id, an event's number) and writes it into the bytes.

use chrono::{DateTime, Utc};

use super::writer::encode;
use super::{keys, record};
use crate::model::{EmitReason, Job, JobId, ResultEvent, TraceRequest};
use crate::store::{OutboxEntry, StoreError, StoreResult, TraceCommit, RESULTS_QUEUE};

/// A publish, prepared as if its key were new.
pub(super) struct PreparedPublish {
    /// The `k` key of the job's key.
    pub(super) index_key: Vec<u8>,
    /// The job a new key creates, but for its id (the writer draws it); its request is
    /// the publish's.
    pub(super) job: Job,
    pub(super) real_time: bool,
    pub(super) now: DateTime<Utc>,
    /// `job`'s body after its id ([`PreparedPublish::body`]).
    body_tail: Vec<u8>,
    /// `job`'s schedule record (it holds no id).
    pub(super) schedule: sled::IVec,
}

/// How every body begins: its id is its first field (`record::encode_body`).
const BODY_HEAD: &[u8] = b"{\"id\":";

/// Prepares a publish of `request`. The id a new job takes is drawn by the writer, and
/// only for a key that is new: sled's id allocation blocks on a flush now and then, which
/// must happen in the writer, under its watchdog, never on a caller's thread.
pub(super) fn publish(
    request: TraceRequest,
    real_time: bool,
    now: DateTime<Utc>,
) -> StoreResult<PreparedPublish> {
    let index_key = keys::job_key(&request.key);
    let (job, _) = Job::plan_publish(None, request, real_time, now, || JobId(0));
    let body = record::encode_body(&job)?;
    let body_tail = body
        .strip_prefix(BODY_HEAD)
        .and_then(|rest| rest.strip_prefix(b"0"))
        .filter(|tail| tail.starts_with(b","))
        .ok_or_else(|| StoreError::Corrupt("a job body does not encode with its id first".into()))?
        .to_vec();
    Ok(PreparedPublish {
        index_key,
        schedule: record::encode_schedule(&job).into(),
        body_tail,
        job,
        real_time,
        now,
    })
}

impl PreparedPublish {
    /// The body of the new job `id`: the prepared body with the id written in. Copies
    /// bytes; encodes nothing.
    pub(super) fn body(&self, id: JobId) -> Vec<u8> {
        let id = id.0.to_string();
        let mut body = Vec::with_capacity(BODY_HEAD.len() + id.len() + self.body_tail.len());
        body.extend_from_slice(BODY_HEAD);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&self.body_tail);
        body
    }
}

/// A trace commit, prepared as if the job were as its claim left it: its lease ends and
/// nothing else changes ([`Job::merge_completion`] then returns `commit.job` as it is).
pub(super) struct PreparedCommit {
    /// The commit, its job's lease already ended.
    pub(super) commit: TraceCommit,
    /// The schedule record of `commit.job`.
    pub(super) schedule: sled::IVec,
    /// The body of `commit.job`, when its event says the result or error is new.
    pub(super) body: Option<sled::IVec>,
    /// Its event, when one is due.
    pub(super) event: Option<PreparedEvent>,
}

impl PreparedCommit {
    /// Whether the merge of the commit over `current` (the stored job) gives the commit's
    /// job unchanged, so that what was prepared from it is what the writer would encode.
    pub(super) fn holds_for(&self, current: &Job) -> bool {
        let next = &self.commit.job;
        current.force.requested == next.force.requested
            && current.lease_seq == next.lease_seq
            && current.request == next.request
    }
}

/// Prepares `commit` for the store whose event ids are `evt_<instance>_<seq>`.
pub(super) fn commit(mut commit: TraceCommit, instance: &str) -> StoreResult<PreparedCommit> {
    commit.job.lease = None;
    let event = commit
        .emit
        .map(|reason| PreparedEvent::new(&commit.job, reason, commit.now, instance))
        .transpose()?;
    Ok(PreparedCommit {
        schedule: record::encode_schedule(&commit.job).into(),
        body: match commit.emit {
            Some(_) => Some(record::encode_body(&commit.job)?.into()),
            None => None,
        },
        event,
        commit,
    })
}

/// A result event encoded once, as its history value and inside its outbox entry, with
/// room for its id: the writer numbers events (the results feed relies on the order in
/// which it applies them) and writes the number into the bytes.
pub(super) struct PreparedEvent {
    /// The event, its id a placeholder of the right width.
    event: ResultEvent,
    /// `event` as JSON: the history value.
    json: Vec<u8>,
    /// Where the id's 16 hex digits start in `json`.
    seq_at: usize,
    /// The outbox entry after its `seq`, up to the event: `,"queue":…,"event":`.
    entry_head: Vec<u8>,
    /// The outbox entry after the event.
    entry_tail: Vec<u8>,
}

/// What the writer stores for a numbered event.
pub(super) struct NumberedEvent {
    pub(super) event: ResultEvent,
    pub(super) history: Vec<u8>,
    pub(super) outbox: Vec<u8>,
}

/// The id of event `seq` of the store `instance`.
pub(super) fn event_id(instance: &str, seq: u64) -> String {
    format!("evt_{instance}_{seq:016x}")
}

impl PreparedEvent {
    fn new(job: &Job, reason: EmitReason, now: DateTime<Utc>, instance: &str) -> StoreResult<Self> {
        let mut event = ResultEvent::for_job(job, reason, now);
        event.id = event_id(instance, 0);
        let json = encode(&event)?;
        // `id` is the event's first field.
        let prefix = format!("{{\"id\":\"evt_{instance}_");
        if !json.starts_with(prefix.as_bytes()) {
            return Err(StoreError::Corrupt(
                "a result event does not encode with its id first".into(),
            ));
        }
        let mut entry_head = b",\"queue\":".to_vec();
        entry_head.extend_from_slice(&encode(&RESULTS_QUEUE)?);
        entry_head.extend_from_slice(b",\"jobId\":");
        entry_head.extend_from_slice(&encode(&job.id)?);
        entry_head.extend_from_slice(b",\"event\":");
        let mut entry_tail = b",\"attempts\":0,\"availableAt\":".to_vec();
        entry_tail.extend_from_slice(&encode(&now)?);
        entry_tail.extend_from_slice(b",\"lease\":null,\"dead\":false}");
        Ok(Self {
            event,
            json,
            seq_at: prefix.len(),
            entry_head,
            entry_tail,
        })
    }

    /// The event numbered `seq`: the id's digits written in, the outbox entry put
    /// together around it. Copies bytes; encodes nothing.
    pub(super) fn number(mut self, instance: &str, seq: u64) -> NumberedEvent {
        let digits = format!("{seq:016x}");
        self.json[self.seq_at..self.seq_at + 16].copy_from_slice(digits.as_bytes());
        self.event.id = event_id(instance, seq);
        let seq_text = seq.to_string();
        let mut outbox = Vec::with_capacity(
            8 + seq_text.len() + self.entry_head.len() + self.json.len() + self.entry_tail.len(),
        );
        outbox.extend_from_slice(b"{\"seq\":");
        outbox.extend_from_slice(seq_text.as_bytes());
        outbox.extend_from_slice(&self.entry_head);
        outbox.extend_from_slice(&self.json);
        outbox.extend_from_slice(&self.entry_tail);
        NumberedEvent {
            event: self.event,
            history: self.json,
            outbox,
        }
    }
}

/// The outbox entry of a new event on the results queue, as the writer would make it
/// without preparation.
pub(super) fn results_entry(
    seq: u64,
    job: JobId,
    event: ResultEvent,
    now: DateTime<Utc>,
) -> OutboxEntry {
    OutboxEntry {
        seq: crate::store::EventSeq(seq),
        queue: RESULTS_QUEUE.to_owned(),
        job_id: job,
        event,
        attempts: 0,
        available_at: now,
        lease: None,
        dead: false,
        last_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, Tenant, TraceKind, TraceResult};
    use crate::testing::{container, request, t0};

    fn traced_job() -> Job {
        let (mut job, _) = Job::plan_publish(
            None,
            request(
                &Tenant::new("o", "s"),
                TraceKind::Export,
                "p",
                &container(3),
            ),
            true,
            t0(),
            || JobId(1234),
        );
        job.last_result = Some(TraceResult::new(Status::GatedIn, t0()));
        job.last_traced_at = Some(t0());
        job
    }

    #[test]
    fn a_numbered_event_is_what_encoding_the_numbered_event_gives() {
        let job = traced_job();
        let now = t0() + chrono::Duration::seconds(3);
        let prepared = PreparedEvent::new(&job, EmitReason::FirstResult, now, "0a1b2c3d").unwrap();
        for seq in [0, 7, 0x1234_5678_9abc, u64::MAX] {
            let numbered = PreparedEvent {
                event: prepared.event.clone(),
                json: prepared.json.clone(),
                seq_at: prepared.seq_at,
                entry_head: prepared.entry_head.clone(),
                entry_tail: prepared.entry_tail.clone(),
            }
            .number("0a1b2c3d", seq);
            let mut event = ResultEvent::for_job(&job, EmitReason::FirstResult, now);
            event.id = event_id("0a1b2c3d", seq);
            assert_eq!(numbered.event, event);
            assert_eq!(numbered.history, serde_json::to_vec(&event).unwrap());
            let entry = results_entry(seq, job.id, event, now);
            assert_eq!(
                String::from_utf8(numbered.outbox).unwrap(),
                String::from_utf8(serde_json::to_vec(&entry).unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn a_prepared_body_with_its_id_is_what_encoding_the_job_gives() {
        let job = traced_job();
        let prepared = super::publish(job.request.clone(), true, t0()).unwrap();
        for id in [0, 7, 1234, u64::MAX] {
            let mut created = prepared.job.clone();
            created.id = JobId(id);
            assert_eq!(
                String::from_utf8(prepared.body(JobId(id))).unwrap(),
                String::from_utf8(record::encode_body(&created).unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn a_commit_holds_only_for_the_job_as_claimed() {
        let job = traced_job();
        let commit = TraceCommit {
            token: 1,
            job: job.clone(),
            emit: None,
            now: t0(),
        };
        let prepared = super::commit(commit, "0a1b2c3d").unwrap();
        assert!(prepared.holds_for(&job));
        let mut forced = job.clone();
        forced.force.requested += 1;
        assert!(!prepared.holds_for(&forced));
        let mut republished = job.clone();
        republished.request.origin = Some("elsewhere".into());
        assert!(!prepared.holds_for(&republished));
    }
}
