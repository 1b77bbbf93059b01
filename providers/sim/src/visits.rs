//! Vessel-visit answers reused for the other boxes of a visit for a while (engine clock),
//! as a real tracer would: one visit lookup serves every box on the visit.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::terminal::VisitState;

/// (terminal, visit id) → when asked, and the answer.
type Entries = HashMap<(String, String), (DateTime<Utc>, Option<VisitState>)>;

/// Above this many entries, stale ones are dropped when a new visit is asked about.
const PRUNE_ABOVE: usize = 4096;

/// Visit answers, fresh for a TTL.
#[derive(Debug)]
pub(crate) struct Answers {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl Answers {
    /// Answers fresh for `ttl` (zero: never reused).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer about `id` at `terminal` at `now`: a fresh one from before, else `ask`'s.
    pub(crate) fn get_or_ask(
        &self,
        terminal: &str,
        id: &str,
        now: DateTime<Utc>,
        ask: impl FnOnce() -> Option<VisitState>,
    ) -> Option<VisitState> {
        if self.ttl.is_zero() {
            return ask();
        }
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX);
        let key = (terminal.to_owned(), id.to_owned());
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((asked, answer)) = entries.get(&key) {
            // A clock that went back (a replayed run) makes an answer from the future stale.
            if *asked <= now && now - *asked < ttl {
                return answer.clone();
            }
        }
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, (asked, _)| *asked <= now && now - *asked < ttl);
        }
        let answer = ask();
        entries.insert(key, (now, answer.clone()));
        answer
    }
}
