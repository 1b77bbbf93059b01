//! Filling provider requests: claimed jobs wait here until they are due, then leave in
//! requests of one provider and batch key, with the jobs of that key that come due soonest
//! within the provider's window riding along, and jobs that ask the same question sharing
//! one lookup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::JobId;
use crate::store::Claimed;

/// The jobs that may share one provider request: one provider, one batch key. A job whose
/// provider gives no batch key is grouped with the jobs asking the same question only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    pub(crate) provider: String,
    pub(crate) batch: String,
}

impl GroupKey {
    /// The group of a job of `provider` with `batch_key` and `lookup` key.
    pub(crate) fn new(provider: &str, batch_key: Option<String>, lookup: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            // A prefix keeps a provider's batch keys apart from lookup keys.
            batch: match batch_key {
                Some(key) => format!("batch:{key}"),
                None => format!("alone:{lookup}"),
            },
        }
    }
}

/// A claimed job waiting for its request.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub(crate) claimed: Claimed,
    pub(crate) group: GroupKey,
    /// The provider's [`Tracer::lookup_key`](crate::Tracer::lookup_key) for the job.
    pub(crate) lookup: String,
    /// The job's due time when it was claimed.
    pub(crate) due: DateTime<Utc>,
}

/// One lookup of a request: the question of `jobs[0]`, answered for every job in it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) lookup: String,
    pub(crate) jobs: Vec<Claimed>,
}

/// One provider request: up to the provider's batch size of slots.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) provider: String,
    pub(crate) slots: Vec<Slot>,
}

impl Request {
    /// Jobs in the request, over all slots.
    pub(crate) fn jobs(&self) -> usize {
        self.slots.iter().map(|s| s.jobs.len()).sum()
    }

    /// Every job of the request.
    pub(crate) fn into_jobs(self) -> impl Iterator<Item = Claimed> {
        self.slots.into_iter().flat_map(|s| s.jobs)
    }
}

type Entry = (DateTime<Utc>, JobId);

/// Claimed jobs by due time and by group.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    waiting: BTreeMap<Entry, Waiting>,
    groups: HashMap<GroupKey, BTreeSet<Entry>>,
}

impl Pool {
    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// The earliest due time of a waiting job.
    pub(crate) fn earliest(&self) -> Option<DateTime<Utc>> {
        self.waiting.keys().next().map(|(due, _)| *due)
    }

    /// Free slots in the requests the waiting jobs would make: for each group, its batch
    /// size less its jobs (at least none). A claim ahead larger than this only takes jobs
    /// that have to be handed back.
    pub(crate) fn room(&self, limits: impl Fn(&str) -> (usize, Duration)) -> usize {
        self.groups
            .iter()
            .map(|(group, members)| {
                let (size, _) = limits(&group.provider);
                size.max(1).saturating_sub(members.len())
            })
            .sum()
    }

    /// Adds a claimed job.
    pub(crate) fn insert(&mut self, waiting: Waiting) {
        let entry = (waiting.due, waiting.claimed.job.id);
        self.groups
            .entry(waiting.group.clone())
            .or_default()
            .insert(entry);
        self.waiting.insert(entry, waiting);
    }

    /// The request of the earliest job due at `now`, if one is: that job, then the jobs
    /// of its group in due order that are due by `now + window(provider)`, each in the
    /// slot of its question; a new question takes a slot while fewer than
    /// `size(provider)` are taken, a repeated one always joins its slot.
    pub(crate) fn take_due(
        &mut self,
        now: DateTime<Utc>,
        limits: impl Fn(&str) -> (usize, Duration),
    ) -> Option<Request> {
        let (&first, _) = self.waiting.iter().next().filter(|(k, _)| k.0 <= now)?;
        let group = self.waiting.get(&first)?.group.clone();
        let (size, window) = limits(&group.provider);
        let horizon = crate::clock::after_std(now, window).max(now);
        let size = size.max(1);
        let members: Vec<Entry> = self
            .groups
            .get(&group)
            .map(|set| set.iter().take_while(|e| e.0 <= horizon).copied().collect())
            .unwrap_or_default();
        let mut slots: Vec<Slot> = Vec::new();
        let mut taken = Vec::new();
        for entry in members {
            let Some(waiting) = self.waiting.get(&entry) else {
                continue;
            };
            match slots.iter().position(|s| s.lookup == waiting.lookup) {
                Some(_) => taken.push(entry),
                None if slots.len() < size => {
                    slots.push(Slot {
                        lookup: waiting.lookup.clone(),
                        jobs: Vec::new(),
                    });
                    taken.push(entry);
                }
                None => {}
            }
        }
        for entry in taken {
            if let Some(waiting) = self.remove(entry) {
                if let Some(slot) = slots.iter_mut().find(|s| s.lookup == waiting.lookup) {
                    slot.jobs.push(waiting.claimed);
                }
            }
        }
        Some(Request {
            provider: group.provider,
            slots,
        })
    }

    /// Empties the pool: the jobs that were waiting, to hand back.
    pub(crate) fn drain(&mut self) -> Vec<Waiting> {
        self.groups.clear();
        std::mem::take(&mut self.waiting).into_values().collect()
    }

    fn remove(&mut self, entry: Entry) -> Option<Waiting> {
        let waiting = self.waiting.remove(&entry)?;
        if let Some(set) = self.groups.get_mut(&waiting.group) {
            set.remove(&entry);
            if set.is_empty() {
                self.groups.remove(&waiting.group);
            }
        }
        Some(waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{container, request, t0};
    use crate::{Job, Tenant, TraceKind};

    fn waiting(id: u64, due_min: i64, batch: Option<&str>, lookup: &str) -> Waiting {
        let tenant = Tenant::new("org", "svc");
        let request = request(&tenant, TraceKind::Export, "p", &container(id as u32));
        let (mut job, _) = Job::plan_publish(None, request, true, t0(), || JobId(id));
        let due = t0() + chrono::Duration::minutes(due_min);
        job.due_at = Some(due);
        let token = job.claim(due + chrono::Duration::minutes(5));
        Waiting {
            claimed: Claimed { job, token },
            group: GroupKey::new("p", batch.map(str::to_owned), lookup),
            lookup: lookup.to_owned(),
            due,
        }
    }

    fn ids(request: &Request) -> Vec<Vec<u64>> {
        request
            .slots
            .iter()
            .map(|s| s.jobs.iter().map(|c| c.job.id.0).collect())
            .collect()
    }

    fn at(min: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::minutes(min)
    }

    #[test]
    fn a_due_job_takes_the_soonest_of_its_terminal_within_the_window() {
        let mut pool = Pool::default();
        pool.insert(waiting(1, 0, Some("MICT"), "a"));
        pool.insert(waiting(2, 5, Some("MICT"), "b"));
        pool.insert(waiting(3, 9, Some("SBITC"), "c"));
        pool.insert(waiting(4, 12, Some("MICT"), "d"));
        pool.insert(waiting(5, 30, Some("MICT"), "e"));
        let limits = |_: &str| (3, Duration::from_secs(15 * 60));
        assert!(
            pool.take_due(at(-1), limits).is_none(),
            "nothing is due yet"
        );
        let request = pool.take_due(at(0), limits).unwrap();
        assert_eq!(ids(&request), [vec![1], vec![2], vec![4]]);
        // Job 3 is of another terminal, job 5 beyond the window: both wait.
        assert_eq!(pool.len(), 2);
        assert!(pool.take_due(at(0), limits).is_none());
        assert_eq!(pool.earliest(), Some(at(9)));
    }

    #[test]
    fn the_same_question_shares_a_slot_even_when_the_request_is_full() {
        let mut pool = Pool::default();
        pool.insert(waiting(1, 0, Some("T"), "x"));
        pool.insert(waiting(2, 1, Some("T"), "y"));
        pool.insert(waiting(3, 2, Some("T"), "z"));
        pool.insert(waiting(4, 3, Some("T"), "x"));
        let request = pool
            .take_due(at(0), |_| (2, Duration::from_secs(600)))
            .unwrap();
        assert_eq!(ids(&request), [vec![1, 4], vec![2]]);
        assert_eq!(request.jobs(), 3);
        assert_eq!(pool.len(), 1, "z had no room");
    }

    #[test]
    fn without_a_batch_key_only_the_same_question_shares() {
        let mut pool = Pool::default();
        pool.insert(waiting(1, 0, None, "x"));
        pool.insert(waiting(2, 0, None, "y"));
        pool.insert(waiting(3, 0, None, "x"));
        let limits = |_: &str| (50, Duration::ZERO);
        let first = pool.take_due(at(0), limits).unwrap();
        assert_eq!(ids(&first), [vec![1, 3]]);
        let second = pool.take_due(at(0), limits).unwrap();
        assert_eq!(ids(&second), [vec![2]]);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn a_zero_window_takes_only_due_jobs() {
        let mut pool = Pool::default();
        pool.insert(waiting(1, 0, Some("T"), "a"));
        pool.insert(waiting(2, 1, Some("T"), "b"));
        let request = pool.take_due(at(0), |_| (10, Duration::ZERO)).unwrap();
        assert_eq!(ids(&request), [vec![1]]);
        assert_eq!(pool.drain().len(), 1);
        assert!(pool.len() == 0 && pool.earliest().is_none());
    }
}
